// Which hosts a fleet command runs on, and how it reaches hotswap on each: `--hosts h1,h2,…`
// and the "fleet" section of the config file (shared/config-file.ts finds the file; this file
// checks the section). Flags win over the file; a host named by --hosts takes its per-host
// "remote" from the file when the file lists it.
//
//   { "fleet": { "hosts": ["web1", { "name": "web2", "remote": "cd /srv/app && npx hotswap" }],
//                "remote": "cd /srv/app && hotswap", "sshConfig": "~/.ssh/fleet", "hold": 10000,
//                "timeout": 60000 } }

import { homedir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { readConfigFile } from '../../shared/config-file.js'
import { HotswapError } from '../../shared/errors.js'

export interface FleetHost {
  /** Its ssh name (a Host of the ssh config, or user@address). */
  name: string
  /** The shell command line that runs hotswap there; the arguments are appended, quoted. */
  remote: string
}

export interface FleetSettings {
  hosts: FleetHost[]
  /** ssh -F FILE; else the user's own ssh configuration applies. */
  sshConfig?: string
  /** How long each host holds its pause waiting for the go (commit --hold). */
  holdMs: number
  /** The longest any one remote step may take (a stage includes the transfer). */
  timeoutMs: number
  /** Where the coordinator records its decisions: .hotswap/fleet/ beside the config file. */
  stateDir: string
}

export interface FleetFlags {
  hosts?: string
  remote?: string
  sshConfig?: string
  hold?: number
  timeout?: number
  config?: string
}

export const FLEET_DEFAULTS = { remote: 'hotswap', holdMs: 10_000, timeoutMs: 60_000 }
const KNOWN = ['hosts', 'remote', 'sshConfig', 'hold', 'timeout']

function bad (source: string, field: string, what: string): HotswapError {
  return new HotswapError('HOTSWAP_ERR_CONFIG', `${source}: "fleet.${field}" ${what}`)
}

/** An ssh destination that ssh could take for an option ("-oProxyCommand=…") is refused. */
export function hostNameProblem (name: string): string | null {
  if (name === '') return 'is empty'
  if (name.startsWith('-')) return 'starts with "-" (ssh would read it as an option)'
  if (/[\s\0-\x1f\x7f]/.test(name)) return 'contains white space or a control character'
  return null
}

function nonEmpty (v: unknown, source: string, field: string): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || v.trim() === '') throw bad(source, field, 'must be a non-empty string')
  return v
}

function ms (v: unknown, source: string, field: string, max: number): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw bad(source, field, `must be an integer of milliseconds, 1 to ${max} (got ${JSON.stringify(v)})`)
  return v
}

/** The "fleet" section, checked: every field named when it is wrong. */
export function parseFleetSection (raw: unknown, source: string): { hosts: Array<{ name: string, remote?: string }>, remote?: string, sshConfig?: string, holdMs?: number, timeoutMs?: number } {
  if (raw === undefined) return { hosts: [] }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new HotswapError('HOTSWAP_ERR_CONFIG', `${source}: "fleet" must be an object`)
  const f = Object.fromEntries(Object.entries(raw)) as Record<string, unknown>
  for (const key of Object.keys(f)) {
    if (!KNOWN.includes(key)) throw bad(source, key, `is not a known setting (known: ${KNOWN.join(', ')})`)
  }
  if (f.hosts !== undefined && !Array.isArray(f.hosts)) throw bad(source, 'hosts', 'must be a list of host names or { "name": …, "remote": … }')
  const hosts = ((f.hosts ?? []) as unknown[]).map((h, i) => {
    const entry = typeof h === 'string' ? { name: h } : h
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw bad(source, `hosts[${i}]`, 'must be a host name or { "name": …, "remote": … }')
    const e = Object.fromEntries(Object.entries(entry)) as Record<string, unknown>
    for (const key of Object.keys(e)) {
      if (key !== 'name' && key !== 'remote') throw bad(source, `hosts[${i}].${key}`, 'is not a known setting (known: name, remote)')
    }
    if (typeof e.name !== 'string') throw bad(source, `hosts[${i}].name`, 'must be a string')
    const problem = hostNameProblem(e.name)
    if (problem !== null) throw bad(source, `hosts[${i}].name`, problem)
    const remote = nonEmpty(e.remote, source, `hosts[${i}].remote`)
    return remote === undefined ? { name: e.name } : { name: e.name, remote }
  })
  return {
    hosts,
    remote: nonEmpty(f.remote, source, 'remote'),
    sshConfig: nonEmpty(f.sshConfig, source, 'sshConfig'),
    holdMs: ms(f.hold, source, 'hold', 600_000),
    timeoutMs: ms(f.timeout, source, 'timeout', 86_400_000),
  }
}

/** The flags over the config file's section; no host at all is a usage error (but for `fleet recover`: its record names them). */
export async function fleetSettings (cwd: string, flags: FleetFlags, opts: { hostsOptional?: boolean } = {}): Promise<FleetSettings> {
  const read = await readConfigFile(cwd, flags.config)
  const base = read === undefined ? cwd : dirname(read.file)
  const section = parseFleetSection(read?.config.fleet, read?.file ?? 'config')
  const remote = flags.remote ?? section.remote ?? FLEET_DEFAULTS.remote
  const listed = new Map(section.hosts.map((h) => [h.name, h]))
  let names = section.hosts.map((h) => h.name)
  if (flags.hosts !== undefined) {
    names = flags.hosts.split(',').map((n) => n.trim()).filter((n) => n !== '')
    for (const n of names) {
      const problem = hostNameProblem(n)
      if (problem !== null) throw new HotswapError('HOTSWAP_ERR_USAGE', `--hosts: the host name ${JSON.stringify(n)} ${problem}`)
    }
  }
  if (names.length === 0 && opts.hostsOptional !== true) throw new HotswapError('HOTSWAP_ERR_USAGE', 'no hosts: give --hosts web1,web2,… or "fleet": { "hosts": [...] } in hotswap.config.json')
  const twice = names.find((n, i) => names.indexOf(n) !== i)
  if (twice !== undefined) throw new HotswapError('HOTSWAP_ERR_USAGE', `the host ${twice} is named twice`)
  const sshConfig = flags.sshConfig ?? section.sshConfig
  return {
    hosts: names.map((name) => ({ name, remote: flags.remote ?? listed.get(name)?.remote ?? remote })),
    sshConfig: sshConfig === undefined ? undefined : sshConfig.startsWith('~/') ? join(homedir(), sshConfig.slice(2)) : isAbsolute(sshConfig) ? sshConfig : resolve(flags.sshConfig !== undefined ? cwd : base, sshConfig),
    holdMs: flags.hold ?? section.holdMs ?? FLEET_DEFAULTS.holdMs,
    timeoutMs: flags.timeout ?? section.timeoutMs ?? FLEET_DEFAULTS.timeoutMs,
    stateDir: resolve(base, '.hotswap', 'fleet'),
  }
}
