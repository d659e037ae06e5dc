// A host's held commit (or undo) spoken on its control socket, forwarded through its ssh master
// (forward.ts): no `hotswap` CLI started on the host, so PAUSED and the go each cross one hop
// less (primary ─ sshd ─ master ─ us, rather than primary ─ CLI ─ sshd ─ master ─ us).
//
//   the control frame `commit ID --hold MS --ready` ─▶ stdout frames READY, CLOCK …, PAUSED, OK
//   "clock", "start T", "go", "abort" ─▶ stdin frames
//
// Its end is shaped as the CLI's would be (exit status, stdout, stderr with the ERROR [CODE]
// line), so reasons.ts reads both alike; a connection lost with the master gone reads as ssh's
// own failure (exit 255). A dropped ssh closes the host's end too: its primary resumes unchanged.

import { performance } from 'node:perf_hooks'
import { PassThrough } from 'node:stream'
import { exitCodeOf, formatError, toHotswapError } from '../../shared/errors.js'
import { runRemote } from '../connection.js'
import type { FleetHost } from './config.js'
import type { Forward } from './forward.js'
import { heldOn, type Held, type HeldPhase } from './held.js'
import type { RemoteResult, Ssh } from './ssh.js'

export function heldOverSocket (ssh: Ssh, host: FleetHost, fwd: Forward, args: string[], timeoutMs: number, watch: (phase: HeldPhase) => void): Held {
  const startedAt = performance.now()
  const stdin = new PassThrough()
  stdin.on('error', () => {}) // the connection gone: its end says why.
  const stop = new AbortController()
  let err = ''
  let out = ''
  let timedOut = false
  let seen: (text: string) => void = () => {}
  const timer = setTimeout(() => { timedOut = true; stop.abort() }, timeoutMs)

  const run = async (): Promise<RemoteResult> => {
    let code: number | null
    try {
      const reply = await runRemote({
        socketPath: fwd.local,
        args,
        tty: false,
        stdin,
        signal: stop.signal,
        onStdout: (c) => { const text = c.toString('utf8'); out += text; seen(text) },
        onStderr: (c) => { err += c.toString('utf8') },
      })
      code = timedOut ? null : reply.exit
      if (reply.code !== undefined && !err.includes(`ERROR [${reply.code}]`)) err += `ERROR [${reply.code}] ${reply.error ?? ''}\n`
    } catch (e) {
      const lost = toHotswapError(e)
      code = exitCodeOf(lost)
      // The connection went away: through a master that is gone, it is ssh that failed.
      const check = lost.code === 'HOTSWAP_ERR_CONNECTION_LOST' || lost.code === 'HOTSWAP_ERR_NO_SERVER' ? await masterCheck(ssh, host) : undefined
      if (check !== undefined && check.code !== 0) {
        code = 255
        err += `the ssh connection to ${host.name} dropped: ${check.stderr.trim().split('\n').at(-1) ?? ''}\n`
      } else {
        err += formatError(lost)
      }
    }
    clearTimeout(timer)
    await fwd.cancel()
    return { code, stdout: out, stderr: err, timedOut, ms: performance.now() - startedAt }
  }

  const done = run()
  const made = heldOn(host, 'socket', {
    write: (line) => { stdin.write(line) },
    end: (line) => { stdin.end(line) },
    done,
  }, watch)
  seen = made.seen
  return made.held
}

/** `ssh -O check`: whether the host's master still runs (after a little while for it to notice). */
async function masterCheck (ssh: Ssh, host: FleetHost): Promise<RemoteResult> {
  await new Promise((resolve) => setTimeout(resolve, 200))
  return await ssh.control(host, ['-O', 'check'])
}
