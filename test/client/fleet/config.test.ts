// The fleet's hosts and settings (src/client/fleet/config.ts): the config file's "fleet" section
// under the flags, a host's own "remote", paths relative to the file; every wrong field named.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fleetSettings, parseFleetSection } from '../../../src/client/fleet/config.js'
import { testDir } from '../../support/index.js'

test('the section: hosts by name or with their own remote; flags win; --hosts keeps a listed host\'s remote', async (t) => {
  const dir = testDir(t)
  mkdirSync(join(dir, 'sub'))
  writeFileSync(join(dir, 'hotswap.config.json'), JSON.stringify({
    app: 'app.mjs',
    fleet: { hosts: ['web1', { name: 'web2', remote: 'cd /srv && npx hotswap' }], remote: 'cd /srv && hotswap', sshConfig: 'ssh_config', hold: 5000 },
  }))
  const s = await fleetSettings(join(dir, 'sub'), { config: '../hotswap.config.json' })
  assert.deepEqual(s.hosts, [{ name: 'web1', remote: 'cd /srv && hotswap' }, { name: 'web2', remote: 'cd /srv && npx hotswap' }])
  assert.equal(s.sshConfig, join(dir, 'ssh_config'), 'relative to the config file')
  assert.equal(s.holdMs, 5000)
  assert.equal(s.timeoutMs, 60_000)
  assert.equal(s.stateDir, join(dir, '.hotswap', 'fleet'))

  const f = await fleetSettings(dir, { hosts: 'web2,web3', hold: 200, sshConfig: '~/.ssh/fleet' })
  assert.deepEqual(f.hosts, [{ name: 'web2', remote: 'cd /srv && npx hotswap' }, { name: 'web3', remote: 'cd /srv && hotswap' }])
  assert.equal(f.holdMs, 200)
  assert.equal(f.sshConfig, join(homedir(), '.ssh', 'fleet'))
  const r = await fleetSettings(dir, { hosts: 'web2', remote: 'hs' })
  assert.deepEqual(r.hosts, [{ name: 'web2', remote: 'hs' }])
})

test('no config file: --hosts alone, remote hotswap; none at all, or a host twice: usage errors', async (t) => {
  const dir = testDir(t)
  assert.deepEqual((await fleetSettings(dir, { hosts: 'a, b' })).hosts, [{ name: 'a', remote: 'hotswap' }, { name: 'b', remote: 'hotswap' }])
  await assert.rejects(fleetSettings(dir, {}), { code: 'HOTSWAP_ERR_USAGE', message: /^no hosts/ })
  await assert.rejects(fleetSettings(dir, { hosts: 'a,a' }), { code: 'HOTSWAP_ERR_USAGE', message: 'the host a is named twice' })
  await assert.rejects(fleetSettings(dir, { hosts: 'a,-oProxyCommand=x' }), { code: 'HOTSWAP_ERR_USAGE', message: /starts with "-"/ })
})

test('every wrong field is HOTSWAP_ERR_CONFIG naming it', () => {
  for (const [raw, field] of [
    [[], 'fleet'], [{ host: [] }, 'fleet.host'], [{ hosts: {} }, 'fleet.hosts'], [{ hosts: [3] }, 'fleet.hosts[0]'],
    [{ hosts: [{ remote: 'x' }] }, 'fleet.hosts[0].name'], [{ hosts: ['a b'] }, 'fleet.hosts[0].name'], [{ hosts: [{ name: 'a', remote: '' }] }, 'fleet.hosts[0].remote'],
    [{ hosts: [{ name: 'a', user: 'x' }] }, 'fleet.hosts[0].user'], [{ remote: 3 }, 'fleet.remote'], [{ sshConfig: '' }, 'fleet.sshConfig'],
    [{ hold: 0 }, 'fleet.hold'], [{ hold: 600_001 }, 'fleet.hold'], [{ timeout: 1.5 }, 'fleet.timeout'],
  ] as const) {
    assert.throws(() => parseFleetSection(raw, 'f.json'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'HOTSWAP_ERR_CONFIG')
      assert.ok(err.message.startsWith(`f.json: "${field}" `), err.message)
      return true
    }, JSON.stringify(raw))
  }
})
