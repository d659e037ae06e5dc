// Express 5 and Koa 3 apps (examples/express, examples/koa) under swaps with load.
import { test } from 'node:test'
import { example, swapsUnderLoad } from '../support/index.js'

test('express example: swaps under load', async (tt) => {
  await swapsUnderLoad(tt, { app: example('express') })
})

test('koa example: swaps under load', async (tt) => {
  await swapsUnderLoad(tt, { app: example('koa') })
})
