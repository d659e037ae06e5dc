// parseSize (src/shared/format.ts): sizes as people write them, powers of 1024; anything else
// is undefined, for the caller to refuse with its own field name (--log-max-size).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSize } from '../../src/shared/format.js'

test('bytes, and k, M, G with or without B or iB, any case', () => {
  assert.equal(parseSize('10485760'), 10485760)
  assert.equal(parseSize('512k'), 512 * 1024)
  assert.equal(parseSize('10M'), 10 * 1024 ** 2)
  assert.equal(parseSize('10 MB'), 10 * 1024 ** 2)
  assert.equal(parseSize('1GiB'), 1024 ** 3)
  assert.equal(parseSize('1.5k'), 1536)
  assert.equal(parseSize('0'), 0)
})

test('anything else is undefined', () => {
  for (const v of ['', 'lots', '10X', '-1', '1e3', 'k', '10 M B', '1.2.3', '9'.repeat(30)]) assert.equal(parseSize(v), undefined, v)
})
