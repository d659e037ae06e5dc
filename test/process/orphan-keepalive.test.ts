// A request queued by a pause on a keep-alive connection, released by a worker that is stopping
// (here: orphaned by a SIGKILLed primary), must be answered with `Connection: close`. Answered
// keep-alive, its client reuses the connection for its next request, and the stopping worker
// closes "idle" connections once no request has started for a while: a client slow to send
// that next request has it cut with ECONNRESET (the primary-kill suite's flake, under load).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { BIN, cli, kill, seed, startServe, tempDir, waitGone, waitWorkers } from '../support/index.js'

test('a request queued by a pause, released by a worker whose primary died, is answered Connection: close', async (tt) => {
  const t = tempDir()
  const live = join(t.dir, 'live.sqlite3')
  seed(live, { label: 'v1' })
  const served = await startServe({ dir: t.dir, dbs: [live], workers: 1 })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  let workers: number[] = []
  try {
    workers = (await waitWorkers(served.socket, 1)).map((w) => w.pid)
    const next = join(t.dir, 'v2.sqlite3')
    seed(next, { label: 'v2' })
    const staged = await cli(['cp', next, 'live', '--stage', '--socket', served.socket], { cwd: t.dir })
    assert.equal(staged.code, 0, staged.stderr.toString())
    // A first request opens the keep-alive connection, answered keep-alive as usual.
    const first = await get(served.port, agent)
    assert.equal(first.status, 200)
    assert.notEqual(first.connection, 'close', 'an ordinary response keeps the connection alive')
    // Hold every worker paused, queue a request on that connection, then kill the primary.
    const holder = spawn(process.execPath, [BIN, 'commit', staged.stdout.toString().trim(), '--hold', '20000', '--socket', served.socket], { cwd: t.dir, stdio: ['pipe', 'pipe', 'ignore'] })
    await new Promise<void>((resolve, reject) => {
      let out = ''
      holder.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('PAUSED\n')) resolve() })
      holder.on('close', () => reject(new Error(`the held commit ended before PAUSED: ${out}`)))
    })
    const queued = get(served.port, agent)
    await new Promise((resolve) => setTimeout(resolve, 200))
    kill(served.pid)
    const r = await queued
    tt.diagnostic(`queued request: HTTP ${r.status}, label ${r.label}, connection: ${r.connection ?? '(none)'}`)
    assert.equal(r.status, 200, 'the orphaned worker answered the queued request')
    assert.equal(r.label, 'v1', 'on the old file: nothing was installed')
    assert.equal(r.connection, 'close', 'the stopping worker asks the client not to reuse the connection')
    holder.kill('SIGKILL')
    assert.deepEqual(await waitGone(workers), [], 'the orphaned worker exited by itself')
  } finally {
    agent.destroy()
    for (const pid of workers) kill(pid)
    kill(served.pid)
    await served.stop()
    t.cleanup()
  }
})

async function get (port: number, agent: http.Agent): Promise<{ status: number, label: string, connection: string | undefined }> {
  return await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/label', agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, label: String((JSON.parse(body) as { label: unknown }).label), connection: res.headers.connection }))
    }).on('error', reject)
  })
}
