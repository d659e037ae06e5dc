// The fleet tests' hosts, all on this machine: host i is its own OpenSSH sshd on 127.0.0.(i+1),
// with its own directory, reached with the system ssh client through a per-run config file.
//
//   startHosts(t, n) ── temp dir: client key, ssh config (ssh -F), known_hosts, cm/ (control sockets)
//     └ per host: hostN/ (db/, serve logs), host key, sshd_config ── /usr/sbin/sshd -D -e -f
//       then its control master (ssh -fN), so a round trip costs milliseconds from the first one
//   ssh(host, command) ── ssh -F config hostN -- command
//   serveOn(host) ── over ssh: cd hostN && setsid node BIN serve … & (its pid printed back)
//   cutOff/restore ── an iptables DROP on the host's sshd, only in the file's own network
//                     namespace (netns.ts)
//   stop() ── (t.after) serves, control masters (ssh -O exit), sshds and their sessions, all by
//             pid; rules removed; the temp dir removed

import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { reapForwards } from '../../src/client/fleet/ssh.js'
import type { TestContext } from './files.js'
import { dropTcp, undropTcp } from './netns.js'
import { BIN, fixture, freePort, jsonLines, listening, runProcess, type CliResult } from './serve.js'
import { descendants, isRunning, sleep, waitUntil } from './wait.js'

const SSHD = '/usr/sbin/sshd'

export interface Host {
  /** Its name in the ssh config: host1, host2, … */
  name: string
  /** 127.0.0.2, 127.0.0.3, … */
  address: string
  /** Its sshd's port. */
  port: number
  /** Its own directory: the working directory of its serve, with db/ for its databases. */
  dir: string
  sshdPid: number
}

export interface RemoteServe {
  host: Host
  pid: number
  /** The app's HTTP port (the fixture apps listen on 127.0.0.1). */
  port: number
  /** Its control socket: the default one, under the host's directory. */
  socket: string
  /** What it printed so far (its log file on the host). */
  output: () => string
  logs: () => Array<Record<string, unknown>>
  /** SIGTERM by its pid, then waits until it is gone (SIGKILL after 20 s). */
  stop: () => Promise<void>
}

export interface RemoteServeOptions {
  /** The app (default test/fixtures/app.mjs). */
  app?: string
  /** Its databases, relative to the host's directory (default db/live.sqlite3). */
  dbs?: string[]
  workers?: number
  args?: string[]
  env?: Record<string, string>
}

export interface Fleet {
  dir: string
  /** The client config: `ssh -F config hostN`. */
  config: string
  hosts: Host[]
  /**
   * Runs `command` on the host through the system ssh (its shell); `input` piped to its stdin;
   * `options` go before the host (`['-S', 'none']`: a connection of its own, not the master's).
   */
  ssh: (host: Host, command: string, opts?: { input?: Buffer | string, timeoutMs?: number, options?: string[] }) => Promise<CliResult>
  /** The real CLI on the host, run in the host's directory: `cd DIR && node BIN ARGS…`. */
  hotswap: (host: Host, args: string[], opts?: { input?: Buffer | string, timeoutMs?: number }) => Promise<CliResult>
  /** Starts `hotswap serve` on the host over ssh, detached; resolves once its workers listen. */
  serveOn: (host: Host, opts?: RemoteServeOptions) => Promise<RemoteServe>
  /** The pid of the host's control master, if one runs. */
  masterPid: (host: Host) => Promise<number | undefined>
  /** Every pid the fleet runs now: sshds and their sessions, serves and their workers, masters. */
  processes: () => Promise<number[]>
  /** SIGKILLs the host's sshd and every session it runs (the coordinator's connection with them). */
  killSshd: (host: Host) => Promise<void>
  /** Starts the host's sshd again, on its address and port, with its host key. */
  restartSshd: (host: Host) => Promise<void>
  /** Drops every packet to the host's sshd (network namespace only, see netns.ts). */
  cutOff: (host: Host) => void
  restore: (host: Host) => void
  stop: () => Promise<void>
}

/** Shell-quotes one word for the remote shell. */
export function sh (word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`
}

async function keygen (path: string, comment: string): Promise<void> {
  const r = await runProcess('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { cwd: tmpdir() })
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`)
}

async function stopPid (pid: number, timeoutMs = 20_000): Promise<void> {
  try { process.kill(pid, 'SIGTERM') } catch { return }
  try {
    await waitUntil(`pid ${pid} to exit`, () => !isRunning(pid), timeoutMs)
  } catch {
    try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    await waitUntil(`pid ${pid} to die`, () => !isRunning(pid), 5_000)
  }
}

async function startSshd (dir: string, host: Omit<Host, 'sshdPid'>, authorizedKeys: string, children: ChildProcess[]): Promise<number> {
  const key = join(dir, `${host.name}_host_key`)
  await keygen(key, host.name)
  const config = join(dir, `${host.name}_sshd_config`)
  writeFileSync(config, [
    `ListenAddress ${host.address}:${host.port}`,
    `HostKey ${key}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    `PidFile ${join(dir, `${host.name}_sshd.pid`)}`,
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    // A fleet command may run several sessions at once through one master.
    'MaxSessions 100',
    // The hosts log in as this machine's user, whose ~/.bashrc is a developer's (pyenv on one
    // machine: ~300 ms per command); bash run by sshd reads it only when it is the first shell
    // (SHLVL unset or 0), so sessions start with SHLVL=1.
    'SetEnv SHLVL=1',
    '',
  ].join('\n'))
  return await runSshd(config, host.name, children)
}

/** sshd -D on its config file, once it listens. */
async function runSshd (config: string, name: string, children: ChildProcess[]): Promise<number> {
  const host = { name }
  // sshd refuses to start without its privilege-separation directory (made here when allowed).
  try { mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }) } catch { /* sshd says why */ }
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] })
  children.push(child)
  let err = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { err += d })
  await waitUntil(`sshd of ${host.name} to listen`, () => {
    if (child.exitCode !== null) throw new Error(`sshd of ${host.name} exited ${child.exitCode}: ${err}`)
    return /Server listening on/.test(err)
  }, 10_000)
  return child.pid as number
}

/**
 * n hosts (host1 on 127.0.0.2, …), each its own sshd with its own directory, and a client config
 * reaching them; everything is stopped by its pid in `t.after`, even when the test fails.
 */
export async function startHosts (t: TestContext, n: number): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'hotswap-fleet-'))
  const config = join(dir, 'ssh_config')
  const clientKey = join(dir, 'client_key')
  const sshds: ChildProcess[] = []
  const serves: RemoteServe[] = []
  const hosts: Host[] = []
  const cut = new Set<Host>()

  const ssh: Fleet['ssh'] = async (host, command, { options = [], ...opts } = {}) =>
    await runProcess('ssh', ['-F', config, ...options, host.name, '--', command], { cwd: dir, timeoutMs: 30_000, ...opts })
  const control = async (host: Host, op: 'check' | 'exit'): Promise<CliResult> =>
    await runProcess('ssh', ['-F', config, '-O', op, host.name], { cwd: dir, timeoutMs: 10_000 })
  const masterPid: Fleet['masterPid'] = async (host) => {
    const m = /pid=(\d+)/.exec((await control(host, 'check')).stderr)
    return m === null ? undefined : Number(m[1])
  }

  let stopped: Promise<void> | undefined
  const stop = async (): Promise<void> => { stopped ??= stopAll(); await stopped }
  const stopAll = async (): Promise<void> => {
    const errors: string[] = []
    const attempt = async (what: string, fn: () => unknown): Promise<void> => {
      try { await fn() } catch (err) { errors.push(`${what}: ${(err as Error).message}`) }
    }
    for (const host of cut) await attempt(`restore ${host.name}`, () => fleet.restore(host))
    await Promise.all(serves.map(async (s) => await attempt(`stop serve on ${s.host.name}`, s.stop)))
    await Promise.all(hosts.map(async (host) => await attempt(`master of ${host.name}`, async () => {
      const pid = await masterPid(host)
      await control(host, 'exit')
      if (pid !== undefined) await stopPid(pid, 5_000)
      if (existsSync(join(dir, 'cm', host.name))) throw new Error('its control socket is left')
    })))
    // The forwarded sockets a killed coordinator left in the shared control directory.
    reapForwards()
    await Promise.all(sshds.map(async (child) => await attempt(`sshd ${child.pid ?? '?'}`, async () => {
      if (child.pid === undefined) return
      const sessions = descendants(child.pid)
      await stopPid(child.pid)
      for (const pid of sessions) await stopPid(pid, 5_000)
    })))
    rmSync(dir, { recursive: true, force: true })
    if (errors.length > 0) throw new Error(`fleet clean-up: ${errors.join('; ')}`)
  }
  t.after(stop)

  await keygen(clientKey, 'hotswap-fleet-test')
  mkdirSync(join(dir, 'cm'), { mode: 0o700 })
  hosts.push(...await Promise.all(Array.from({ length: n }, async (_, i) => {
    const address = `127.0.0.${i + 2}`
    const host = { name: `host${i + 1}`, address, port: await freePort(address), dir: join(dir, `host${i + 1}`) }
    mkdirSync(join(host.dir, 'db'), { recursive: true })
    return { ...host, sshdPid: await startSshd(dir, host, `${clientKey}.pub`, sshds) }
  })))
  writeFileSync(config, hosts.map((host) => [
    `Host ${host.name}`,
    `  HostName ${host.address}`,
    `  Port ${host.port}`,
    `  User ${userInfo().username}`,
    `  IdentityFile ${clientKey}`,
    '  IdentitiesOnly yes',
    '  BatchMode yes',
    '  StrictHostKeyChecking no',
    `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
    '  LogLevel ERROR',
    '  ControlMaster auto',
    `  ControlPath ${join(dir, 'cm', host.name)}`,
    '  ControlPersist 60',
    '  ConnectTimeout 5',
    // A master whose host went silent (cut off) gives up after ~3 s instead of hanging.
    '  ServerAliveInterval 1',
    '  ServerAliveCountMax 3',
    '',
  ].join('\n')).join('\n'))
  // Each host's control master, up front: the tests' first round trip is already multiplexed.
  await Promise.all(hosts.map(async (host) => {
    const r = await runProcess('ssh', ['-F', config, '-fN', host.name], { cwd: dir, timeoutMs: 15_000 })
    if (r.code !== 0) throw new Error(`ssh ${host.name}: exit ${String(r.code)}: ${r.stderr}`)
    await waitUntil(`control master of ${host.name}`, async () => await masterPid(host), 5_000)
  }))

  const serveOn: Fleet['serveOn'] = async (host, opts = {}) => {
    const port = await freePort()
    const workers = opts.workers ?? 1
    const log = join(host.dir, `serve-${port}.log`)
    const env = Object.entries({ HOTSWAP_LOG_FORMAT: 'json', ...opts.env }).map(([k, v]) => `${k}=${sh(v)}`).join(' ')
    const args = [opts.app ?? fixture('app.mjs'), '--workers', String(workers), '--port', String(port),
      ...(opts.dbs ?? ['db/live.sqlite3']).flatMap((d) => ['--db', d]), ...(opts.args ?? [])]
    const command = `cd ${sh(host.dir)} && (${env} setsid ${sh(process.execPath)} ${sh(BIN)} serve ${args.map(sh).join(' ')} ` +
      `</dev/null >${sh(log)} 2>&1 & echo $!)`
    const r = await ssh(host, command)
    const pid = Number(r.stdout.toString().trim())
    if (r.code !== 0 || !Number.isInteger(pid) || pid <= 0) throw new Error(`serve on ${host.name}: exit ${String(r.code)}: ${r.stderr}`)
    const output = (): string => existsSync(log) ? readFileSync(log, 'utf8') : ''
    const served: RemoteServe = {
      host,
      pid,
      port,
      socket: join(host.dir, 'tmp', 'sockets', 'hotswap.sock'),
      output,
      logs: () => jsonLines(output()),
      stop: async () => { await stopPid(pid) },
    }
    serves.push(served)
    const deadline = Date.now() + 20_000
    while (listening(served.logs()) < workers) {
      if (!isRunning(pid) || Date.now() > deadline) throw new Error(`serve on ${host.name} did not start; output:\n${output()}`)
      await sleep(20)
    }
    return served
  }

  const fleet: Fleet = {
    dir,
    config,
    hosts,
    ssh,
    hotswap: async (host, args, opts) =>
      await ssh(host, `cd ${sh(host.dir)} && ${sh(process.execPath)} ${sh(BIN)} ${args.map(sh).join(' ')}`, opts),
    serveOn,
    masterPid,
    processes: async () => {
      const masters = await Promise.all(hosts.map(masterPid))
      return [
        ...sshds.flatMap((c) => c.pid === undefined ? [] : [c.pid, ...descendants(c.pid)]),
        ...serves.flatMap((s) => isRunning(s.pid) ? [s.pid, ...descendants(s.pid)] : []),
        ...masters.filter((p): p is number => p !== undefined),
      ]
    },
    killSshd: async (host) => {
      const pids = [host.sshdPid, ...descendants(host.sshdPid)]
      for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
      await waitUntil(`sshd of ${host.name} and its sessions to die`, () => !pids.some(isRunning), 10_000)
    },
    restartSshd: async (host) => {
      host.sshdPid = await runSshd(join(dir, `${host.name}_sshd_config`), host.name, sshds)
    },
    cutOff: (host) => { dropTcp(host.address, host.port); cut.add(host) },
    restore: (host) => { undropTcp(host.address, host.port); cut.delete(host) },
    stop,
  }
  return fleet
}
