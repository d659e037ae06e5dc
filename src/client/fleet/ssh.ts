// The system `ssh`, run for each remote step of a fleet command: the user's ssh configuration,
// keys, agent, jump hosts and known_hosts apply as they do for any ssh they run.
//
//   ssh [-F cfg] -o BatchMode=yes [-o ControlMaster=auto -o ControlPath=… -o ControlPersist=60]
//       HOST -- REMOTE 'arg1' 'arg2' …
//
// Multiplexing: where the user's configuration names no ControlPath for the host (`ssh -G`
// says "none"), ours is added, so that every step after the first costs one round trip on an
// open connection; where it names one, theirs is used as it is.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import { alive } from '../../shared/alive.js'
import { HotswapError } from '../../shared/errors.js'
import type { FleetHost } from './config.js'

/** One word for the remote shell, single-quoted. */
export function sh (word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`
}

export interface RemoteResult {
  /** ssh's exit status (the remote command's, or 255 when ssh itself failed); null when killed. */
  code: number | null
  stdout: string
  stderr: string
  timedOut: boolean
  ms: number
}

export interface SshOptions {
  sshConfig?: string
  timeoutMs: number
}

const controlDirPath = (): string => join(tmpdir(), `hotswap-ssh-${userInfo().uid}`)

/**
 * Where our control sockets live when the user's configuration has none: private to the user.
 * The name in the shared temp directory is predictable, so one made there first by someone else
 * (or left open to others) is refused: its sockets would carry this user's ssh sessions.
 */
export function controlDir (): string {
  const dir = controlDirPath()
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const st = lstatSync(dir)
  const uid = process.getuid?.()
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new HotswapError('HOTSWAP_ERR_SOCKET_UNSAFE',
      `${dir}, where the ssh control sockets go, is not a directory private to this user (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}); remove it, or name a ControlPath in your ssh config`)
  }
  return dir
}

/**
 * Removes the forwarded control sockets (forward.ts: fwd-PID-N.sock) of coordinators no longer
 * running, left by one killed mid-switch; returns their names. Never fails a command: a control
 * directory that is missing or not ours is left alone.
 */
export function reapForwards (): string[] {
  const removed: string[] = []
  let dir: string
  let names: string[]
  try {
    dir = controlDirPath()
    const st = lstatSync(dir)
    if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) return removed
    names = readdirSync(dir)
  } catch {
    return removed
  }
  for (const name of names) {
    const m = /^fwd-(\d+)-\d+\.sock$/.exec(name)
    if (m === null || Number(m[1]) === process.pid || alive(Number(m[1]))) continue
    rmSync(join(dir, name), { force: true })
    removed.push(name)
  }
  return removed
}

export class Ssh {
  readonly #o: SshOptions
  readonly #options = new Map<string, Promise<string[]>>()

  constructor (o: SshOptions) {
    this.#o = o
    reapForwards()
  }

  get timeoutMs (): number {
    return this.#o.timeoutMs
  }

  /** The options before the host: -F, batch mode, and multiplexing when the user has none. */
  async #optionsFor (host: FleetHost): Promise<string[]> {
    let options = this.#options.get(host.name)
    if (options === undefined) {
      options = (async () => {
        const base = [...(this.#o.sshConfig === undefined ? [] : ['-F', this.#o.sshConfig]), '-o', 'BatchMode=yes']
        const effective = await collect(spawn('ssh', [...base, '-G', host.name, '--'], { stdio: ['ignore', 'pipe', 'pipe'] }), 10_000)
        const controlPath = /^controlpath (.*)$/m.exec(effective.stdout)?.[1]
        if (effective.code !== 0 || (controlPath !== undefined && controlPath !== 'none')) return base
        return [...base, '-o', 'ControlMaster=auto', '-o', `ControlPath=${join(controlDir(), '%C')}`, '-o', 'ControlPersist=60']
      })()
      this.#options.set(host.name, options)
    }
    return await options
  }

  /** `ssh [options] ARGS… HOST` with the options every step uses (a control command: -O forward). */
  async control (host: FleetHost, args: string[]): Promise<RemoteResult> {
    return await collect(spawn('ssh', [...await this.#optionsFor(host), ...args, host.name], { stdio: ['ignore', 'pipe', 'pipe'] }), 10_000)
  }

  /** Starts `REMOTE args…` on the host; the caller owns its stdin. */
  async spawn (host: FleetHost, args: string[]): Promise<ChildProcessWithoutNullStreams> {
    const line = [host.remote, ...args.map(sh)].join(' ')
    return spawn('ssh', [...await this.#optionsFor(host), host.name, '--', line], { stdio: ['pipe', 'pipe', 'pipe'] })
  }

  /** Runs `REMOTE args…` on the host to its end (or the time out), `input` piped to its stdin. */
  async run (host: FleetHost, args: string[], opts: { input?: Readable, timeoutMs?: number } = {}): Promise<RemoteResult> {
    const child = await this.spawn(host, args)
    child.stdin.on('error', () => {}) // ssh gone: its exit status says why.
    if (opts.input === undefined) child.stdin.end()
    else {
      opts.input.on('error', () => { child.kill('SIGTERM') })
      opts.input.pipe(child.stdin)
    }
    try {
      return await collect(child, opts.timeoutMs ?? this.#o.timeoutMs)
    } finally {
      opts.input?.destroy() // A host that refused early leaves the rest unread: its file closed.
    }
  }
}

/**
 * A process's output and status. Done on 'close'; or shortly after its exit when a control
 * master it started in the background still holds its stderr open.
 */
export async function collect (child: ReturnType<typeof spawn>, timeoutMs: number): Promise<RemoteResult> {
  const started = performance.now()
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (c: string) => { stdout += c })
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  let timedOut = false
  return await new Promise<RemoteResult>((resolve) => {
    let settled = false
    let grace: NodeJS.Timeout | undefined
    const done = (code: number | null): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(grace)
      resolve({ code, stdout, stderr, timedOut, ms: performance.now() - started })
    }
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGTERM') }, timeoutMs)
    child.once('error', (err) => { stderr += `${err.message}\n`; done(null) })
    child.once('exit', (code) => { grace = setTimeout(() => done(code), 500) })
    child.once('close', (code) => done(code))
  })
}
