// Gate (src/worker/gate.ts): the request gate, driven directly with real HTTP requests against a
// real loopback server whose 'request' events go through it (as http-gate.ts puts it in front of
// every server of a worker): requests queue while it is closed and run in arrival order when it
// opens; a drain waits for what is in flight (responses, gate.run tasks, not released ones) and
// gives up after its timeout naming them; queued requests can be refused with a 503.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { HotswapError } from '../../src/shared/errors.js'
import { Gate, type Emit } from '../../src/worker/gate.js'
import { waitUntil } from '../support/index.js'

interface Reply { status: number, headers: http.IncomingHttpHeaders, body: string }

interface Gated {
  gate: Gate
  /** URLs in the order the server received them (before the gate). */
  arrived: string[]
  /** URLs in the order the app's handler ran them (after the gate). */
  ran: string[]
  /** Responses of /hold/* requests, left open until the test ends them. */
  held: Map<string, http.ServerResponse>
  /** URLs whose server-side response has closed (ended, or its client went away). */
  closed: Set<string>
  /** Every server-side response, by URL, queued or not. */
  responses: Map<string, http.ServerResponse>
  get: (path: string, agent?: http.Agent) => { reply: Promise<Reply>, req: http.ClientRequest }
}

async function gated (t: { after: (fn: () => Promise<void> | void) => void }): Promise<Gated> {
  const gate = new Gate()
  const arrived: string[] = []
  const ran: string[] = []
  const held = new Map<string, http.ServerResponse>()
  const closed = new Set<string>()
  const responses = new Map<string, http.ServerResponse>()
  const server = http.createServer((req, res) => {
    const url = req.url ?? ''
    ran.push(url)
    if (url.startsWith('/hold/')) held.set(url, res)
    else res.end(`ran ${url}`)
  })
  // The gate in front of this server only, as http-gate.ts does for every server's prototype.
  const original = server.emit as unknown as Emit & ((event: string, ...args: unknown[]) => boolean)
  server.emit = function (this: http.Server, event: string, ...args: unknown[]): boolean {
    if (event !== 'request') return original.apply(this, [event, ...args] as never)
    const [req, res] = args as [http.IncomingMessage, http.ServerResponse]
    arrived.push(req.url ?? '')
    responses.set(req.url ?? '', res)
    res.on('close', () => closed.add(req.url ?? ''))
    gate.admit(this, original, req, res)
    return true
  } as typeof server.emit
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  t.after(async () => {
    for (const res of held.values()) res.destroy()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const get = (path: string, agent?: http.Agent): { reply: Promise<Reply>, req: http.ClientRequest } => {
    let req!: http.ClientRequest
    const reply = new Promise<Reply>((resolve, reject) => {
      req = http.get({ host: '127.0.0.1', port, path, agent: agent ?? false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => { body += c })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
        res.on('error', reject)
      })
      req.on('error', reject)
    })
    return { reply, req }
  }
  return { gate, arrived, ran, held, closed, responses, get }
}

/** Sends `paths` one after the other, each once the server has it: the arrival order is theirs. */
async function queueInOrder (g: Gated, paths: string[]): Promise<Array<Promise<Reply>>> {
  const replies: Array<Promise<Reply>> = []
  for (const p of paths) {
    replies.push(g.get(p).reply)
    await waitUntil(`${p} to reach the server`, () => g.arrived.includes(p))
  }
  return replies
}

/** Queues a request whose client goes away while it waits (the server sees its response close). */
async function queueGone (g: Gated, path: string): Promise<void> {
  const gone = g.get(path)
  gone.reply.catch(() => {})
  await waitUntil(`${path} to reach the server`, () => g.arrived.includes(path))
  gone.req.destroy()
  await waitUntil(`the server to see ${path} close`, () => g.closed.has(path))
}

test('open: a request runs at once and counts as in flight until its response closes', async (t) => {
  const g = await gated(t)
  assert.equal(g.gate.isOpen, true)
  const reply = g.get('/hold/1').reply
  await waitUntil('the request to run', () => g.held.has('/hold/1'))
  assert.equal(g.gate.inFlight, 1)
  assert.equal(g.gate.served, 1)
  const [entry] = g.gate.inFlightList()
  assert.equal(entry?.method, 'GET')
  assert.equal(entry?.url, '/hold/1')
  assert.ok((entry?.ageMs ?? -1) >= 0)
  g.held.get('/hold/1')?.end('done')
  assert.equal((await reply).body, 'done')
  await waitUntil('the response to close', () => g.gate.inFlight === 0)
  await g.gate.drain(10_000) // Nothing in flight: at once.
})

test('closed: requests queue without running; open() runs them in arrival order and says how many', async (t) => {
  const g = await gated(t)
  g.gate.close()
  const replies = await queueInOrder(g, ['/a', '/b', '/c'])
  assert.deepEqual(g.ran, [])
  assert.equal(g.gate.queued, 3)
  assert.equal(g.gate.queuedTotal, 3)
  assert.equal(g.gate.inFlight, 0, 'a queued request is not in flight: a drain does not wait for it')
  await g.gate.drain(10_000)

  assert.equal(g.gate.open(), 3)
  assert.deepEqual(g.ran, ['/a', '/b', '/c'], 'run synchronously by open(), oldest first')
  assert.equal(g.gate.queued, 0)
  assert.equal(g.gate.served, 3)
  assert.deepEqual((await Promise.all(replies)).map((r) => r.body), ['ran /a', 'ran /b', 'ran /c'])
  assert.equal(g.gate.open(), 0, 'nothing left to release')
})

test('a drain waits for every response and gate.run task in flight, and resolves when the last one ends', async (t) => {
  const g = await gated(t)
  const reply = g.get('/hold/1').reply
  await waitUntil('the request to run', () => g.held.has('/hold/1'))
  let finishTask!: () => void
  const task = g.gate.run('nightly job', () => new Promise<string>((resolve) => { finishTask = () => resolve('job done') }))
  assert.equal(g.gate.inFlight, 2)
  g.gate.close()
  const queued = await queueInOrder(g, ['/queued'])
  let drained = false
  const drain = g.gate.drain(10_000).then(() => { drained = true })

  g.held.get('/hold/1')?.end('done')
  await reply
  await waitUntil('the response to close', () => g.gate.inFlight === 1)
  assert.equal(drained, false, 'the task still runs')
  assert.deepEqual(g.gate.inFlightList().map((r) => `${r.method} ${r.url}`), ['TASK nightly job'])
  finishTask()
  assert.equal(await task, 'job done')
  await drain
  assert.equal(drained, true)
  assert.deepEqual(g.ran, ['/hold/1'], 'the queued request waits for open()')
  g.gate.open()
  assert.equal((await queued[0])?.body, 'ran /queued')
})

test('a drain gives up after its timeout with HOTSWAP_ERR_DRAIN_TIMEOUT, naming each request and task in flight', async (t) => {
  const g = await gated(t)
  g.get('/hold/slow').reply.catch(() => {})
  await waitUntil('the request to run', () => g.held.has('/hold/slow'))
  let finishTask!: () => void
  const task = g.gate.run('nightly job', () => new Promise<void>((resolve) => { finishTask = resolve }))
  await assert.rejects(g.gate.drain(50), (err: unknown) => {
    assert.ok(err instanceof HotswapError)
    assert.equal(err.code, 'HOTSWAP_ERR_DRAIN_TIMEOUT')
    assert.match(err.message, /still had 2 request\(s\) in flight after 50 ms$/)
    assert.equal(err.details.length, 3)
    assert.match(err.details[0] as string, /^GET \/hold\/slow \(running for \d+ ms\)$/)
    assert.match(err.details[1] as string, /^TASK nightly job \(running for \d+ ms\)$/)
    assert.match(err.details[2] as string, /can call release\(res\) from hotswap/)
    return true
  })
  // The given-up drain is forgotten: what ends later resolves only a new drain.
  const again = g.gate.drain(10_000)
  finishTask()
  await task
  g.held.get('/hold/slow')?.end()
  await again
  assert.equal(g.gate.inFlight, 0)
})

test('release(res) stops counting a response, so a waiting drain resolves; the response stays open', async (t) => {
  const g = await gated(t)
  const reply = g.get('/hold/events').reply
  await waitUntil('the request to run', () => g.held.has('/hold/events'))
  const res = g.held.get('/hold/events') as http.ServerResponse
  res.write('first\n')
  const drain = g.gate.drain(10_000)
  assert.equal(g.gate.release(res), true)
  await drain
  assert.equal(g.gate.inFlight, 0)
  assert.equal(g.gate.release(res), false, 'released already')
  assert.deepEqual(g.gate.inFlightList(), [])
  res.end('last\n')
  assert.equal((await reply).body, 'first\nlast\n')

  g.gate.close()
  const [queued] = await queueInOrder(g, ['/queued'])
  assert.equal(g.gate.release(g.responses.get('/queued') as http.ServerResponse), false, 'a queued response is not in flight')
  g.gate.open()
  assert.equal((await queued)?.body, 'ran /queued', 'and runs as any other')
  await waitUntil('its response to close', () => g.gate.inFlight === 0)
})

test('gate.run waits while the gate is closed and runs when it opens; a task that throws stops counting', async (t) => {
  const g = await gated(t)
  g.gate.close()
  let started = false
  const task = g.gate.run('job', () => { started = true; return 42 })
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(started, false)
  assert.equal(g.gate.inFlight, 0, 'a waiting task is not in flight')
  assert.equal(g.gate.open(), 0, 'no request was queued')
  assert.equal(await task, 42)
  assert.equal(started, true)

  await assert.rejects(g.gate.run('failing job', () => { throw new Error('job failed') }), /job failed/)
  await assert.rejects(g.gate.run('failing async job', async () => { throw new Error('async job failed') }), /async job failed/)
  assert.equal(g.gate.inFlight, 0)
  await g.gate.drain(10_000)
})

test('a queued request whose client went away is not run by open(), nor counted', async (t) => {
  const g = await gated(t)
  g.gate.close()
  await queueGone(g, '/gone')
  const [kept] = await queueInOrder(g, ['/kept'])
  assert.equal(g.gate.queued, 2)
  assert.equal(g.gate.open(), 1)
  assert.deepEqual(g.ran, ['/kept'])
  assert.equal((await kept)?.body, 'ran /kept')
})

test('refuseQueued answers each queued request with the status, Retry-After and Connection: close, without running it, then opens', async (t) => {
  const g = await gated(t)
  g.gate.close()
  await queueGone(g, '/gone')
  const replies = await queueInOrder(g, ['/x', '/y'])

  assert.equal(g.gate.refuseQueued(503, 'the database could not be reopened; retry'), 2)
  assert.equal(g.gate.isOpen, true)
  assert.equal(g.gate.queued, 0)
  for (const r of await Promise.all(replies)) {
    assert.equal(r.status, 503)
    assert.equal(r.headers['retry-after'], '1')
    assert.equal(r.headers.connection, 'close')
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8')
    assert.equal(r.body, 'the database could not be reopened; retry\n')
  }
  assert.deepEqual(g.ran, [], 'none of them ran')
  assert.equal(g.gate.served, 0)
  assert.equal((await g.get('/after').reply).body, 'ran /after', 'the gate is open again')
})

test('closeConnectionsAfterResponse: the responses in flight and every later one ask the client to close its keep-alive connection', async (t) => {
  const g = await gated(t)
  const agent = new http.Agent({ keepAlive: true })
  t.after(() => agent.destroy())
  assert.equal((await g.get('/before', agent).reply).headers.connection, 'keep-alive')
  const inFlight = g.get('/hold/1', agent).reply
  await waitUntil('the request to run', () => g.held.has('/hold/1'))

  g.gate.closeConnectionsAfterResponse()
  g.held.get('/hold/1')?.end('done')
  assert.equal((await inFlight).headers.connection, 'close')
  assert.equal((await g.get('/after', agent).reply).headers.connection, 'close')
  g.gate.close()
  const [queued] = await queueInOrder(g, ['/queued'])
  g.gate.open()
  assert.equal((await queued)?.headers.connection, 'close', 'a queued one too')
})
