// How many CPUs `--workers max` may use: the cores this process may run on
// (os.availableParallelism(), which honours the affinity mask and cpuset), capped by the CPU
// quota of its cgroup. A container run with `--cpus 1` on a 16-core host sees 16 cores and a
// quota of one CPU: 16 workers there shared one CPU's time and each got 1/16 of it.
//
//   /proc/self/cgroup ─▶ this process's cgroup path
//     cgroup v2  "0::/PATH"          ─▶ ROOT/PATH/cpu.max, then every ancestor's: "max 100000"
//                                       (no limit) or "200000 100000" (quota, period in µs)
//     cgroup v1  "N:cpu,cpuacct:/P"  ─▶ ROOT/cpu[,cpuacct]/P/cpu.cfs_quota_us (-1: no limit)
//                                       and cpu.cfs_period_us, then every ancestor's
//   the tightest limit found ─▶ ceil(quota / period) CPUs; none found, or unreadable ─▶ no cap
//
// Inside a container the cgroup namespace (or the bind mount of its own cgroup) puts the
// container's cgroup at the mount's root, while /proc/self/cgroup may still name the host's
// path: a path that does not exist under the mount is read at the mount's root instead.

import { availableParallelism } from 'node:os'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

export interface CgroupFiles {
  /** Where the cgroup filesystems are mounted (default /sys/fs/cgroup). */
  root?: string
  /** The process's cgroup membership (default /proc/self/cgroup). */
  self?: string
}

function read (path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** The cgroup's directory under `mount`, then each of its ancestors up to the mount. */
function upFrom (mount: string, path: string): string[] {
  const top = resolve(mount)
  let dir = resolve(top, `.${path}`)
  // Not under the mount (a path outside this cgroup namespace, "/.."), or not there: the root.
  if (!(dir === top || dir.startsWith(`${top}/`)) || !existsSync(dir)) dir = top
  const out: string[] = []
  for (;;) {
    out.push(dir)
    if (dir === top) return out
    dir = dirname(dir)
  }
}

/** CPUs a quota/period pair allows, or undefined for no limit (or a value that is not one). */
function cpusOf (quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined
  return Math.max(1, Math.ceil(quota / period))
}

function tightest (limits: Array<number | undefined>): number | undefined {
  const set = limits.filter((n): n is number => n !== undefined)
  return set.length === 0 ? undefined : Math.min(...set)
}

/** The CPU quota of this process's cgroup, as whole CPUs (rounded up), or undefined for none. */
export function cgroupCpuLimit (files: CgroupFiles = {}): number | undefined {
  const root = files.root ?? '/sys/fs/cgroup'
  const membership = read(files.self ?? '/proc/self/cgroup')
  if (membership === undefined) return undefined
  const limits: Array<number | undefined> = []
  for (const line of membership.split('\n')) {
    // hierarchy-ID:controller-list:cgroup-path (cgroups(7)); the path may hold colons.
    const m = /^(\d+):([^:]*):(.*)$/.exec(line)
    if (m === null) continue
    const [, id, controllers, path] = m as unknown as [string, string, string, string]
    if (id === '0' && controllers === '') {
      // v2: the unified hierarchy, mounted at the root (or at root/unified beside v1's).
      const top = existsSync(join(root, 'cgroup.controllers')) ? root : join(root, 'unified')
      for (const dir of upFrom(top, path)) {
        const f = read(join(dir, 'cpu.max'))?.split(/\s+/)
        if (f === undefined || f[0] === 'max') continue
        limits.push(cpusOf(Number(f[0]), Number(f[1] ?? 100_000)))
      }
    } else if (controllers.split(',').includes('cpu')) {
      // v1: mounted as root/cpu,cpuacct (often with root/cpu linked to it), or root/cpu.
      const top = [join(root, controllers), join(root, 'cpu')].find((d) => existsSync(d))
      if (top === undefined) continue
      for (const dir of upFrom(top, path)) {
        limits.push(cpusOf(Number(read(join(dir, 'cpu.cfs_quota_us'))), Number(read(join(dir, 'cpu.cfs_period_us')))))
      }
    }
  }
  return tightest(limits)
}

/** What `--workers max` runs: the cores available, capped by the cgroup's CPU quota. */
export function maxWorkers (files: CgroupFiles = {}): number {
  const cores = availableParallelism()
  return Math.min(cores, cgroupCpuLimit(files) ?? cores)
}
