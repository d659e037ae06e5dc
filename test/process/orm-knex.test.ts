// Knex under swaps with reads and transactional writes, both ways the README gives:
// knexPool() through knex 3.3's connectionPool (examples/knex/app.mjs), and, for older knex,
// knex's own connection closed in onPause and reopened in onResume (examples/knex/recipe.mjs).
import { test } from 'node:test'
import { join } from 'node:path'
import { example, ROOT, swapsUnderLoad } from '../support/index.js'

test('knex with knexPool(): swaps under reads and writes', async (tt) => {
  await swapsUnderLoad(tt, { app: example('knex'), writes: true })
})

test('knex with its own connection, destroyed in onPause and reinitialized in onResume: swaps under reads and writes', async (tt) => {
  await swapsUnderLoad(tt, { app: join(ROOT, 'examples', 'knex', 'recipe.mjs'), writes: true })
})
