// Writes that are checked to the last byte. libuv's write loop stops at the first error after a
// partial write and returns the count so far: on a disk that fills during the last write,
// `writev` "succeeds" short, and the file ends up truncated without an error. These loop until
// every byte is written, so the next write(2) reports ENOSPC itself.

import type { FileHandle } from 'node:fs/promises'

/** A write(2) that wrote nothing and reported nothing: stop rather than spin. */
function stalled (): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('write wrote 0 bytes')
  err.code = 'EIO'
  return err
}

/** Writes every byte of `buffers` at the handle's position; `onWritten` counts them as they go. */
export async function writeAll (fh: FileHandle, buffers: Buffer[], onWritten: (n: number) => void = () => {}): Promise<void> {
  let rest = buffers.filter((b) => b.length > 0)
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest)
    if (bytesWritten === 0) throw stalled()
    onWritten(bytesWritten)
    let skip = bytesWritten
    while (rest.length > 0 && skip >= (rest[0] as Buffer).length) skip -= (rest.shift() as Buffer).length
    if (skip > 0) rest[0] = (rest[0] as Buffer).subarray(skip)
  }
}

/** The same for a synchronous write of one buffer to a descriptor. */
export function writeAllSync (write: (buf: Buffer, off: number) => number, buf: Buffer): void {
  for (let off = 0; off < buf.length;) {
    const n = write(buf, off)
    if (n === 0) throw stalled()
    off += n
  }
}
