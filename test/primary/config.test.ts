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

test('capacity and watchdog keys: sizes and paths read, bad values refused naming the key', async () => {
  const write = (name: string, config: Record<string, unknown>): string => {
    const file = join(t.dir, `${name}.json`)
    writeFileSync(file, JSON.stringify({ app: 'app.mjs', db: 'a.sqlite3', ...config }))
    return file
  }
  const good = await loadConfigFile(t.dir, write('watchdog', { maxMemory: '1.5G', healthCheck: '/healthz?deep=1', healthInterval: 0, healthTimeout: 100, healthThreshold: 1 }))
  assert.deepEqual([good.maxMemory, good.healthCheck, good.healthIntervalMs, good.healthTimeoutMs, good.healthThreshold], [1.5 * 1024 ** 3, '/healthz?deep=1', 0, 100, 1])
  assert.equal((await loadConfigFile(t.dir, write('bytes', { maxMemory: 268435456 }))).maxMemory, 256 * 1024 ** 2, 'a number is bytes')
  const merged = mergeSettings(t.dir, {}, await loadConfigFile(t.dir, write('defaults', {})))
  assert.deepEqual([merged.maxMemory, merged.healthCheck, merged.healthIntervalMs, merged.healthTimeoutMs, merged.healthThreshold], [undefined, undefined, 5000, 5000, 3])
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ maxMemory: 100 }, /"maxMemory" must be at least 1M \(got 100, 100 bytes: was the unit left out\?\)$/],
    [{ maxMemory: true }, /"maxMemory" must be a size such as 512M or 1G/],
    [{ maxMemory: '12 parsecs' }, /"maxMemory" must be a size such as 512M or 1G/],
    [{ healthCheck: 42 }, /"healthCheck" must be a path that starts with \//],
    [{ healthCheck: '/x\r\nHost: evil' }, /"healthCheck" must be a path that starts with \//],
    [{ healthInterval: -5 }, /"healthInterval" must be an integer of at least 0/],
    [{ healthTimeout: 0 }, /"healthTimeout" must be an integer of at least 1/],
    [{ healthThreshold: 'three' }, /"healthThreshold" must be an integer of at least 1/],
  ]
  for (const [i, [config, message]] of bad.entries()) {
    await assert.rejects(loadConfigFile(t.dir, write(`bad-${i}`, config)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'HOTSWAP_ERR_CONFIG')
      assert.match(err.message, message)
      return true
    })
  }
})
