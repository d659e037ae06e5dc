// writeAll and writeAllSync: every byte, or an error; never a silent short write (issue 10
// item 14). libuv's own loop stops at an error after a partial write and returns the count
// so far, so the caller must write the rest and meet the error itself; here a handle that
// takes only part of each write stands in for a disk that fills.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FileHandle } from 'node:fs/promises'
import { writeAll, writeAllSync } from '../../src/shared/write-all.js'

/** Takes at most `per` bytes per writev, up to `capacity` in all, then fails with ENOSPC. */
function fillingHandle (per: number, capacity: number): { fh: FileHandle, data: () => Buffer } {
  const got: Buffer[] = []
  let total = 0
  const fh = {
    writev: async (bufs: Buffer[]) => {
      if (total >= capacity) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      const all = Buffer.concat(bufs)
      const n = Math.min(per, all.length, capacity - total)
      got.push(all.subarray(0, n))
      total += n
      return { bytesWritten: n, buffers: bufs }
    },
  } as unknown as FileHandle
  return { fh, data: () => Buffer.concat(got) }
}

test('writeAll writes what a short writev left, in order', async () => {
  const { fh, data } = fillingHandle(7, Infinity)
  const parts = [Buffer.from('abcdefghij'), Buffer.alloc(0), Buffer.from('klmno'), Buffer.from('pqrstuvwxyz')]
  let counted = 0
  await writeAll(fh, parts, (n) => { counted += n })
  assert.equal(data().toString(), 'abcdefghijklmnopqrstuvwxyz')
  assert.equal(counted, 26)
})

test('writeAll on a disk that fills mid-write throws ENOSPC, having counted what got there', async () => {
  const { fh } = fillingHandle(1000, 25)
  let counted = 0
  await assert.rejects(writeAll(fh, [Buffer.alloc(40), Buffer.alloc(40)], (n) => { counted += n }), { code: 'ENOSPC' })
  assert.equal(counted, 25)
})

test('writeAll stops on a write that takes nothing', async () => {
  const fh = { writev: async () => ({ bytesWritten: 0 }) } as unknown as FileHandle
  await assert.rejects(writeAll(fh, [Buffer.from('x')]), { code: 'EIO' })
})

test('writeAllSync loops over short writes and stops on a write that takes nothing', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotswap-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'f')
  const fd = fs.openSync(file, 'w')
  try {
    writeAllSync((buf, off) => fs.writeSync(fd, buf, off, Math.min(3, buf.length - off)), Buffer.from('hello, world'))
  } finally {
    fs.closeSync(fd)
  }
  assert.equal(fs.readFileSync(file, 'utf8'), 'hello, world')
  assert.throws(() => writeAllSync(() => 0, Buffer.from('x')), { code: 'EIO' })
})
