// Plain node:http and node:https apps (examples/http, examples/https) under swaps with
// load: no failed request, no torn read, the new label after every push.
import { test } from 'node:test'
import { example, swapsUnderLoad } from '../support/index.js'

test('node:http example: swaps under load', async (tt) => {
  await swapsUnderLoad(tt, { app: example('http') })
})

test('node:https example (self-signed certificate): swaps under load', async (tt) => {
  await swapsUnderLoad(tt, { app: example('https'), https: true })
})
