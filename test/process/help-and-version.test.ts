// `-h` is `--help` on every command, at the top level and after arguments (where the fast cp
// path hands it to oclif); `hotswap --version` prints what `hotswap version` prints. Before, `-h`
// was "Nonexistent flag: -h" (exit 2) and `--version` printed oclif's "hotswap/0.1.0 linux-x64
// node-v20…" beside `version`'s "hotswap 0.1.0".

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { cli, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
before(() => { t = tempDir() })
after(() => t?.cleanup())

test('-h and --help print the same help on every command, exit 0', async () => {
  const commands = [[], ['serve'], ['cp'], ['cp', 'a.sqlite3', 'live'], ['status'], ['reload'], ['version'], ['autocomplete']]
  for (const c of commands) {
    const [short, long] = await Promise.all([cli([...c, '-h'], { cwd: t.dir }), cli([...c, '--help'], { cwd: t.dir })])
    const what = `hotswap ${c.join(' ')}`
    assert.equal(long.code, 0, `${what} --help: ${long.stderr}`)
    assert.equal(short.code, 0, `${what} -h: ${short.stderr}`)
    assert.equal(short.stderr, '', `${what} -h`)
    assert.match(long.stdout.toString(), new RegExp(`USAGE\\n\\s+\\$ hotswap${c.length === 0 ? '' : ` ${c[0] as string}`}`), what)
    assert.equal(short.stdout.toString(), long.stdout.toString(), `${what}: -h is --help`)
  }
})

test('hotswap --version prints what hotswap version prints', async () => {
  const [word, flag] = await Promise.all([cli(['version'], { cwd: t.dir }), cli(['--version'], { cwd: t.dir })])
  assert.equal(word.code, 0, word.stderr)
  assert.equal(flag.code, 0, flag.stderr)
  assert.match(word.stdout.toString(), /^hotswap \d+\.\d+\.\d+\S*\n$/)
  assert.equal(flag.stdout.toString(), word.stdout.toString())
})
