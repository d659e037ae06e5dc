// What `serve --watch` leaves out: the databases and their side files, hotswap's own files
// beside them, the socket and the log file, node_modules, .git and .hotswap below the app's
// directory (not above it: an app installed inside a node_modules folder is still watched).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ignoredBy } from '../../src/primary/watch.js'

test('ignoredBy: what the server writes and the folders not walked; sources are changes', () => {
  const root = '/srv/node_modules/myapp'
  const ignored = ignoredBy(root, [{ name: 'app', path: `${root}/db/app.sqlite3` }], [`${root}/tmp/hotswap.sock`, `${root}/log/hotswap.log`, undefined])
  for (const p of ['db/app.sqlite3', 'db/app.sqlite3-wal', 'db/app.sqlite3-shm', 'db/app.sqlite3-journal', 'db/.app.sqlite3.hotswap-1a2b.tmp',
    'db/.app.sqlite3.hotswap-lock', 'db/.hotswap/app.sqlite3/manifest.json', 'node_modules/x/index.js', '.git/HEAD', 'tmp/hotswap.sock', 'log/hotswap.log', 'log/hotswap.log.1']) {
    assert.equal(ignored(`${root}/${p}`), true, p)
  }
  for (const p of ['server.js', 'lib/routes.mjs', 'hotswap.config.json', 'db/seed.sql', '']) {
    assert.equal(ignored(`${root}/${p}`.replace(/\/$/, '')), false, p)
  }
})
