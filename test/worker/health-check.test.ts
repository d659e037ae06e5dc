// src/worker/health-check.ts, in process: the watchdog's GET is handed to the app's own server
// (no port: node:cluster shares it among the workers) over a connection of its own, HTTP and
// HTTPS alike, and reports the status the app answered, or why there is none.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import https from 'node:https'
import { readFileSync } from 'node:fs'
import type net from 'node:net'
import { healthCheck } from '../../src/worker/health-check.js'
import { getRuntime } from '../../src/worker/runtime.js'
import { makeCert, tempDir } from '../support/index.js'

const t = tempDir()
after(() => t.cleanup())

/** `server` listening on loopback and in the runtime's set (as http-gate.ts records it), until it is closed. */
async function listening<S extends net.Server> (server: S): Promise<S> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  getRuntime().servers.add(server)
  server.once('close', () => getRuntime().servers.delete(server))
  return server
}

const app = (req: http.IncomingMessage, res: http.ServerResponse): void => {
  if (req.url === '/healthz') res.writeHead(200).end('ok')
  else if (req.url === '/sick') res.writeHead(503).end('sick')
  else if (req.url === '/drop') req.socket.destroy()
  else if (req.url === '/never') { /* no answer */ } else res.writeHead(404).end()
}

test('no server in the worker: no status, and why', async () => {
  assert.deepEqual(await healthCheck('/healthz', 500), { status: null, error: 'the app has no HTTP server listening in this worker' })
})

test('HTTP: the app\'s status; a dropped connection and no answer are failures with a reason', async () => {
  const server = await listening(http.createServer(app))
  try {
    assert.deepEqual(await healthCheck('/healthz', 2000), { status: 200 })
    assert.deepEqual(await healthCheck('/sick', 2000), { status: 503 })
    assert.deepEqual(await healthCheck('/drop', 2000), { status: null, error: 'the app closed the connection without a response' })
    assert.deepEqual(await healthCheck('/never', 300), { status: null, error: 'no response within 300 ms' })
  } finally {
    server.closeAllConnections()
    server.close()
  }
})

test('HTTPS: the same, through TLS with the app\'s own certificate', async () => {
  const { keyPath, certPath } = makeCert(t.dir)
  const server = await listening(https.createServer({ key: readFileSync(keyPath), cert: readFileSync(certPath) }, app))
  try {
    assert.deepEqual(await healthCheck('/healthz', 5000), { status: 200 })
    assert.deepEqual(await healthCheck('/sick', 5000), { status: 503 })
  } finally {
    server.closeAllConnections()
    server.close()
  }
})
