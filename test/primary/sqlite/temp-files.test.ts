// Temp names (issue 10 items 3 and 8): a long destination name still gets a temp name that
// fits NAME_MAX, the same prefix that cleanupOrphans looks for, and every such name is one a
// `cp` refuses to write or read.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { basename } from 'node:path'
import { isReservedName, lockPathFor, oldLinkPathFor, tempPathFor, tempPrefix } from '../../../src/primary/sqlite/temp-files.js'

test('a name of 255 bytes gets a temp name that fits, unique to the whole name', () => {
  for (const name of ['a'.repeat(255), 'é'.repeat(127), `${'b'.repeat(250)}.db`]) {
    const temp = basename(tempPathFor(`/srv/${name}`))
    assert.ok(Buffer.byteLength(temp) <= 255, `${Buffer.byteLength(temp)} bytes`)
    assert.ok(temp.startsWith(tempPrefix(`/srv/${name}`)))
    assert.ok(isReservedName(temp))
  }
  assert.notEqual(tempPrefix(`/srv/${'c'.repeat(240)}x`), tempPrefix(`/srv/${'c'.repeat(240)}y`))
  assert.equal(tempPrefix('/srv/app.sqlite3'), '.app.sqlite3.hotswap-')
})

test('reserved names: .NAME.hotswap-… only', () => {
  for (const n of ['.app.sqlite3.hotswap-0123.tmp', '.x.hotswap-pull-1.tmp', '.a.hotswap-old-ff']) assert.ok(isReservedName(n), n)
  for (const n of ['app.sqlite3', 'hotswap-backup.sqlite3', '.hotswap-x', 'app.hotswap-1']) assert.ok(!isReservedName(n), n)
})

test('every kind of temp name starts with the prefix cleanupOrphans looks for, and fits', () => {
  for (const name of ['app.sqlite3', 'd'.repeat(220), 'é'.repeat(127)]) {
    const live = `/srv/${name}`
    const prefix = tempPrefix(live)
    const kinds: Array<[string, RegExp]> = [
      [tempPathFor(live), /^[0-9a-f]{12}\.tmp$/],
      [tempPathFor(live, 'pull'), /^pull-[0-9a-f]{12}\.tmp$/],
      [oldLinkPathFor(live), /^old-[0-9a-f]{12}$/],
      [lockPathFor(live), /^lock$/],
    ]
    for (const [path, rest] of kinds) {
      const n = basename(path)
      assert.ok(n.startsWith(prefix), n)
      assert.match(n.slice(prefix.length), rest)
      assert.ok(Buffer.byteLength(n) <= 255, `${Buffer.byteLength(n)} bytes`)
      assert.ok(isReservedName(n), n)
    }
  }
})
