// src/primary/control/connection.ts: one connection's states (awaiting-command → running →
// finished, closed from any), driven over a real Unix socket with no serve behind it: the
// context is a stub, and only commands that need none of it (version, help, reload with a
// stubbed reload) are run.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { join } from 'node:path'
import winston from 'winston'
import { Connection, type ConnectionState } from '../../../src/primary/control/connection.js'
import type { ServerContext } from '../../../src/primary/control/session.js'
import { Channel, encodeFrame, FrameDecoder, PROTOCOL_VERSION, type ChannelNumber } from '../../../src/shared/frames.js'
import { HotswapError } from '../../../src/shared/errors.js'
import { VERSION } from '../../../src/shared/version.js'
import { tempDir } from '../../support/index.js'

interface Reply { stdout: string, stderr: string, controls: unknown[] }

interface Rig {
  /** The server side of the next accepted connection. */
  next: () => Promise<Connection>
  /** Connects, sends `frames`, and reads until the server closes. */
  exchange: (frames: Buffer[]) => Promise<Reply>
  /** Connects and sends `frames`; the reply is read once `read()` is called. */
  open: (frames: Buffer[]) => { socket: net.Socket, read: () => Promise<Reply> }
  closing: { value: boolean }
  reload: { release: () => void }
  close: () => Promise<void>
}

async function rig (): Promise<Rig> {
  const t = tempDir()
  const path = join(t.dir, 'control.sock')
  const closing = { value: false }
  let release = (): void => {}
  const context = {
    databases: [{ name: 'app', path: '/srv/db/app.sqlite3' }],
    // A reload that waits until the test releases it: the connection stays in `running`.
    reload: async () => await new Promise<{ replaced: number, ms: number }>((resolve) => {
      release = () => resolve({ replaced: 2, ms: 12 })
    }),
  } as unknown as ServerContext
  const accepted: Connection[] = []
  const waiting: Array<(c: Connection) => void> = []
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const c = new Connection(socket, {
      context,
      logger: winston.createLogger({ silent: true }),
      idleTimeoutMs: 60_000,
      cwd: t.dir,
      isClosing: () => closing.value,
      onClose: () => {},
    })
    const w = waiting.shift()
    if (w !== undefined) w(c)
    else accepted.push(c)
  })
  await new Promise<void>((resolve) => server.listen(path, resolve))
  const open = (frames: Buffer[]): { socket: net.Socket, read: () => Promise<Reply> } => {
    const socket = net.connect(path)
    const decoder = new FrameDecoder()
    const reply: Reply = { stdout: '', stderr: '', controls: [] }
    const done = new Promise<Reply>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        for (const f of decoder.push(chunk)) {
          if (f.channel === Channel.stdout) reply.stdout += f.payload.toString('utf8')
          else if (f.channel === Channel.stderr) reply.stderr += f.payload.toString('utf8')
          else if (f.channel === Channel.control) reply.controls.push(JSON.parse(f.payload.toString('utf8')))
        }
      })
      socket.on('error', reject)
      socket.on('close', () => resolve(reply))
    })
    socket.on('connect', () => { for (const f of frames) socket.write(f) })
    return { socket, read: async () => await done }
  }
  return {
    next: async () => accepted.shift() ?? await new Promise<Connection>((resolve) => waiting.push(resolve)),
    open,
    exchange: async (frames) => {
      const { socket, read } = open(frames)
      const reply = await read()
      socket.destroy()
      return reply
    },
    closing,
    reload: { release: () => release() },
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      t.cleanup()
    },
  }
}

/** A first frame; `gem` leaves the protocol out, as the gem's client does. */
function control (args: unknown, client: 'ours' | 'gem' = 'ours'): Buffer {
  return encodeFrame(Channel.control, JSON.stringify(client === 'gem' ? { args, tty: false } : { args, tty: false, protocol: PROTOCOL_VERSION }))
}

function frame (channel: ChannelNumber, payload: string): Buffer {
  return encodeFrame(channel, payload)
}

async function settled (c: Connection, want: ConnectionState): Promise<void> {
  for (let i = 0; i < 500 && c.state !== want; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.equal(c.state, want)
}

test('a command runs once: awaiting-command → running → finished → closed, one exit frame', async () => {
  const r = await rig()
  try {
    const reply = await r.exchange([control(['version'])])
    assert.deepEqual(reply, { stdout: `hotswap ${VERSION}\n`, stderr: '', controls: [{ exit: 0 }] })
    await settled(await r.next(), 'closed')
  } finally {
    await r.close()
  }
})

test('refusals before a command runs: coded for our client, the gem\'s words for the gem\'s, exit 2', async () => {
  const r = await rig()
  try {
    const unknown = 'unknown command "constructor" (commands: abort, commit, cp, help, history, lease, logs, monit, reload, scale, startup, status, stop, undo, version)'
    assert.deepEqual(await r.exchange([control(['constructor'])]),
      { stdout: '', stderr: `ERROR [HOTSWAP_ERR_USAGE] ${unknown}\n`, controls: [{ exit: 2, error: unknown, code: 'HOTSWAP_ERR_USAGE' }] })
    assert.deepEqual(await r.exchange([control(['constructor'], 'gem')]),
      { stdout: '', stderr: 'Could not find command "constructor".\n', controls: [{ exit: 2, error: unknown, code: 'HOTSWAP_ERR_USAGE' }] })
    const notControl = 'the first frame must be a control frame (got channel 0)'
    assert.deepEqual(await r.exchange([frame(Channel.stdin, 'x')]),
      { stdout: '', stderr: `ERROR: ${notControl}\n`, controls: [{ exit: 2, error: notControl, code: 'HOTSWAP_ERR_PROTOCOL' }] })
    r.closing.value = true
    assert.deepEqual(await r.exchange([control(['version'])]),
      { stdout: '', stderr: 'ERROR [HOTSWAP_ERR_SHUTTING_DOWN] the server is shutting down\n', controls: [{ exit: 1, error: 'the server is shutting down', code: 'HOTSWAP_ERR_SHUTTING_DOWN' }] })
    for (let i = 0; i < 4; i++) await settled(await r.next(), 'closed')
  } finally {
    await r.close()
  }
})

test('refused while running: one error reply, and the command\'s own end later sends nothing more', async () => {
  const r = await rig()
  try {
    const { read } = r.open([control(['reload'])])
    const c = await r.next()
    await settled(c, 'running')
    c.refuse(new HotswapError('HOTSWAP_ERR_SHUTTING_DOWN', 'the server is shutting down'))
    assert.equal(c.state, 'finished')
    c.refuse(new HotswapError('HOTSWAP_ERR_INTERNAL', 'a second reply'))
    r.reload.release()
    const reply = await read()
    assert.deepEqual(reply, {
      stdout: '',
      stderr: 'ERROR [HOTSWAP_ERR_SHUTTING_DOWN] the server is shutting down\n',
      controls: [{ exit: 1, error: 'the server is shutting down', code: 'HOTSWAP_ERR_SHUTTING_DOWN' }],
    })
    await settled(c, 'closed')
  } finally {
    await r.close()
  }
})

test('a running command finishes with its exit status; interrupt() closes a connection with no command yet', async () => {
  const r = await rig()
  try {
    const running = r.open([control(['reload', '--parallel', '2'])])
    const c = await r.next()
    await settled(c, 'running')
    r.reload.release()
    assert.deepEqual(await running.read(), { stdout: 'reloaded 2 worker(s) in 12 ms\n', stderr: '', controls: [{ exit: 0 }] })
    running.socket.destroy()
    await settled(c, 'closed')

    const idle = r.open([])
    const d = await r.next()
    assert.equal(d.state, 'awaiting-command')
    d.interrupt()
    assert.deepEqual(await idle.read(), { stdout: '', stderr: '', controls: [] })
    await settled(d, 'closed')
    await d.closed
  } finally {
    await r.close()
  }
})
