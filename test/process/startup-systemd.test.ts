// `hotswap startup systemd` prints a unit that starts the running server as it was started:
// node and the CLI by their full paths, the same arguments (less --socket: the unit's socket is
// in its RuntimeDirectory), the same working directory and user, ExecReload for `hotswap
// reload`, ExecStop for `hotswap stop`, Restart=on-failure: the settings of the README's unit
// (examples/deploy/myapp.service), every one. systemd-analyze verify passes it.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, cli, errorLine, fixture, ROOT, type Served, serveLiveForFile, serviceKeys, tempDir } from '../support/index.js'

let served: Served
let t: ReturnType<typeof tempDir>
let live: string

// App arguments that need systemd's quoting: a blank, a specifier (%), a variable ($).
serveLiveForFile({ workers: 1, app: fixture('argv-app.mjs'), args: ['--kill-timeout', '20000', '--', 'a b', '50%', '$HOME'] }, (s) => { ({ t, served, live } = s) })

async function unit (...flags: string[]): Promise<string> {
  const res = await cli(['startup', 'systemd', '--socket', served.socket, ...flags], { cwd: t.dir })
  assert.equal(res.code, 0, res.stderr)
  assert.match(res.stderr, /^# install: save it as \/etc\/systemd\/system\/\S+\.service/)
  return res.stdout.toString()
}

test('the unit starts this server as it was started, its socket in the RuntimeDirectory', async () => {
  const text = await unit('--name', 'myapp')
  const keys = serviceKeys(text)
  const one = (k: string): string => { assert.equal(keys.get(k)?.length, 1, `${k} once`); return keys.get(k)?.[0] as string }
  const node = process.execPath
  assert.equal(one('ExecStart'), `${node} ${BIN} serve ${fixture('argv-app.mjs')} --workers 1 --port ${served.port} --db ${live} --kill-timeout 20000 -- "a b" 50%% $$HOME`)
  assert.equal(one('ExecReload'), `${node} ${BIN} reload`)
  assert.equal(one('ExecStop'), `${node} ${BIN} stop`)
  assert.equal(one('WorkingDirectory'), t.dir)
  assert.equal(one('User'), 'root')
  assert.equal(one('Group'), 'root')
  assert.equal(one('RuntimeDirectory'), 'myapp')
  assert.equal(one('RuntimeDirectoryMode'), '0700')
  assert.equal(one('Restart'), 'on-failure')
  assert.equal(one('TimeoutStopSec'), '40', '--kill-timeout 20 s and the rest of a shutdown')
  const env = keys.get('Environment') ?? []
  assert.ok(env.includes('HOTSWAP_SOCKET=/run/myapp/hotswap.sock'), env.join('\n'))
  assert.ok(env.includes('HOTSWAP_LOG_FORMAT=json'), 'the server\'s HOTSWAP_* variables')
  assert.ok(!env.some((e) => e.startsWith('HOTSWAP_SOCKET=') && e !== 'HOTSWAP_SOCKET=/run/myapp/hotswap.sock'))
})

test('the same settings as the README\'s unit (examples/deploy/myapp.service)', async () => {
  const readme = serviceKeys(readFileSync(join(ROOT, 'examples', 'deploy', 'myapp.service'), 'utf8'))
  const made = serviceKeys(await unit('--name', 'myapp'))
  assert.deepEqual([...made.keys()].sort(), [...readme.keys()].sort())
})

test('systemd-analyze verify passes it (or, without systemd-analyze, its sections are there)', async (tt) => {
  const text = await unit('--name', 'myapp')
  assert.match(text, /^\[Unit\]$[\s\S]*^\[Service\]$[\s\S]*^\[Install\]$/m)
  if (spawnSync('sh', ['-c', 'command -v systemd-analyze']).status !== 0) {
    tt.diagnostic('systemd-analyze is not installed: structural check only')
    return
  }
  const file = join(t.dir, 'myapp.service')
  writeFileSync(file, text)
  const res = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' })
  assert.equal(res.status, 0, res.stderr)
  assert.equal(res.stderr.trim(), '', 'no warning')
})

test('the name defaults to the working directory\'s; --user replaces User= (and drops Group=)', async () => {
  const keys = serviceKeys(await unit('--user', 'myapp'))
  assert.match(keys.get('RuntimeDirectory')?.[0] ?? '', /^hotswap-test-/)
  assert.deepEqual(keys.get('User'), ['myapp'])
  assert.equal(keys.get('Group'), undefined)
})

test('bad values: --name, --user, another init system (exit 2); no server (exit 1)', async () => {
  for (const [flags, message] of [[['--name', 'my app'], /--name must be a unit name/], [['--user', 'a b'], /--user must be a user name/]] as const) {
    const res = await cli(['startup', 'systemd', '--socket', served.socket, ...flags], { cwd: t.dir })
    assert.equal(res.code, 2, res.stderr)
    assert.match(errorLine(res.stderr), new RegExp(`^ERROR \\[HOTSWAP_ERR_USAGE\\] ${message.source}`))
    assert.equal(res.stdout.length, 0)
  }
  const upstart = await cli(['startup', 'upstart'], { cwd: t.dir })
  assert.equal(upstart.code, 2, upstart.stderr)
  assert.match(errorLine(upstart.stderr), /^ERROR \[HOTSWAP_ERR_USAGE\] startup knows systemd only \(got "upstart"\)/)
  const none = await cli(['startup', 'systemd', '--socket', join(t.dir, 'nobody.sock')], { cwd: t.dir })
  assert.equal(none.code, 1, none.stderr)
  assert.match(errorLine(none.stderr), /^ERROR \[HOTSWAP_ERR_NO_SERVER\] /)
})
