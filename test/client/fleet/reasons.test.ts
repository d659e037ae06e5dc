// A failed remote step as a coded reason (src/client/fleet/reasons.ts): the host's own error line
// and its details, else what ssh's exit status and last line say.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { failureOf, hostLines } from '../../../src/client/fleet/reasons.js'

const result = (code: number | null, stderr: string, timedOut = false): Parameters<typeof failureOf>[0] => ({ code, stdout: '', stderr, timedOut, ms: 1234.4 })

test('the host\'s own coded error, with its detail lines; an unknown code kept in the message', () => {
  const e = failureOf(result(1, 'progress…\nERROR [HOTSWAP_ERR_SCHEMA_MISMATCH] the schema differs\n  - CREATE TABLE extra (x)\n  + nothing\n'), 'stage')
  assert.equal(e.code, 'HOTSWAP_ERR_SCHEMA_MISMATCH')
  assert.equal(e.message, 'stage: the schema differs')
  assert.deepEqual(e.details, ['- CREATE TABLE extra (x)', '+ nothing'])
  assert.deepEqual(hostLines('web2', e), ['web2: HOTSWAP_ERR_SCHEMA_MISMATCH stage: the schema differs', '  - CREATE TABLE extra (x)', '  + nothing'])
  const newer = failureOf(result(1, 'ERROR [HOTSWAP_ERR_FROM_THE_FUTURE] what a newer host says\n'), 'pause')
  assert.equal(newer.code, 'HOTSWAP_ERR_REMOTE')
  assert.equal(newer.message, 'pause: HOTSWAP_ERR_FROM_THE_FUTURE what a newer host says')
})

test('ssh failing (255), no hotswap there (127), another exit, a time out', () => {
  const unreachable = failureOf(result(255, 'ssh: connect to host 127.0.0.3 port 22: Connection refused\r\n'), 'stage')
  assert.equal(unreachable.code, 'HOTSWAP_ERR_UNREACHABLE')
  assert.equal(unreachable.message, 'stage: ssh failed: ssh: connect to host 127.0.0.3 port 22: Connection refused')
  const missing = failureOf(result(127, 'bash: line 1: hotswap: command not found\n'), 'stage')
  assert.equal(missing.code, 'HOTSWAP_ERR_REMOTE')
  assert.match(missing.message, /^stage: hotswap was not found on the host \(exit 127: bash: line 1: hotswap: command not found\)$/)
  assert.equal(failureOf(result(3, ''), 'status').message, 'status: exit 3')
  assert.equal(failureOf(result(null, ''), 'status').message, 'status: exit by a signal')
  const slow = failureOf(result(null, 'ERROR [HOTSWAP_ERR_SCHEMA_MISMATCH] late', true), 'stage')
  assert.equal(slow.code, 'HOTSWAP_ERR_FLEET_TIMEOUT')
  assert.equal(slow.message, 'stage: no answer within 1234 ms')
})
