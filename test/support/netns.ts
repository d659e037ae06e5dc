// A test file run in a network namespace of its own, so that its loopback addresses and any
// iptables rule it adds (a fleet host cut off) never touch the machine's own loopback:
//
//   outer process ── unshare --net ── sh: ip link set lo up ── exec node <same args> (the file again)
//        │ passes its stdout/stderr through (the test runner reads them), forwards SIGTERM/SIGINT,
//        └ exits with the inner's status
//
// dropTcp() refuses unless the process is in a namespace that differs from the one it was
// re-run from (the outer's id travels in an environment variable).

import { spawn, spawnSync } from 'node:child_process'
import { readlinkSync } from 'node:fs'

/** The id of the namespace the file was re-run from, set for the inner process. */
export const OUTER_NETNS_ENV = 'HOTSWAP_TEST_OUTER_NETNS'
const OUTER = OUTER_NETNS_ENV

/** This process's network namespace, as /proc names it (net:[4026531833]). */
export function netnsId (): string {
  return readlinkSync('/proc/self/ns/net')
}

/** True when this process runs in a network namespace other than the one its test file was started in. */
export function inOwnNetworkNamespace (): boolean {
  const outer = process.env[OUTER]
  return outer !== undefined && outer !== netnsId()
}

export interface Isolation {
  /** The file runs in its own network namespace: dropTcp() may be used. */
  isolated: boolean
  /** Why not, when it does not (no unshare, not allowed, no iptables). */
  why?: string
}

/**
 * Call at the top of a test file, before any test (with top-level await). In the outer process it
 * re-runs the file under `unshare --net` and never resolves (the process exits with the inner's
 * status); inside the namespace, or where none can be made (then `isolated` is false and `why`
 * says why, so that the tests that need it fail saying so), it resolves.
 */
export async function ownNetworkNamespace (): Promise<Isolation> {
  if (inOwnNetworkNamespace()) return { isolated: true }
  if (process.env[OUTER] !== undefined) return { isolated: false, why: 'unshare --net left the test in its starting namespace' }
  for (const tool of ['iptables', 'ip']) {
    if (spawnSync('sh', ['-c', `command -v ${tool} || [ -x /usr/sbin/${tool} ]`]).status !== 0) return { isolated: false, why: `${tool} is not installed` }
  }
  const probe = spawnSync('unshare', ['--net', '--', 'sh', '-c', 'PATH=$PATH:/usr/sbin ip link set lo up'], { encoding: 'utf8' })
  if (probe.status !== 0) return { isolated: false, why: `unshare --net is not allowed here: ${(probe.error?.message ?? probe.stderr).trim()}` }
  const child = spawn('unshare', ['--net', '--', 'sh', '-c', 'PATH=$PATH:/usr/sbin; ip link set lo up && exec "$@"', 'sh',
    process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [OUTER]: netnsId() },
  })
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal))
  child.once('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)))
  return await new Promise<never>(() => {})
}

function iptables (action: '-A' | '-D', address: string, port: number): void {
  if (!inOwnNetworkNamespace()) {
    throw new Error('refusing to change iptables outside the test\'s own network namespace (start the file with ownNetworkNamespace())')
  }
  const rule = [action, 'INPUT', '-d', address, '-p', 'tcp', '--dport', String(port), '-j', 'DROP']
  const r = spawnSync('iptables', ['-w', ...rule], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin` } })
  if (r.status !== 0) throw new Error(`iptables ${rule.join(' ')} failed: ${(r.error?.message ?? r.stderr).trim()}`)
}

/** Drops every TCP packet to address:port (a connect hangs, as on a dead network), in this namespace only. */
export function dropTcp (address: string, port: number): void {
  iptables('-A', address, port)
}

/** Removes the rule dropTcp() added. */
export function undropTcp (address: string, port: number): void {
  iptables('-D', address, port)
}
