// src/shared/size.ts: the sizes --max-memory and --log-max-size take.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSize } from '../../src/shared/size.js'

test('sizes as people write them, in 1024s; anything else is not a size', () => {
  const MiB = 1024 ** 2
  const good: Array<[string, number]> = [['512M', 512 * MiB], ['512m', 512 * MiB], ['512MB', 512 * MiB], ['512MiB', 512 * MiB], ['1G', 1024 * MiB],
    ['1.5G', 1536 * MiB], ['300 M', 300 * MiB], ['64K', 65536], ['2048', 2048], ['1T', 1024 ** 4]]
  for (const [text, bytes] of good) assert.equal(parseSize(text), bytes, text)
  for (const text of ['', 'M', 'lots', '-1G', '1X', '1.G', '1e9', '0x10', '1 G B', '99999999999999999999G']) assert.equal(parseSize(text), null, text)
})

test('bytes, and k, M, G with or without B or iB, any case (--log-max-size)', () => {
  assert.equal(parseSize('10485760'), 10485760)
  assert.equal(parseSize('512k'), 512 * 1024)
  assert.equal(parseSize('10 MB'), 10 * 1024 ** 2)
  assert.equal(parseSize('1GiB'), 1024 ** 3)
  assert.equal(parseSize('1.5k'), 1536)
  assert.equal(parseSize('0'), 0)
  for (const v of ['10X', '-1', '1e3', 'k', '10 M B', '1.2.3', '9'.repeat(30)]) assert.equal(parseSize(v), null, v)
})
