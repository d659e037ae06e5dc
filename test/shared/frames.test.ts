// The control socket's frame codec (src/shared/frames.ts): what the gem's client sends must
// decode the same however the socket splits or merges it, and malformed input must throw a
// FrameError rather than hang or allocate without bound.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import {
  Channel,
  encodeFrame,
  encodeHeader,
  FrameDecoder,
  FrameError,
  HEADER_SIZE,
  parseControlRequest,
  type ChannelNumber,
  type Frame,
} from '../../src/shared/frames.js'
import { HOSTILE_WORDS, PROTOTYPE_NAMES, WRONG_ARGS } from '../hostile-words.js'

const CHANNELS: ChannelNumber[] = [Channel.stdin, Channel.stdout, Channel.stderr, Channel.control]

/** Frames as plain values, so deepEqual compares channel and bytes, not Buffer identity. */
function plain (frames: Frame[]): Array<{ channel: number, hex: string }> {
  return frames.map((f) => ({ channel: f.channel, hex: f.payload.toString('hex') }))
}

function decodeChunks (chunks: Buffer[], decoder = new FrameDecoder()): Frame[] {
  const out: Frame[] = []
  for (const c of chunks) out.push(...decoder.push(c))
  return out
}

function sample (): Frame[] {
  return [
    { channel: Channel.control, payload: Buffer.from(JSON.stringify({ args: ['cp', '-', 'live'], tty: false })) },
    { channel: Channel.stdin, payload: randomBytes(300) },
    { channel: Channel.stdin, payload: Buffer.alloc(0) },
    { channel: Channel.stdout, payload: Buffer.from('OK\n') },
    { channel: Channel.stderr, payload: Buffer.from('ERROR [HOTSWAP_ERR_EMPTY] the file is empty\n') },
    { channel: Channel.stdout, payload: Buffer.alloc(0) },
    { channel: Channel.control, payload: Buffer.from('{"exit":0}') },
  ]
}

function encodeAll (frames: Frame[]): Buffer {
  return Buffer.concat(frames.map((f) => encodeFrame(f.channel, f.payload)))
}

test('encodeFrame writes channel, big-endian length and payload', () => {
  const frame = encodeFrame(Channel.stderr, 'héllo')
  const body = Buffer.from('héllo', 'utf8')
  assert.equal(frame.length, HEADER_SIZE + body.length)
  assert.equal(frame[0], 2)
  assert.equal(frame.readUInt32BE(1), body.length)
  assert.deepEqual(frame.subarray(HEADER_SIZE), body)
  // A string and its UTF-8 bytes encode identically.
  assert.deepEqual(encodeFrame(Channel.stderr, body), frame)
  // The header alone matches the head of a full frame.
  assert.deepEqual(encodeHeader(Channel.stderr, body.length), frame.subarray(0, HEADER_SIZE))
})

test('encode then decode round-trips every channel, including empty payloads', () => {
  for (const channel of CHANNELS) {
    for (const payload of [Buffer.alloc(0), Buffer.from([0]), randomBytes(1), randomBytes(4096)]) {
      const frames = new FrameDecoder().push(encodeFrame(channel, payload))
      assert.deepEqual(plain(frames), plain([{ channel, payload }]))
    }
  }
})

test('an empty payload is a whole frame of 5 bytes (the end-of-input marker)', () => {
  const eof = encodeFrame(Channel.stdin, Buffer.alloc(0))
  assert.deepEqual(eof, Buffer.from([0, 0, 0, 0, 0]))
  const decoder = new FrameDecoder()
  assert.deepEqual(decoder.push(eof.subarray(0, 4)), [])
  const frames = decoder.push(eof.subarray(4))
  assert.equal(frames.length, 1)
  assert.equal(frames[0]?.channel, Channel.stdin)
  assert.equal(frames[0]?.payload.length, 0)
  assert.equal(decoder.buffered, 0)
})

test('frames split at every byte boundary decode identically', () => {
  const frames = sample()
  const wire = encodeAll(frames)
  for (let cut = 0; cut <= wire.length; cut++) {
    const got = decodeChunks([wire.subarray(0, cut), wire.subarray(cut)])
    assert.deepEqual(plain(got), plain(frames), `split at byte ${cut}`)
  }
  for (let a = 0; a <= wire.length; a += 7) {
    for (let b = a; b <= wire.length; b += 13) {
      const got = decodeChunks([wire.subarray(0, a), wire.subarray(a, b), wire.subarray(b)])
      assert.deepEqual(plain(got), plain(frames), `split at bytes ${a} and ${b}`)
    }
  }
})

test('one byte at a time decodes identically, and nothing is left buffered', () => {
  const frames = sample()
  const wire = encodeAll(frames)
  const decoder = new FrameDecoder()
  const got: Frame[] = []
  for (let i = 0; i < wire.length; i++) got.push(...decoder.push(wire.subarray(i, i + 1)))
  assert.deepEqual(plain(got), plain(frames))
  assert.equal(decoder.buffered, 0)
})

test('many frames merged into one chunk come out in order from a single push', () => {
  const frames: Frame[] = []
  for (let i = 0; i < 500; i++) {
    frames.push({ channel: CHANNELS[i % 4] as ChannelNumber, payload: randomBytes(i % 37) })
  }
  const decoder = new FrameDecoder()
  const got = decoder.push(encodeAll(frames))
  assert.deepEqual(plain(got), plain(frames))
  assert.equal(decoder.buffered, 0)
})

test('a partial frame stays buffered until its last byte arrives', () => {
  const decoder = new FrameDecoder()
  const frame = encodeFrame(Channel.stdin, randomBytes(100))
  assert.deepEqual(decoder.push(frame.subarray(0, 50)), [])
  assert.equal(decoder.buffered, 50)
  assert.deepEqual(decoder.push(Buffer.alloc(0)), [], 'an empty chunk changes nothing')
  const frames = decoder.push(frame.subarray(50))
  assert.equal(frames.length, 1)
  assert.deepEqual(frames[0]?.payload, frame.subarray(HEADER_SIZE))
})

test('an oversized control frame throws FrameError from its header alone', () => {
  const decoder = new FrameDecoder()
  assert.throws(() => decoder.push(encodeHeader(Channel.control, 1024 * 1024 + 1)), (err: unknown) => {
    assert.ok(err instanceof FrameError)
    assert.equal(err.code, 'HOTSWAP_ERR_PROTOCOL')
    assert.match(err.message, /exceeds the limit/)
    return true
  })
  // Exactly at the limit is accepted (it just waits for the payload).
  assert.deepEqual(new FrameDecoder().push(encodeHeader(Channel.control, 1024 * 1024)), [])
  // 2^31 and the largest u32 throw too, without trying to buffer them.
  assert.throws(() => new FrameDecoder().push(encodeHeader(Channel.control, 2 ** 31)), FrameError)
  assert.throws(() => new FrameDecoder().push(encodeHeader(Channel.control, 2 ** 32 - 1)), FrameError)
})

test('custom limits apply per channel kind', () => {
  const decoder = new FrameDecoder({ maxControl: 10, maxData: 20 })
  assert.equal(decoder.push(encodeFrame(Channel.control, Buffer.alloc(10))).length, 1)
  assert.equal(decoder.push(encodeFrame(Channel.stdin, Buffer.alloc(20))).length, 1)
  assert.throws(() => new FrameDecoder({ maxControl: 10, maxData: 20 }).push(encodeFrame(Channel.control, Buffer.alloc(11))), FrameError)
  assert.throws(() => new FrameDecoder({ maxControl: 10, maxData: 20 }).push(encodeFrame(Channel.stdout, Buffer.alloc(21))), FrameError)
  assert.throws(() => new FrameDecoder({ maxData: 1024 }).push(encodeHeader(Channel.stdin, 2 ** 31)), FrameError)
})

test('an unknown channel throws FrameError', () => {
  for (const channel of [4, 5, 127, 255]) {
    const bad = Buffer.from([channel, 0, 0, 0, 1, 0x41])
    assert.throws(() => new FrameDecoder().push(bad), (err: unknown) => {
      assert.ok(err instanceof FrameError)
      assert.match(err.message, new RegExp(`unknown channel ${channel}`))
      return true
    })
  }
  // Also when the bad header follows a good frame in the same chunk.
  const wire = Buffer.concat([encodeFrame(Channel.stdout, 'ok'), Buffer.from([9, 0, 0, 0, 0])])
  assert.throws(() => new FrameDecoder().push(wire), FrameError)
})

test('parseControlRequest accepts the gem\'s {"args","tty"} without protocol or cwd', () => {
  const gem = parseControlRequest(Buffer.from(JSON.stringify({ args: ['cp', '-', 'db/app.sqlite3'], tty: false })))
  assert.deepEqual(gem, { args: ['cp', '-', 'db/app.sqlite3'], tty: false })
  assert.equal('protocol' in gem, false)
  assert.equal('cwd' in gem, false)
  assert.equal(parseControlRequest(Buffer.from('{"args":["version"],"tty":true}')).tty, true)
  // Missing args means no command; a non-boolean tty is not a terminal.
  assert.deepEqual(parseControlRequest(Buffer.from('{}')), { args: [], tty: false })
  assert.equal(parseControlRequest(Buffer.from('{"args":[],"tty":"yes"}')).tty, false)
  // Our client's extra fields come through; unknown ones are ignored.
  assert.deepEqual(parseControlRequest(Buffer.from('{"args":["status"],"tty":false,"protocol":1,"cwd":"/x","extra":[1]}')),
    { args: ['status'], tty: false, protocol: 1, cwd: '/x' })
  // Fields of the wrong type are dropped rather than trusted.
  assert.deepEqual(parseControlRequest(Buffer.from('{"args":["status"],"tty":false,"protocol":"1","cwd":7}')),
    { args: ['status'], tty: false })
  // UTF-8 arguments survive.
  assert.deepEqual(parseControlRequest(Buffer.from(JSON.stringify({ args: ['cp', 'données.sqlite3', '-'], tty: false }))).args,
    ['cp', 'données.sqlite3', '-'])
})

test('parseControlRequest takes the size of a streamed push when it is a whole number of bytes', () => {
  const with_ = (size: unknown): number | undefined => parseControlRequest(Buffer.from(JSON.stringify({ args: ['cp', '-', 'live'], tty: false, size }))).size
  assert.equal(with_(12_386_304), 12_386_304)
  assert.equal(with_(0), 0)
  // Anything else is as if none was sent (the gem's client sends none): the push is checked as it comes.
  for (const bad of [-1, 1.5, '100', null, 2 ** 60]) assert.equal(with_(bad), undefined, JSON.stringify(bad))
})

test('parseControlRequest rejects non-JSON, non-objects and non-string args', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /not valid JSON/],
    ['not json', /not valid JSON/],
    ['{"args": [', /not valid JSON/],
    ['\u0000\u0001', /not valid JSON/],
    ['null', /must be a JSON object/],
    ['42', /must be a JSON object/],
    ['"cp"', /must be a JSON object/],
    ['true', /must be a JSON object/],
    ['["cp","-","live"]', /must be a JSON object/],
    ['{"args":"cp - live"}', /"args" must be an array of strings/],
    ['{"args":[1,2]}', /"args" must be an array of strings/],
    ['{"args":["cp",null]}', /"args" must be an array of strings/],
    ['{"args":["cp",["-"]]}', /"args" must be an array of strings/],
    ['{"args":{"0":"cp"}}', /"args" must be an array of strings/],
  ]
  for (const [text, message] of bad) {
    assert.throws(() => parseControlRequest(Buffer.from(text)), (err: unknown) => {
      assert.ok(err instanceof FrameError, `${JSON.stringify(text)} throws a FrameError`)
      assert.equal(err.code, 'HOTSWAP_ERR_PROTOCOL')
      assert.match(err.message, message, JSON.stringify(text))
      return true
    })
  }
})

const framesArb = fc.array(fc.record({
  channel: fc.constantFrom(...CHANNELS),
  payload: fc.uint8Array({ maxLength: 300 }),
}), { maxLength: 25 })

/** Generated frames, and their wire bytes cut into chunks at the seeds' offsets. */
function framesAndChunks (raw: Array<{ channel: ChannelNumber, payload: Uint8Array }>, cutSeeds: number[]): { frames: Frame[], chunks: Buffer[] } {
  const frames: Frame[] = raw.map((f) => ({ channel: f.channel, payload: Buffer.from(f.payload) }))
  const wire = encodeAll(frames)
  const cuts = [...new Set(cutSeeds.map((n) => wire.length === 0 ? 0 : n % (wire.length + 1)))].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let at = 0
  for (const cut of cuts) {
    chunks.push(wire.subarray(at, cut))
    at = cut
  }
  chunks.push(wire.subarray(at))
  return { frames, chunks }
}

/**
 * The property over generated frames whose wire bytes are cut into chunks at arbitrary offsets:
 * `check` gets the frames and what a decoder with `limits` made of the chunks; then nothing may
 * be left buffered.
 */
function forAnySplit (limits: ConstructorParameters<typeof FrameDecoder>[0], check: (frames: Frame[], decoded: Frame[]) => void): void {
  fc.assert(fc.property(framesArb, fc.array(fc.nat(), { maxLength: 30 }), (raw, cutSeeds) => {
    const { frames, chunks } = framesAndChunks(raw, cutSeeds)
    const decoder = new FrameDecoder(limits)
    check(frames, decodeChunks(chunks, decoder))
    assert.equal(decoder.buffered, 0)
  }), { numRuns: 500 })
}

test('property: decode(concat(encode(frames)) split arbitrarily) equals frames', () => {
  forAnySplit({}, (frames, got) => assert.deepEqual(plain(got), plain(frames)))
})

/** Joins fragments back into frames by their `more` marks. */
function joinFragments (pieces: Frame[]): Frame[] {
  const out: Frame[] = []
  let parts: Buffer[] = []
  for (const p of pieces) {
    parts.push(p.payload)
    if (p.more === true) continue
    out.push({ channel: p.channel, payload: Buffer.concat(parts) })
    parts = []
  }
  assert.equal(parts.length, 0, 'the last piece of every frame has no `more`')
  return out
}

test('fragments: data frames come in pieces as bytes arrive, control frames whole', () => {
  const payload = randomBytes(1000)
  const wire = Buffer.concat([
    encodeFrame(Channel.control, '{"args":["cp","-","live"],"tty":false}'),
    encodeFrame(Channel.stdin, payload),
    encodeFrame(Channel.stdin, Buffer.alloc(0)),
  ])
  const decoder = new FrameDecoder({ fragments: true })
  const control = wire.readUInt32BE(1)
  const head = 5 + control + 5 // the control frame and the stdin header
  const first = decoder.push(wire.subarray(0, head + 300))
  assert.deepEqual(first.map((f) => [f.channel, f.payload.length, f.more]), [[Channel.control, control, undefined], [Channel.stdin, 300, true]])
  // A piece is a slice of the chunk it came in, not a copy.
  assert.equal(first[1]?.payload.buffer, wire.buffer)
  const rest = decoder.push(wire.subarray(head + 300))
  assert.deepEqual(rest.map((f) => [f.channel, f.payload.length, f.more]), [[Channel.stdin, 700, false], [Channel.stdin, 0, undefined]])
  assert.deepEqual(Buffer.concat([first[1]!.payload, rest[0]!.payload]), payload)
  assert.equal(decoder.buffered, 0)
  // The limit still applies to a data frame's header.
  assert.throws(() => new FrameDecoder({ fragments: true, maxData: 20 }).push(encodeHeader(Channel.stdin, 21)), FrameError)
})

test('property: with fragments, the pieces of any split join back into the frames; only end-of-input is empty', () => {
  forAnySplit({ fragments: true }, (frames, pieces) => {
    for (const p of pieces) {
      if (p.payload.length === 0) assert.notEqual(p.more, true, 'an empty piece is a whole empty frame')
      if (p.channel === Channel.control) assert.equal(p.more, undefined, 'control frames are never split')
    }
    assert.deepEqual(plain(joinFragments(pieces)), plain(frames))
  })
})

test('property: control JSON with prototype names, commands, flags and wrong-typed args parses to exactly what was sent, or FrameError', () => {
  const word = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...HOSTILE_WORDS) }, { weight: 1, arbitrary: fc.string() })
  const value = fc.oneof(word, fc.constantFrom(...WRONG_ARGS), fc.jsonValue({ maxDepth: 2 }))
  fc.assert(fc.property(
    fc.oneof(fc.array(word, { maxLength: 6 }), fc.constantFrom(...WRONG_ARGS)),
    fc.dictionary(fc.constantFrom(...PROTOTYPE_NAMES, 'tty', 'protocol', 'cwd', 'source'), value, { maxKeys: 4 }),
    (args, extra) => {
      const text = JSON.stringify({ ...extra, ...(args === undefined ? {} : { args }) })
      const sent = JSON.parse(text) as Record<string, unknown>
      // A missing or null `args` is no command at all (answered with help, as the gem does).
      const own = Object.hasOwn(sent, 'args') ? sent.args ?? [] : []
      const valid = Array.isArray(own) && own.every((a) => typeof a === 'string')
      let r
      try {
        r = parseControlRequest(Buffer.from(text))
      } catch (err) {
        assert.ok(err instanceof FrameError, `only FrameError, got ${String(err)}`)
        assert.ok(!valid, `a valid request was refused: ${text.slice(0, 200)}`)
        return
      }
      assert.ok(valid, `accepted an invalid request: ${text.slice(0, 200)}`)
      assert.deepEqual(r.args, own, 'args are exactly the own "args" sent')
      assert.equal(r.tty, sent.tty === true)
      assert.equal(Object.getPrototypeOf(r), Object.prototype)
      assert.equal(({} as Record<string, unknown>).args, undefined, 'no prototype pollution')
    },
  ), { numRuns: 1000 })
})
