// `hotswap cp LIVE DST`: a pull to this side. DST was checked before anything is written
// (../primary/sqlite/cp-paths.ts); where the server sees our files it writes the snapshot in
// place, else the bytes come here.
//
//   server snapshot ──stdout frames──▶ stdout (-), or a temp file renamed over DST,
//                                      or written through into a FIFO or a device
//   server sees DST? ──▶ its path: the server writes a temp file beside it, fsyncs, renames

import { constants, fstatSync, promises as fsp, writeSync } from 'node:fs'
import { ExitCodes, HotswapError } from '../shared/errors.js'
import type { PullDestination } from '../primary/sqlite/cp-paths.js'
import { createExclusive, tempPathFor } from '../primary/sqlite/temp-files.js'
import { writeAllSync } from '../shared/write-all.js'
import { forwardStdout, runRemote } from './connection.js'
import type { CpOptions } from './cp-options.js'
import { Progress, withProgress } from './progress.js'

/** Pull to this process's stdout (`cp LIVE -`). */
export async function pullToStdout (o: CpOptions, tty: boolean): Promise<number> {
  process.stdin.destroy() // A pull reads nothing from stdin.
  const progress = new Progress('pull', null)
  const out = stdoutSink()
  return await withProgress(progress, async () => {
    const { exit } = await runRemote({
      socketPath: o.socketPath,
      args: ['cp', o.src, '-'],
      tty,
      onStdout: (c) => { progress.add(c.length); return out.write(c) },
      onStderr: (c) => progress.print(c),
    })
    await out.flush() // A write that failed after the last chunk is a failed pull too.
    return exit
  })
}

/** Pull by path: the server writes the snapshot beside DST, fsyncs it and renames it in. */
export async function pullPath (o: CpOptions, tty: boolean, target: PullDestination): Promise<number> {
  const progress = new Progress('pull', null)
  return await withProgress(progress, async () => (await runRemote({
    socketPath: o.socketPath, args: ['cp', o.src, target.path], tty, onStdout: forwardStdout, onStderr: (c) => progress.print(c),
  })).exit)
}

/**
 * Pull by streaming the snapshot here (the server cannot see DST, or DST is a FIFO or a device):
 * into a temp file renamed over DST, or written through into a FIFO or a device, never
 * replacing it (opened without O_CREAT; a FIFO's open waits for its reader, as a shell's does).
 */
export async function pullFile (o: CpOptions, tty: boolean, target: PullDestination): Promise<number> {
  const dest = target.path
  const temp = target.through ? null : tempPathFor(dest)
  let fh: fsp.FileHandle
  try {
    fh = temp === null ? await fsp.open(dest, constants.O_WRONLY | constants.O_NOCTTY) : await createExclusive(temp)
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot write ${o.dst}: ${(err as Error).message}`)
  }
  let ok = false
  let written = 0
  const progress = new Progress('pull', null)
  try {
    return await withProgress(progress, async () => {
      const reply = await runRemote({
        socketPath: o.socketPath,
        args: ['cp', o.src, '-'],
        tty,
        // Written at once (a file takes it): no thread pool round trip per socket chunk. Every
        // byte is written; a full disk is named with what got there.
        onStdout: (c) => {
          progress.add(c.length)
          try {
            writeAllSync((buf, off) => { const n = writeSync(fh.fd, buf, off); written += n; return n }, c)
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code
            if (code === 'ENOSPC' || code === 'EDQUOT') throw new HotswapError('HOTSWAP_ERR_NO_SPACE', `no space left for ${dest}: wrote ${written} bytes of the snapshot`)
            throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot write ${dest}: ${(err as Error).message} (wrote ${written} bytes of the snapshot)`)
          }
        },
        onStderr: (c) => progress.print(c),
      })
      if (reply.exit !== ExitCodes.ok) return reply.exit
      progress.endTransfer()
      if (temp !== null) await fh.sync()
      await fh.close()
      if (temp !== null) await fsp.rename(temp, dest)
      ok = true
      // Not after the database's bytes when DST is this process's stdout (/dev/stdout, a pipe).
      if (!isOurStdout(target)) process.stdout.write('OK\n')
      return ExitCodes.ok
    })
  } finally {
    if (!ok) {
      await fh.close().catch(() => {})
      if (temp !== null) await fsp.rm(temp, { force: true })
    }
  }
}

/**
 * A pull's bytes to this process's stdout, and what became of them. A full disk under
 * `> backup.sqlite3`, or a pipe whose reader failed, is reported by stdout as an 'error'
 * event; with no listener the CLI died with a stack trace (or waited for a 'drain' that
 * never came). Here it stops the pull with a coded error. A file (or a device) is written
 * here, to fd 1, to the last byte: Node's stream for it (SyncWriteStream) ignores the count
 * writeSync returns, and a disk that filled during the last write lost its end without a word.
 */
function stdoutSink (): { write: (c: Buffer) => void | Promise<void>, flush: () => Promise<void> } {
  let failure: NodeJS.ErrnoException | null = null
  let handed = 0
  let wake: (() => void) | null = null
  let direct = false
  try {
    const st = fstatSync(1)
    direct = process.stdout.isTTY !== true && (st.isFile() || st.isCharacterDevice() || st.isBlockDevice())
  } catch { /* no fd 1: process.stdout reports it */ }
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { failure ??= err; wake?.() })
  const check = (): void => {
    if (failure === null) return
    if (failure.code === 'ENOSPC' || failure.code === 'EDQUOT') {
      throw new HotswapError('HOTSWAP_ERR_NO_SPACE', `no space left on stdout: the snapshot stopped within its first ${handed} bytes`)
    }
    throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot write stdout (${failure.message}): the snapshot stopped within its first ${handed} bytes`)
  }
  return {
    write: (c) => {
      check()
      if (direct) {
        try {
          writeAllSync((buf, off) => { const n = writeSync(1, buf, off); handed += n; return n }, c)
        } catch (err) {
          failure = err as NodeJS.ErrnoException
          check()
        }
        return
      }
      handed += c.length
      if (process.stdout.write(c)) return
      return new Promise<void>((resolve, reject) => {
        wake = () => { try { check() } catch (err) { reject(err) } }
        process.stdout.once('drain', () => { wake = null; resolve() })
      })
    },
    flush: async () => {
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()))
      await new Promise((resolve) => setImmediate(resolve))
      check()
    },
  }
}

function isOurStdout (target: PullDestination): boolean {
  if (!target.through || target.st === null) return false
  try {
    const out = fstatSync(1)
    return out.dev === target.st.dev && out.ino === target.st.ino
  } catch {
    return false
  }
}
