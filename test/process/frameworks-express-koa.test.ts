// Express 5 and Koa 3 apps (examples/express, examples/express-cjs, examples/koa) under swaps
// with load. The CommonJS one loads the package by name with require('hotswap').
import { test } from 'node:test'
import { example, swapsUnderLoad } from '../support/index.js'

test('express example: swaps under load', async (tt) => {
  await swapsUnderLoad(tt, { app: example('express') })
})

test('express CommonJS example (require("hotswap")): swaps under load', async (tt) => {
  await swapsUnderLoad(tt, { app: example('express-cjs', 'app.cjs') })
})

test('koa example: swaps under load', async (tt) => {
  await swapsUnderLoad(tt, { app: example('koa') })
})
