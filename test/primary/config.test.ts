// src/primary/config.ts, the siblings of issue 10 item 1: names from a config file are read as
// own keys only, never through Object.prototype.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfigFile, mergeSettings, metricsFlag, settingsFromEnv } from '../../src/primary/config.js'
import { tempDir } from '../support/index.js'

const t = tempDir()
after(() => t.cleanup())

test('env names such as __proto__ and constructor are kept as variables, not lost or used as a prototype', async () => {
  const file = join(t.dir, 'env.json')
  writeFileSync(file, '{"app":"app.mjs","db":"a.sqlite3","env":{"__proto__":"p","constructor":"c","toString":"s","PLAIN":"x"}}')
  const fromFile = await loadConfigFile(t.dir, file)
  assert.equal(Object.getOwnPropertyDescriptor(fromFile.env, '__proto__')?.value, 'p')
  assert.deepEqual(Object.keys(fromFile.env ?? {}).sort(), ['PLAIN', '__proto__', 'constructor', 'toString'])
  const merged = mergeSettings(t.dir, { env: { PLAIN: 'flag' } }, fromFile)
  assert.equal(Object.getOwnPropertyDescriptor(merged.env, '__proto__')?.value, 'p', 'merging keeps it too')
  assert.equal(merged.env.PLAIN, 'flag', 'the stronger layer wins')
  assert.equal(merged.env.constructor, 'c')
  assert.equal(Object.getPrototypeOf(merged.env), Object.prototype)
})

test('a setting on the config object\'s prototype is not read; prototype names as keys are refused', async () => {
  const mjs = join(t.dir, 'proto.mjs')
  writeFileSync(mjs, 'export default { __proto__: { app: "from-prototype.mjs", workers: 3 }, db: "a.sqlite3" }\n')
  const c = await loadConfigFile(t.dir, mjs)
  assert.equal(c.app, undefined)
  assert.equal(c.workers, undefined)
  for (const key of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    const file = join(t.dir, `key-${key}.json`)
    writeFileSync(file, `{"${key}": {"app": "x"}}`)
    await assert.rejects(loadConfigFile(t.dir, file), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'HOTSWAP_ERR_CONFIG')
      assert.match(err.message, new RegExp(`"${key}" is not a known setting`))
      return true
    })
  }
})

test('metrics and minReady: from the file (a socket path relative to it), the environment and a flag, the stronger winning', async () => {
  const file = join(t.dir, 'metrics.json')
  writeFileSync(file, '{"app":"app.mjs","db":"a.sqlite3","metrics":"run/metrics.sock","minReady":2}')
  const fromFile = await loadConfigFile(t.dir, file)
  assert.deepEqual(fromFile.metrics, { kind: 'unix', path: join(t.dir, 'run', 'metrics.sock') })
  assert.equal(fromFile.minReady, 2)
  const fromEnv = settingsFromEnv({ HOTSWAP_METRICS: '[::1]:9464', HOTSWAP_MIN_READY: '1' }, '/srv/app')
  assert.deepEqual(fromEnv.metrics, { kind: 'tcp', host: '::1', port: 9464 })
  assert.deepEqual(mergeSettings(t.dir, fromEnv, fromFile).metrics, { kind: 'tcp', host: '::1', port: 9464 })
  assert.equal(mergeSettings(t.dir, fromEnv, fromFile).minReady, 1)
  assert.deepEqual(mergeSettings(t.dir, { metrics: metricsFlag('127.0.0.1:9100', t.dir) }, fromEnv, fromFile).metrics, { kind: 'tcp', host: '127.0.0.1', port: 9100 })
  assert.equal(mergeSettings(t.dir, {}, {}, { app: 'a.mjs', databases: ['a.sqlite3'] }).metrics, undefined, 'off by default')
  assert.throws(() => metricsFlag('9100', t.dir), (err: Error & { code?: string }) => err.code === 'HOTSWAP_ERR_USAGE' && /^--metrics: "9100" is not an address/.test(err.message))
})
