// `commit --hold MS --ready` (a fleet host): the CLI, loaded and connected to nothing yet, prints
// READY and waits for a "start" line on stdin before it asks its server to pause. A fleet
// coordinator starts every host's pause at once, so that no host waits paused for another's
// process start-up (hundreds of milliseconds, and different on every host).
//
//   READY ─▶ "start\n" ─▶ the commit is sent (what stdin holds after the line goes to it: the go)
//            "abort", end of input ─▶ nothing is sent, exit 1

import type { Readable } from 'node:stream'
import { HotswapError } from '../shared/errors.js'

/**
 * `--ready` of a held commit or undo: READY printed, then the start line awaited; the error to
 * report when it does not come (or --ready without --hold), else undefined.
 */
export async function readyToStart (what: 'commit' | 'undo', hold: number | undefined, ready: boolean): Promise<HotswapError | undefined> {
  if (!ready) return undefined
  if (hold === undefined) return new HotswapError('HOTSWAP_ERR_USAGE', `--ready goes with --hold MS (${what} … --hold MS --ready)`)
  process.stdout.write('READY\n')
  if (await startLine(process.stdin)) return undefined
  return new HotswapError('HOTSWAP_ERR_ABORTED', `the held ${what} was not told to start: nothing was paused${what === 'commit' ? ', the stage stays' : ''}`)
}

/** true on a "start" line; false on any other line or the end of input. Stdin is left paused after the line. */
export async function startLine (stdin: Readable): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    let buf = Buffer.alloc(0)
    const finish = (ok: boolean): void => {
      stdin.off('data', onData)
      stdin.off('end', onEnd)
      stdin.off('error', onEnd)
      stdin.pause()
      resolve(ok)
    }
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c])
      const nl = buf.indexOf(0x0a)
      if (nl < 0) { if (buf.length > 64) finish(false); return }
      const rest = buf.subarray(nl + 1)
      const ok = buf.subarray(0, nl).toString('utf8').trim() === 'start'
      finish(ok)
      if (rest.length > 0) stdin.unshift(rest)
    }
    const onEnd = (): void => { finish(false) }
    stdin.on('data', onData)
    stdin.once('end', onEnd)
    stdin.once('error', onEnd)
  })
}
