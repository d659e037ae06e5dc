// Drizzle on hotswap's handle (examples/drizzle) under swaps with reads and transactional writes.
import { test } from 'node:test'
import { example, swapsUnderLoad } from '../support/index.js'

test('drizzle example: swaps under reads and writes', async (tt) => {
  await swapsUnderLoad(tt, { app: example('drizzle'), writes: true })
})
