// The cgroup CPU quota `--workers max` is capped by, read from cgroup files laid out in a temp
// folder as the kernel lays them out (v2's cpu.max, v1's cfs_quota_us/cfs_period_us).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { cgroupCpuLimit, maxWorkers } from '../../src/primary/cpu-quota.js'
import { type TestContext, testDir } from '../support/index.js'

/** A cgroup tree: `files` maps a path under the mount root to its contents. */
function tree (t: TestContext, self: string, files: Record<string, string>): { root: string, self: string } {
  const dir = testDir(t)
  const root = join(dir, 'cgroup')
  mkdirSync(root)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), `${text}\n`)
  }
  writeFileSync(join(dir, 'self'), self)
  return { root, self: join(dir, 'self') }
}

test('cgroup v2: "max 100000" is no limit; "200000 100000" is 2 CPUs; "150000 100000" rounds up to 2', (t) => {
  const v2 = (cpuMax: string): number | undefined => cgroupCpuLimit(tree(t, '0::/\n', { 'cgroup.controllers': 'cpu memory', 'cpu.max': cpuMax }))
  assert.equal(v2('max 100000'), undefined)
  assert.equal(v2('200000 100000'), 2)
  assert.equal(v2('150000 100000'), 2)
  assert.equal(v2('50000 100000'), 1)
})

test('cgroup v2: the process\'s own cgroup and the tightest of its ancestors', (t) => {
  const files = tree(t, '0::/system.slice/myapp.service\n', {
    'cgroup.controllers': 'cpu',
    'cpu.max': 'max 100000',
    'system.slice/cpu.max': '300000 100000',
    'system.slice/myapp.service/cpu.max': 'max 100000',
  })
  assert.equal(cgroupCpuLimit(files), 3, 'the slice\'s quota holds for the service inside it')
})

test('cgroup v2 in a container: /proc/self/cgroup names a path the mount does not have, the mount\'s root is read', (t) => {
  const files = tree(t, '0::/docker/4c2891d3f236\n', { 'cgroup.controllers': 'cpu', 'cpu.max': '100000 100000' })
  assert.equal(cgroupCpuLimit(files), 1)
})

test('cgroup v1: cpu.cfs_quota_us -1 is no limit; 250000 over 100000 is 3 CPUs, under cpu,cpuacct', (t) => {
  const v1 = (quota: string): number | undefined => cgroupCpuLimit(tree(t, '4:memory:/x\n3:cpu,cpuacct:/x\n1:name=systemd:/x\n', {
    'cpu,cpuacct/cpu.cfs_quota_us': '-1',
    'cpu,cpuacct/cpu.cfs_period_us': '100000',
    'cpu,cpuacct/x/cpu.cfs_quota_us': quota,
    'cpu,cpuacct/x/cpu.cfs_period_us': '100000',
  }))
  assert.equal(v1('-1'), undefined)
  assert.equal(v1('250000'), 3)
})

test('cgroup v1 mounted as cpu/ alone', (t) => {
  const files = tree(t, '1:cpu:/\n', { 'cpu/cpu.cfs_quota_us': '100000', 'cpu/cpu.cfs_period_us': '50000' })
  assert.equal(cgroupCpuLimit(files), 2)
})

test('no cgroup files, or garbage in them: no limit', (t) => {
  assert.equal(cgroupCpuLimit({ root: '/nonexistent', self: '/nonexistent/self' }), undefined)
  assert.equal(cgroupCpuLimit(tree(t, '0::/\n', { 'cgroup.controllers': 'cpu', 'cpu.max': 'garbage' })), undefined)
})

test('maxWorkers: the smaller of the cores available and the quota', (t) => {
  const cores = availableParallelism()
  assert.equal(maxWorkers(tree(t, '0::/\n', { 'cgroup.controllers': 'cpu', 'cpu.max': '100000 100000' })), 1)
  assert.equal(maxWorkers(tree(t, '0::/\n', { 'cgroup.controllers': 'cpu', 'cpu.max': `${(cores + 8) * 100000} 100000` })), cores)
  assert.equal(maxWorkers(tree(t, '0::/\n', { 'cgroup.controllers': 'cpu', 'cpu.max': 'max 100000' })), cores)
})
