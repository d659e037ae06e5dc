// WorkerOutput (src/primary/logs/worker-output.ts): a worker's pipe cut into records, however the
// bytes are chunked: hotswap's own records behind RS, never glued to a partial line of the app; a
// stack trace or an inspected object one record; the app's JSON lines merged (app-json.ts).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RECORD_SEPARATOR as RS } from '../../../src/shared/logger.js'
import { WorkerOutput, type OutputRecord } from '../../../src/primary/logs/worker-output.js'
import { appJsonRecord } from '../../../src/primary/logs/app-json.js'
import { waitUntil } from '../../support/index.js'

/** Every record of `text` fed in chunks of `size`, once the pipe ended. */
function records (stream: 'stdout' | 'stderr', text: string, size = text.length): OutputRecord[] {
  const out: OutputRecord[] = []
  const w = new WorkerOutput(stream, (r) => out.push(r))
  const bytes = Buffer.from(text)
  for (let i = 0; i < bytes.length; i += size) w.push(bytes.subarray(i, i + size))
  w.end()
  return out
}

const own = (message: string, level = 'error'): string => `${RS}${JSON.stringify({ level, message, role: 'worker 1', timestamp: 'x', startupError: 'why' })}\n`
const stack = 'Error: boom\n    at a (file:///app.js:1:1)\n    at b (node:internal/x:2:2) {\n  code: \'E_X\'\n}\n'

test('a partial line is cut where the worker\'s own record begins, in any chunking', () => {
  for (const size of [1, 3, 7, 1000]) {
    const r = records('stdout', `partial${own('uncaught exception: Error: x')}next line\n`, size)
    assert.deepEqual(r.map((x) => [x.message, x.level, x.own]), [
      ['partial', 'info', false],
      ['uncaught exception: Error: x', 'error', true],
      ['next line', 'info', false],
    ], `chunks of ${size}`)
    assert.deepEqual(r[1]?.fields, { startupError: 'why' }, 'its fields kept, its role and time are the primary\'s')
  }
})

test('a stack trace (console.error(err)) is one record, at error on stderr; a full read waits for the rest', async () => {
  const r = records('stderr', `before\n${stack}after\n`)
  assert.deepEqual(r.map((x) => x.message), ['before', stack.slice(0, -1), 'after'])
  assert.deepEqual(r.map((x) => x.level), ['warn', 'error', 'warn'])
  // A stack cut by a full read (64 KiB) of the pipe: its rest comes in the next read.
  const out: OutputRecord[] = []
  const w = new WorkerOutput('stderr', (x) => out.push(x))
  const big = `${'x'.repeat(64 * 1024 - 20)}\n${stack}`
  const cut = Buffer.from(big).subarray(0, 64 * 1024)
  w.push(cut)
  w.push(Buffer.from(big).subarray(64 * 1024))
  await waitUntil('the stack record', () => out.length === 2)
  assert.equal(out[1]?.message, stack.slice(0, -1))
  w.end()
  // On stdout the same text stays at info; an inspected object is one record too.
  assert.deepEqual(records('stdout', "{\n  a: 1,\n  b: [ 1, 2 ]\n}\nx\n").map((x) => [x.message, x.level]), [["{\n  a: 1,\n  b: [ 1, 2 ]\n}", 'info'], ['x', 'info']])
})

test('lines of separate reads are separate records, each out at once; a character cut by a read is whole', () => {
  const out: OutputRecord[] = []
  const w = new WorkerOutput('stdout', (r) => out.push(r))
  w.push(Buffer.from('first\n'))
  assert.deepEqual(out.map((x) => x.message), ['first'], 'no wait after a read that emptied the pipe')
  w.push(Buffer.from('  indented, later\n'))
  const euro = Buffer.from('€ sign\n')
  w.push(euro.subarray(0, 1))
  w.push(euro.subarray(1))
  w.end()
  assert.deepEqual(out.map((x) => x.message), ['first', '  indented, later', '€ sign'])
})

test('CRLF endings, empty lines, a record of ours that does not parse', () => {
  assert.deepEqual(records('stdout', 'a\r\nb\r\n').map((x) => x.message), ['a', 'b'])
  const r = records('stdout', `${RS}{"level":"error","mess\n`)
  assert.deepEqual(r.map((x) => [x.message, x.own]), [['{"level":"error","mess', false]])
})

test('app JSON lines: pino, winston and bunyan levels; msg or message; our field names kept aside; __proto__ harmless', () => {
  assert.deepEqual(appJsonRecord('{"level":30,"time":1,"msg":"hi","pid":7}', 'warn'), { level: 'info', message: 'hi', fields: { time: 1, pid: 7 } })
  assert.equal(appJsonRecord('{"level":60,"msg":"x"}', 'info')?.level, 'error')
  assert.equal(appJsonRecord('{"level":10,"msg":"x"}', 'info')?.level, 'silly')
  assert.equal(appJsonRecord('{"level":"WARNING","message":"x"}', 'info')?.level, 'warn')
  assert.equal(appJsonRecord('{"level":"fatal","message":"x"}', 'info')?.level, 'error')
  assert.deepEqual(appJsonRecord('{"level":"constructor","message":"x"}', 'info'), { level: 'info', message: 'x', fields: { appLevel: 'constructor' } })
  assert.deepEqual(appJsonRecord('{"message":"x","role":"r","timestamp":"t","stream":"s"}', 'info')?.fields, { appRole: 'r', appTimestamp: 't', appStream: 's' })
  const proto = appJsonRecord('{"msg":"x","__proto__":{"polluted":1}}', 'info')
  assert.deepEqual(Object.keys(proto?.fields ?? {}), ['app__proto__'])
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
  for (const line of ['[1,2]', '"text"', '{not json}', 'plain text', '{"a":1} trailing']) assert.equal(appJsonRecord(line, 'info'), undefined, line)
})
