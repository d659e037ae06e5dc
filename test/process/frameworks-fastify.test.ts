// A Fastify 5 app (examples/fastify) under swaps with load.
import { test } from 'node:test'
import { example, swapsUnderLoad } from '../support/index.js'

test('fastify example: swaps under load', async (tt) => {
  await swapsUnderLoad(tt, { app: example('fastify') })
})
