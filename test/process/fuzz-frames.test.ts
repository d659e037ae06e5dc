// Fuzzing the control socket: the frame decoder and the control JSON as
// properties (fast-check), then a live server fed thousands of random and mutated frame streams
// over real socket connections.
//
// Live run: HOTSWAP_FUZZ_CASES connections (default 4,000 in CI; the long run used 100,000),
// seeded by HOTSWAP_FUZZ_SEED (printed, so a failure can be replayed). Every stream is classified
// by a reference decoder written here, independent of src/. Each connection must end (the one
// exception: a first frame left incomplete on a connection the client keeps open, which the
// server holds for its 10 s first-frame timeout); a first frame the server can read whole must
// be answered with a well-formed control frame (exit 2 with HOTSWAP_ERR_PROTOCOL for a bad one,
// HOTSWAP_ERR_USAGE for an unknown command); no answer may be malformed; the server never
// exits; and afterwards status, a push and HTTP (under load all along) still work.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { ErrorCodes } from '../../src/shared/errors.js'
import { FrameDecoder, FrameError, parseControlRequest, type Frame } from '../../src/shared/frames.js'
import { exchange, type Exchange, fixture, frame, gemStream, integrity, isAlive, labelOf, prng, push, report, seed, type Served, serveLiveForFile, status, tempDir, TrackedLoad, waitNoLeftovers } from '../support/index.js'
import { COMMANDS, FLAGS, HOSTILE_WORDS, PROTOTYPE_NAMES, WRONG_ARGS } from '../hostile-words.js'

// ---------------------------------------------------------------------------------------------
// a reference decoder: the gem's framing, read in one go

const MAX_CONTROL = 1024 * 1024
const MAX_DATA = 64 * 1024 * 1024

interface Model {
  frames: Array<{ channel: number, payload: Buffer }>
  /** A header the decoder must reject: an unknown channel, or a length over the limit. */
  error: 'channel' | 'limit' | null
  /** Bytes after the last whole frame (a frame still incomplete). */
  rest: number
}

function model (bytes: Buffer, maxControl = MAX_CONTROL, maxData = MAX_DATA): Model {
  const frames: Model['frames'] = []
  let off = 0
  while (bytes.length - off >= 5) {
    const channel = bytes[off] as number
    const length = bytes.readUInt32BE(off + 1)
    if (channel > 3) return { frames, error: 'channel', rest: bytes.length - off }
    if (length > (channel === 3 ? maxControl : maxData)) return { frames, error: 'limit', rest: bytes.length - off }
    if (bytes.length - off - 5 < length) break
    frames.push({ channel, payload: bytes.subarray(off + 5, off + 5 + length) })
    off += 5 + length
  }
  return { frames, error: null, rest: bytes.length - off }
}

function chunked (bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = []
  let at = 0
  for (const s of sizes) {
    if (at >= bytes.length) break
    out.push(bytes.subarray(at, at + s))
    at += s
  }
  if (at < bytes.length) out.push(bytes.subarray(at))
  return out
}

/** Streams that look like frames: channels 0-5, lengths right, off by a little, or huge. */
const frameish = fc.array(fc.record({
  channel: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 4, max: 255 }) }),
  payload: fc.uint8Array({ maxLength: 120 }),
  skew: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -3, max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(0xffffffff, 0x7fffffff, 1024 * 1024 + 1, 64 * 1024 * 1024 + 1) }),
}), { maxLength: 12 }).map((frames) => Buffer.concat(frames.map((f) => {
  const header = Buffer.alloc(5)
  header.writeUInt8(f.channel, 0)
  const length = f.skew > 1000 ? f.skew : Math.max(0, f.payload.length + f.skew)
  header.writeUInt32BE(length >>> 0, 1)
  return Buffer.concat([header, Buffer.from(f.payload)])
})))

const anyStream = fc.oneof(frameish, fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)))

test('property: the decoder agrees with the reference on any bytes, split anywhere, and throws only FrameError', (tt) => {
  report(tt, 'decoder property', { faults: 0, survived: 0, lost: 0, tempLeft: 0, fuzzCases: 2000 })
  fc.assert(fc.property(
    anyStream,
    fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 40 }),
    fc.constantFrom<[number, number] | null>(null, [64, 128], [16, 4096]),
    (bytes, sizes, limits) => {
      const want = limits === null ? model(bytes) : model(bytes, limits[0], limits[1])
      const decoder = new FrameDecoder(limits === null ? {} : { maxControl: limits[0], maxData: limits[1] })
      const got: Frame[] = []
      let threw: unknown = null
      for (const c of chunked(bytes, sizes)) {
        try {
          got.push(...decoder.push(c))
        } catch (err) {
          threw = err
          break
        }
      }
      if (threw !== null) {
        assert.ok(threw instanceof FrameError, `only FrameError is thrown, got ${String(threw)}`)
        assert.notEqual(want.error, null, 'it throws only on a header the reference rejects')
        // Frames decoded before the bad header in the same push are dropped with the error, so
        // what came out is a prefix of what the reference saw.
        assert.ok(got.length <= want.frames.length)
      } else {
        assert.equal(want.error, null, 'a bad header is always found')
        assert.equal(got.length, want.frames.length)
        assert.equal(decoder.buffered, want.rest, 'what is left is the incomplete frame')
      }
      got.forEach((f, i) => {
        assert.equal(f.channel, want.frames[i]?.channel)
        assert.ok(f.payload.equals(want.frames[i]?.payload as Buffer))
      })
    },
  ), { numRuns: 2000 })
})

/** A word from the dictionary (prototype names, commands, flags, odd strings) or any string. */
const word = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...HOSTILE_WORDS) }, { weight: 1, arbitrary: fc.string() })

/** Control payloads: any bytes, any JSON, and objects shaped almost like a request. */
const controlPayload = fc.oneof(
  fc.record({
    args: fc.oneof({ weight: 4, arbitrary: fc.array(word, { maxLength: 5 }) }, { weight: 1, arbitrary: fc.constantFrom(...WRONG_ARGS) }),
    tty: fc.oneof(fc.boolean(), word),
    protocol: fc.oneof(fc.constant(1), word),
    cwd: word,
  }, { requiredKeys: [] }).map((o) => Buffer.from(JSON.stringify(o))),
  fc.dictionary(fc.constantFrom(...PROTOTYPE_NAMES, 'args', 'tty', 'protocol', 'cwd', 'source'), fc.jsonValue({ maxDepth: 1 })).map((o) => Buffer.from(JSON.stringify(o))),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  fc.string({ unit: 'binary', maxLength: 100 }).map((s) => Buffer.from(s)),
  fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v))),
  fc.record({
    args: fc.oneof(fc.array(fc.string()), fc.array(fc.jsonValue({ maxDepth: 1 })), fc.jsonValue({ maxDepth: 1 })),
    tty: fc.jsonValue({ maxDepth: 0 }),
    protocol: fc.jsonValue({ maxDepth: 0 }),
    cwd: fc.jsonValue({ maxDepth: 0 }),
  }, { requiredKeys: [] }).map((o) => Buffer.from(JSON.stringify(o))),
  fc.constantFrom('{"__proto__":{"polluted":1},"args":[]}', '{"constructor":{"prototype":{"polluted":1}}}', '[]', 'null', '"x"', '{"args":null}',
    '{"args":["a"],"tty":"yes"}', '['.repeat(100_000) + ']'.repeat(100_000), '{"args":["\\ud800"]}').map((s) => Buffer.from(s)),
)

test('property: parseControlRequest returns a clean request or throws FrameError, never anything else', (tt) => {
  report(tt, 'control JSON property', { faults: 0, survived: 0, lost: 0, tempLeft: 0, fuzzCases: 3000 })
  fc.assert(fc.property(controlPayload, (payload) => {
    let parsed: unknown
    try {
      parsed = JSON.parse(payload.toString('utf8'))
    } catch {
      parsed = undefined
    }
    const obj = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed as Record<string, unknown> : null
    const args = obj?.args ?? []
    const valid = obj !== null && Array.isArray(args) && args.every((a) => typeof a === 'string')
    try {
      const r = parseControlRequest(payload)
      assert.ok(valid, 'accepted only what is valid')
      assert.deepEqual(Object.keys(r).filter((k) => !['args', 'tty', 'protocol', 'cwd', 'source'].includes(k)), [], 'no other keys')
      assert.ok(Array.isArray(r.args) && r.args.every((a) => typeof a === 'string'))
      assert.equal(typeof r.tty, 'boolean')
      assert.equal(r.tty, obj?.tty === true)
      if (r.protocol !== undefined) assert.equal(typeof r.protocol, 'number')
      if (r.cwd !== undefined) assert.equal(typeof r.cwd, 'string')
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err
      assert.ok(err instanceof FrameError, `only FrameError is thrown, got ${String(err)}`)
      assert.ok(!valid, `a valid request was refused: ${payload.toString('utf8').slice(0, 200)}`)
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
  }), { numRuns: 3000 })
})

test('a 1 MiB control frame and a 4 MiB stdin frame delivered one byte per push decode in linear time (no hang)', { timeout: 60_000 }, () => {
  // Before the fix, joining the whole chunk list on every push made this quadratic: a 10 KB
  // frame sent a byte at a time took 7 s; 1 MiB would have taken days.
  for (const [channel, size] of [[3, MAX_CONTROL], [0, 4 * 1024 * 1024]] as const) {
    const wire = frame(channel, Buffer.alloc(size, 0x20))
    const decoder = new FrameDecoder()
    let frames = 0
    for (let i = 0; i < wire.length; i++) frames += decoder.push(wire.subarray(i, i + 1)).length
    assert.equal(frames, 1)
    assert.equal(decoder.buffered, 0)
  }
})

// ---------------------------------------------------------------------------------------------
// the live server

const CASES = Number(process.env.HOTSWAP_FUZZ_CASES ?? 4000)
const SEED = Number(process.env.HOTSWAP_FUZZ_SEED ?? Date.now() % 1_000_000)
const PARALLEL = 16

let t: ReturnType<typeof tempDir>
let served: Served
let live: string
let dbBytes: Buffer

serveLiveForFile({ workers: 2, app: fixture('faults-app.mjs'), args: ['--idle-timeout', '1000'], prepare: (s) => {
    ({ t, live } = s)
    const src = join(t.dir, 'seed.sqlite3')
    seed(src, { label: 'fuzz-push', rows: 50 })
    dbBytes = readFileSync(src)
    // A short idle timeout, so an upload left waiting for its end-of-input is ended in 1 s.
  } }, (s) => { ({ t, served, live } = s) })

function generator (rand: () => number): () => { bytes: Buffer, kind: string } {
  const int = (n: number): number => Math.floor(rand() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T
  const bytesOf = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))
  // The dictionary: every Object.prototype name (bare and as a flag), every command and flag,
  // empty and huge strings; and the words the random runs had.
  const words = [...HOSTILE_WORDS, '--bogus', 'frobnicate', '../live.sqlite3', './missing.sqlite3']
  const seeds = (): Buffer[] => [
    gemStream(['version']),
    gemStream(['status', '--json']),
    gemStream(['cp', '-', 'live.sqlite3'], dbBytes, 4096),
    gemStream(['cp', 'live.sqlite3', '-'], Buffer.alloc(0)),
    gemStream(['cp', '-', 'live.sqlite3', '--bogus'], Buffer.alloc(0)),
    gemStream(['frobnicate']),
  ]
  const randomValue = (depth: number): unknown => {
    switch (int(depth > 2 ? 5 : 7)) {
      case 0: return pick(words)
      case 1: return int(1000) - 500
      case 2: return null
      case 3: return rand() < 0.5
      case 4: return bytesOf(int(20)).toString('latin1')
      case 5: return Array.from({ length: int(4) }, () => randomValue(depth + 1))
      default: return Object.fromEntries(Array.from({ length: int(3) }, () => [pick(['args', 'tty', 'protocol', 'cwd', 'x']), randomValue(depth + 1)]))
    }
  }
  const mutate = (b: Buffer): Buffer => {
    let out = Buffer.from(b)
    const times = 1 + int(4)
    for (let i = 0; i < times; i++) {
      const at = out.length === 0 ? 0 : int(out.length)
      switch (int(9)) {
        case 0: if (out.length > 0) out[at] = (out[at] as number) ^ (1 << int(8)); break
        case 1: if (out.length > 0) out[at] = int(256); break
        case 2: out = Buffer.concat([out.subarray(0, at), bytesOf(1 + int(16)), out.subarray(at)]); break
        case 3: out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + int(64))]); break
        case 4: out = out.subarray(0, at); break
        case 5: out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + 1 + int(64)), out.subarray(at)]); break
        case 6: if (out.length >= 5) out.writeUInt32BE(pick([0, 1, int(100), 0xffffffff, 1024 * 1024 + 1, out.readUInt32BE(1) + int(10) - 5 >>> 0]), 1); break
        case 7: if (out.length > 0) out[0] = pick([0, 1, 2, 3, 4, 255]); break
        default: out = Buffer.concat([out.subarray(0, at), pick(seeds())]); break
      }
    }
    return out
  }
  return () => {
    const r = rand()
    if (r < 0.12) return { kind: 'random bytes', bytes: bytesOf(int(300)) }
    if (r < 0.30) {
      const frames = Array.from({ length: 1 + int(5) }, () => {
        const channel = rand() < 0.85 ? int(4) : int(256)
        const payload = channel === 3 && rand() < 0.5 ? Buffer.from(JSON.stringify(randomValue(0))) : bytesOf(int(64))
        return frame(channel, payload)
      })
      return { kind: 'random frames', bytes: Buffer.concat(frames) }
    }
    if (r < 0.45) {
      const control = frame(3, JSON.stringify({ args: noReload(Array.from({ length: int(5) }, () => rand() < 0.8 ? pick(words) : randomValue(1))), tty: randomValue(2), ...(rand() < 0.3 ? { protocol: randomValue(2) } : {}) }))
      return { kind: 'random control JSON', bytes: rand() < 0.5 ? control : Buffer.concat([control, frame(0, Buffer.alloc(0))]) }
    }
    if (r < 0.60) {
      // A real command or a prototype name first, then flags and words from the dictionary;
      // or `args` of the wrong type (missing, not an array, numbers, objects, null).
      const args = rand() < 0.8
        ? [pick(rand() < 0.5 ? COMMANDS : PROTOTYPE_NAMES), ...Array.from({ length: int(4) }, () => pick(rand() < 0.5 ? FLAGS : words))]
        : pick(WRONG_ARGS)
      const body: Record<string, unknown> = args === undefined ? { tty: false } : { args: noReload(args), tty: false }
      if (rand() < 0.2) body[pick(PROTOTYPE_NAMES)] = randomValue(2)
      const control = frame(3, JSON.stringify(body))
      return { kind: 'dictionary control JSON', bytes: rand() < 0.5 ? control : Buffer.concat([control, frame(0, Buffer.alloc(0))]) }
    }
    if (r < 0.93) return { kind: 'mutated stream', bytes: mutate(pick(seeds())) }
    return { kind: 'valid stream', bytes: pick(seeds()) }
  }
}

/**
 * A command that would change the server under the fuzzer (reload, scale, stop, a held lease),
 * or that by design never ends (`logs --follow`: the run waits for every connection's end),
 * gets a flag it refuses.
 */
const CHANGES_THE_SERVER = new Set(['reload', 'scale', 'stop', 'lease'])
function noReload (args: unknown): unknown {
  const endless = Array.isArray(args) && args[0] === 'logs' && args.includes('--follow')
  return Array.isArray(args) && (CHANGES_THE_SERVER.has(args[0]) || endless) ? [...args, '--constructor'] : args
}

interface Verdict { problem: string | null, answered: boolean, cls: string }

function judge (bytes: Buffer, halfClose: boolean, r: Exchange): Verdict {
  const m = model(bytes)
  const first = m.frames[0]
  const answered = r.control !== null
  const cls = first === undefined ? (m.error !== null ? 'bad first header' : 'incomplete first frame') : first.channel !== 3 ? 'first frame not control' : 'control frame'
  const fail = (problem: string): Verdict => ({ problem, answered, cls })
  if (r.oddities.length > 0) return fail(`malformed answer: ${r.oddities.join('; ')}`)
  if (r.control !== null) {
    if (!Number.isInteger(r.control.exit) || r.control.exit < 0) return fail(`bad exit ${JSON.stringify(r.control)}`)
    if (r.control.exit !== 0) {
      const code = r.control.code ?? ''
      if (!(code in ErrorCodes)) return fail(`unknown error code ${JSON.stringify(r.control)}`)
      // Nothing a client sends may reach an unexpected failure (an undo racing a push found its
      // kept file pruned under it, and answered a raw ENOENT).
      if (code === 'HOTSWAP_ERR_INTERNAL') return fail(`an internal error: ${JSON.stringify(r.control)}`)
      // Our client (protocol >= 1) reads coded lines; any other client the gem's words.
      // An unknown command reads Thor's words there, as the gem's CLI prints it.
      const ours = first !== undefined && first.channel === 3 && announcesProtocol(first.payload)
      const prefix = ours ? `ERROR [${code}] ` : 'ERROR: '
      const thor = !ours && code === 'HOTSWAP_ERR_USAGE' && r.control.exit === 2 && /^Could not find command ".*"\.\n$/s.test(r.stderr)
      // A push refused after its checks passed (the swap found the file busy) has said
      // "Swapping database..." first, as the gem does before its swap.
      const stderr = !ours && r.stderr.startsWith('Swapping database...\n') ? r.stderr.slice('Swapping database...\n'.length) : r.stderr
      if (!stderr.startsWith(prefix) && !thor) return fail(`stderr does not start with ${JSON.stringify(prefix)}: ${r.stderr.slice(0, 100)}`)
    }
  }
  if (r.timedOut) {
    // Only a first frame still waiting for bytes on a connection the client keeps open may
    // stay open (the server drops it after 10 s).
    return first === undefined && m.error === null && !halfClose ? { problem: null, answered, cls } : fail(`the connection did not end (${cls})`)
  }
  if (first === undefined) {
    if (m.error !== null && !answered) return fail('a bad first header was not answered')
    if (m.error !== null && r.control?.code !== 'HOTSWAP_ERR_PROTOCOL') return fail(`bad first header answered ${JSON.stringify(r.control)}`)
    return { problem: null, answered, cls }
  }
  if (!answered) return fail(`a whole first frame (${cls}) was not answered`)
  // A bad header later in the stream: when it arrives in the same chunk as the first frame,
  // the decoder's error wins (HOTSWAP_ERR_PROTOCOL); in a later chunk, the command runs first.
  // Either answer is right.
  if (m.error !== null) return { problem: null, answered, cls }
  if (first.channel !== 3 || !isRequest(first.payload)) {
    if (r.control?.code !== 'HOTSWAP_ERR_PROTOCOL' || r.control.exit !== 2) return fail(`bad first frame answered ${JSON.stringify(r.control)}`)
  } else {
    const name = (JSON.parse(first.payload.toString('utf8')) as { args?: string[] }).args?.[0] ?? 'help'
    if (!COMMANDS.includes(name) && (r.control?.code !== 'HOTSWAP_ERR_USAGE' || r.control.exit !== 2)) {
      return fail(`unknown command "${name}" answered ${JSON.stringify(r.control)}`)
    }
  }
  return { problem: null, answered, cls }
}

/** A usable first frame that announces our protocol (a number >= 1). */
function announcesProtocol (payload: Buffer): boolean {
  if (!isRequest(payload)) return false
  const protocol = (JSON.parse(payload.toString('utf8')) as { protocol?: unknown }).protocol
  return typeof protocol === 'number' && protocol >= 1
}

/** A usable first frame by the wire format's rules, judged here without src/. */
function isRequest (payload: Buffer): boolean {
  let v: unknown
  try {
    v = JSON.parse(payload.toString('utf8'))
  } catch {
    return false
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const args = (v as Record<string, unknown>).args ?? []
  return Array.isArray(args) && args.every((a) => typeof a === 'string')
}

test(`live server: ${CASES} random and mutated frame streams over real connections`, { timeout: Math.max(600_000, CASES * 20) }, async (tt) => {
  const rand = prng(SEED)
  const next = generator(rand)
  const load = new TrackedLoad(served.port, { concurrency: 2, maxMs: 24 * 3600_000 })
  const counts = new Map<string, number>()
  const problems: string[] = []
  let done = 0
  let answered = 0
  const status0 = await status(served.socket)
  const swaps0 = status0.databases[0]?.swaps ?? 0
  const workerPids = status0.workers.map((w) => w.pid).sort()
  const started = Date.now()
  try {
    const worker = async (): Promise<void> => {
      while (done < CASES && problems.length < 10) {
        const i = done++
        const c = next()
        // Half-close most; keep a few open (those must be ended by the server itself).
        const halfClose = rand() < 0.7 || (model(c.bytes).frames.length === 0 && model(c.bytes).error === null && i % 50 !== 0)
        const r = await exchange(served.socket, c.bytes, { halfClose, timeoutMs: halfClose ? 8000 : (model(c.bytes).frames.length === 0 ? 12_000 : 5000), pieces: 1 + (i % 4) })
        const v = judge(c.bytes, halfClose, r)
        counts.set(`${c.kind} / ${v.cls}`, (counts.get(`${c.kind} / ${v.cls}`) ?? 0) + 1)
        if (v.answered) answered++
        if (v.problem !== null) problems.push(`case ${i} (${c.kind}, seed ${SEED}): ${v.problem}; bytes ${c.bytes.subarray(0, 120).toString('hex')}`)
        if (served.child.exitCode !== null) problems.push(`the server exited during case ${i}`)
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, async () => await worker()))
  } finally {
    await load.stop()
  }
  const ms = Date.now() - started
  assert.deepEqual(problems, [])
  assert.equal(served.child.exitCode, null, 'the server is running')

  // It still does its job: status, a push, HTTP on every worker.
  assert.deepEqual(await waitNoLeftovers(t.dir), [], 'no .hotswap- file left')
  assert.deepEqual(integrity(live), ['ok'])
  const st = await status(served.socket)
  assert.deepEqual(st.workers.map((w) => w.pid).sort(), workerPids, 'the same workers serve: none died or was replaced')
  for (const pid of [served.pid, ...workerPids]) assert.ok(isAlive(pid), `process ${pid} is alive`)
  const swaps = (st.databases[0]?.swaps ?? 0) - swaps0
  const pushed = await push(served.socket, dbBytes)
  assert.equal(pushed.control?.exit, 0, pushed.stderr)
  assert.equal(labelOf(live), 'fuzz-push')
  assert.deepEqual(load.unexplained(), [], `no HTTP request failed during the fuzz run (${load.summary()})`)
  assert.deepEqual(load.bad, [])
  tt.diagnostic(`seed ${SEED}: ${CASES} connections in ${(ms / 1000).toFixed(1)} s, ${answered} answered with a control frame, ${swaps} valid pushes swapped in; HTTP load ${load.summary()}`)
  tt.diagnostic(`by kind / first frame: ${[...counts.entries()].sort().map(([k, v]) => `${k}: ${v}`).join('; ')}`)
  report(tt, 'frame fuzz', { faults: 0, survived: 0, lost: 0, tempLeft: 0, fuzzCases: CASES })
})
