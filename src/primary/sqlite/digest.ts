// The digest of a file hotswap keeps (a validated upload, a stage, a retired generation): the
// manifest's `digest`, what `history` shows and what a fleet's hosts compare.
//
//   file ─▶ 4 MiB reads ─▶ SHA-256 ─▶ "sha256:<hex>"
//
// SHA-256: the digest `sha256sum` checks by hand, and the fastest here (these CPUs have SHA-NI:
// 1.17 GB/s measured, against 0.6 GB/s for BLAKE2b-512 and 0.5 GB/s for MD5). It runs on a pool
// thread, never inside the pause, and only on files no SQLite connection of this process has
// open (tasks.ts's rule): an upload once validated, a stage, a generation once retired.

import { createHash } from 'node:crypto'
import fs from 'node:fs'
import type { TaskResult } from './result.js'

export interface DigestInput { path: string }
export interface DigestOutput { digest: string, bytes: number, ms: number }

const CHUNK = 4 * 1024 * 1024

export function digest (input: DigestInput): TaskResult<DigestOutput> {
  const started = performance.now()
  const hash = createHash('sha256')
  const buf = Buffer.allocUnsafe(CHUNK)
  const fd = fs.openSync(input.path, 'r')
  let bytes = 0
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, bytes)
      if (n === 0) break
      hash.update(buf.subarray(0, n))
      bytes += n
    }
  } finally {
    fs.closeSync(fd)
  }
  return { ok: true, value: { digest: `sha256:${hash.digest('hex')}`, bytes, ms: performance.now() - started } }
}
