// Kysely on hotswap's handle (examples/kysely) under swaps with reads and transactional writes.
import { test } from 'node:test'
import { example, swapsUnderLoad } from '../support/index.js'

test('kysely example: swaps under reads and writes', async (tt) => {
  await swapsUnderLoad(tt, { app: example('kysely'), writes: true })
})
