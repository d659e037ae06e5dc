// src/primary/control/gem-words.ts: what the gem's client reads for each failure (issue 10, item 17).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HotswapError } from '../../../src/shared/errors.js'
import { gemErrorText, speaksGem } from '../../../src/primary/control/gem-words.js'

const dbs = [{ name: 'app', path: '/srv/db/app.sqlite3' }, { name: 'cache', path: '/srv/db/cache.sqlite3' }]

test('the gem\'s messages where it has one, "ERROR: <message>" otherwise', () => {
  assert.equal(gemErrorText(new HotswapError('HOTSWAP_ERR_SCHEMA_MISMATCH', 'the schema differs', ['- table a: create table a (x)', '+ table b: create table b (y)']), dbs),
    'ERROR: schema mismatch\n- table a: create table a (x)\n+ table b: create table b (y)\n')
  assert.equal(gemErrorText(new HotswapError('HOTSWAP_ERR_INTEGRITY', 'PRAGMA integrity_check reported 1 problem', ['row 3 missing from index i']), dbs),
    'ERROR: integrity check failed\n  row 3 missing from index i\n')
  assert.equal(gemErrorText(new HotswapError('HOTSWAP_ERR_BOTH_MANAGED', 'both'), dbs), "ERROR: source and destination can't both be managed databases\n")
  assert.equal(gemErrorText(new HotswapError('HOTSWAP_ERR_NOT_MANAGED', 'neither'), dbs),
    'ERROR: neither path matches a managed database (/srv/db/app.sqlite3, /srv/db/cache.sqlite3)\n')
  assert.equal(gemErrorText(new HotswapError('HOTSWAP_ERR_USAGE', 'unknown command "bogus" (commands: cp, help)'), dbs), 'Could not find command "bogus".\n')
  assert.equal(gemErrorText(new HotswapError('HOTSWAP_ERR_USAGE', 'cp takes SRC and DST (got 1 argument(s))'), dbs), 'ERROR: cp takes SRC and DST (got 1 argument(s))\n')
  assert.equal(gemErrorText(new HotswapError('HOTSWAP_ERR_DB_BUSY', 'another process has it open', ['pid 7']), dbs), 'ERROR: another process has it open\n  pid 7\n')
})

test('only a client announcing protocol 1 or later reads coded errors', () => {
  assert.equal(speaksGem(undefined), true)
  assert.equal(speaksGem(0), true)
  assert.equal(speaksGem(1), false)
  assert.equal(speaksGem(2), false)
})
