// The `history`, `status` and `lease` paths around oclif (src/client/fast-remote.ts): each takes
// only shapes oclif's command accepts the same way, or hands the arguments over; a flag added
// to an oclif command and not reviewed here fails the first test.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import History from '../../src/commands/history.js'
import Lease from '../../src/commands/lease.js'
import Status from '../../src/commands/status.js'
import { parseFastRemote } from '../../src/client/fast-remote.js'

test('the oclif commands have the flags the fast paths were written against', () => {
  assert.deepEqual(Object.keys(History.flags).sort(), ['json', 'socket'])
  assert.deepEqual(Object.keys(Status.flags).sort(), ['check', 'json', 'socket'])
  assert.deepEqual(Object.keys(Lease.flags).sort(), ['owner', 'socket', 'ttl'])
  assert.equal(Lease.flags.ttl.type, 'option')
})

test('plain arguments are taken', () => {
  assert.deepEqual(parseFastRemote('history', []), { command: 'history', dbs: [], json: false })
  assert.deepEqual(parseFastRemote('history', ['db/live.sqlite3', '--json']), { command: 'history', dbs: ['db/live.sqlite3'], json: true })
  assert.deepEqual(parseFastRemote('history', ['--json', 'app', 'cache']), { command: 'history', dbs: ['app', 'cache'], json: true })
  assert.deepEqual(parseFastRemote('status', []), { command: 'status', json: false })
  assert.deepEqual(parseFastRemote('status', ['--json']), { command: 'status', json: true })
  assert.deepEqual(parseFastRemote('lease', ['fleet', '--owner', 'alice@laptop pid 4242', '--ttl', '15000']), { command: 'lease', name: 'fleet', owner: 'alice@laptop pid 4242', ttl: 15000 })
  assert.deepEqual(parseFastRemote('lease', ['fleet', '--ttl', '1000', '--owner', 'a']), { command: 'lease', name: 'fleet', owner: 'a', ttl: 1000 })
  assert.deepEqual(parseFastRemote('lease', ['fleet', '--owner', 'a']), { command: 'lease', name: 'fleet', owner: 'a' })
})

test('anything else goes to oclif, which owns the usage messages', () => {
  for (const [command, argv] of [
    ['history', ['--help']], ['history', ['-h']], ['history', ['--json', '--json']], ['history', ['--jsn']], ['history', ['--json=true']],
    ['history', ['--socket', 's']], ['history', ['--']], ['history', ['']],
    ['status', ['live']], ['status', ['--check']], ['status', ['--json', '--check']], ['status', ['--socket=s']], ['status', ['--help']],
    ['lease', []], ['lease', ['fleet']], ['lease', ['--owner', 'a', 'fleet']], ['lease', ['fleet', '--owner']], ['lease', ['fleet', '--owner', '-x']],
    ['lease', ['fleet', '--owner', 'a', '--owner', 'b']], ['lease', ['fleet', '--owner', 'a', '--ttl', '999']], ['lease', ['fleet', '--owner', 'a', '--ttl', '600001']],
    ['lease', ['fleet', '--owner', 'a', '--ttl', '1e4']], ['lease', ['fleet', '--owner', 'a', '--ttl']], ['lease', ['fleet', '--owner=a']], ['lease', ['fleet', 'other', '--owner', 'a']],
    ['undo', ['live']], [undefined, []],
  ] as Array<[string | undefined, string[]]>) {
    assert.equal(parseFastRemote(command, argv), null, `falls through: ${String(command)} ${JSON.stringify(argv)}`)
  }
})
