// The `cp` path around oclif (src/client/fast-cp.ts): it must accept exactly what oclif's `cp`
// accepts, or hand the arguments over; a flag added to one and not the other fails here.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolve } from 'node:path'
import Cp from '../../src/commands/cp.js'
import { CP_BOOLEAN_FLAGS, parseCpArgs } from '../../src/client/fast-cp.js'

test('the fast path knows every flag of the oclif command, and no other', () => {
  assert.deepEqual(Object.keys(Cp.flags).sort(), [...CP_BOOLEAN_FLAGS, 'socket'].sort())
  for (const name of CP_BOOLEAN_FLAGS) assert.equal(Cp.flags[name].type, 'boolean', `--${name} is a boolean in both`)
  assert.equal(Cp.flags.socket.type, 'option')
})

test('plain arguments are parsed, in any order', () => {
  const o = parseCpArgs(['--force', 'new.sqlite3', '--socket', 'run/s.sock', 'live', '--skip-schema-check'])
  assert.deepEqual(o, {
    src: 'new.sqlite3',
    dst: 'live',
    socketPath: resolve('run/s.sock'),
    force: true,
    skipIntegrityCheck: false,
    skipSchemaCheck: true,
    stage: false,
  })
  assert.equal(parseCpArgs(['-', 'live', '--socket=/x/s.sock'])?.socketPath, '/x/s.sock')
  assert.equal(parseCpArgs(['live', '-'])?.dst, '-')
})

test('anything else goes to oclif, which owns the usage messages', () => {
  for (const argv of [
    [], ['a'], ['a', 'b', 'c'], // wrong number of arguments
    ['a', 'b', '--help'], ['--help'], ['-h'], // help
    ['a', 'b', '--frobnicate'], ['a', 'b', '-f'], // unknown flags
    ['a', 'b', '--force', '--force'], ['a', 'b', '--force=yes'], // repeated, or a value on a boolean
    ['a', 'b', '--socket'], ['a', 'b', '--socket='], ['a', 'b', '--socket', '--force'], ['a', 'b', '--socket', 'x', '--socket', 'y'],
    ['--', 'a', 'b'],
  ]) {
    assert.equal(parseCpArgs(argv), null, `falls through: ${JSON.stringify(argv)}`)
  }
})
