// Bad values of the new serve settings (issue 15, items 4 and 6): --log-max-size, --log-max-files,
// --drain-warning, as flags (HOTSWAP_ERR_USAGE, exit 2), as HOTSWAP_* variables and config keys
// (HOTSWAP_ERR_CONFIG, exit 1), and the rotation flags without what they apply to: one coded line
// on stderr, nothing on stdout, no server started (no socket).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, serveArgsForFile, type tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let sock: string
let serve: (...extra: string[]) => string[]

serveArgsForFile(1, (s) => { ({ t, socket: sock, serve } = s) })

interface Case { args: string[], env?: Record<string, string>, config?: Record<string, unknown>, code: string, exit: number, says: RegExp }

test('every bad value is one coded line with its exit status, and nothing starts', async () => {
  const cases: Case[] = [
    { args: serve('--log-file', 'h.log', '--log-max-size', 'lots'), code: 'HOTSWAP_ERR_USAGE', exit: 2, says: /--log-max-size must be a size of at least 1024 bytes.*\(got "lots"\)/ },
    { args: serve('--log-file', 'h.log', '--log-max-size', '100'), code: 'HOTSWAP_ERR_USAGE', exit: 2, says: /--log-max-size must be a size of at least 1024 bytes/ },
    { args: serve('--log-file', 'h.log', '--log-max-size', '10X'), code: 'HOTSWAP_ERR_USAGE', exit: 2, says: /\(got "10X"\)/ },
    { args: serve('--log-file', 'h.log', '--log-max-size', '1M', '--log-max-files', '1'), code: 'HOTSWAP_ERR_USAGE', exit: 2, says: /Parsing --log-max-files/ },
    { args: serve('--log-file', 'h.log', '--log-max-size', '1M', '--log-max-files', 'x'), code: 'HOTSWAP_ERR_USAGE', exit: 2, says: /Parsing --log-max-files/ },
    { args: serve('--drain-warning', '0'), code: 'HOTSWAP_ERR_USAGE', exit: 2, says: /Parsing --drain-warning/ },
    { args: serve('--drain-warning', 'soon'), code: 'HOTSWAP_ERR_USAGE', exit: 2, says: /Parsing --drain-warning/ },
    { args: serve('--log-max-size', '1M'), code: 'HOTSWAP_ERR_CONFIG', exit: 1, says: /--log-max-size rotates the --log-file, and there is none/ },
    { args: serve('--log-file', 'h.log', '--log-max-files', '3'), code: 'HOTSWAP_ERR_CONFIG', exit: 1, says: /--log-max-files is how many files the rotation keeps, and --log-max-size is not given/ },
    { args: serve('--log-file', 'h.log'), env: { HOTSWAP_LOG_MAX_SIZE: 'lots' }, code: 'HOTSWAP_ERR_CONFIG', exit: 1, says: /environment: "HOTSWAP_LOG_MAX_SIZE" must be a size/ },
    { args: serve('--log-file', 'h.log', '--log-max-size', '1M'), env: { HOTSWAP_LOG_MAX_FILES: '1' }, code: 'HOTSWAP_ERR_CONFIG', exit: 1, says: /"HOTSWAP_LOG_MAX_FILES" must be an integer of at least 2/ },
    { args: serve('--log-file', 'h.log'), config: { logMaxSize: true }, code: 'HOTSWAP_ERR_CONFIG', exit: 1, says: /"logMaxSize" must be a size.*\(got true\)/ },
    { args: serve('--log-file', 'h.log', '--log-max-size', '1M'), config: { logMaxFiles: 0 }, code: 'HOTSWAP_ERR_CONFIG', exit: 1, says: /"logMaxFiles" must be an integer of at least 2/ },
    { args: serve(), config: { drainWarning: -5 }, code: 'HOTSWAP_ERR_CONFIG', exit: 1, says: /"drainWarning" must be an integer of at least 1/ },
  ]
  // Four at a time: the machine has two cores.
  let next = 0
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < cases.length) {
      const i = next++
      const c = cases[i] as Case
      const config = join(t.dir, `config-${i}.json`)
      writeFileSync(config, JSON.stringify(c.config ?? {}))
      const res = await cli([...c.args, '--config', config], { cwd: t.dir, env: c.env ?? {}, timeoutMs: 15_000 })
      const what = `${c.args.slice(8).join(' ')} ${JSON.stringify(c.env ?? {})} ${JSON.stringify(c.config ?? {})}`
      assert.equal(res.code, c.exit, `${what}: ${res.stderr}`)
      assert.match(res.stderr, new RegExp(`^ERROR \\[${c.code}\\] `), what)
      assert.match(res.stderr, c.says, what)
      assert.equal(res.stderr.trim().split('\n').filter((l) => l.startsWith('ERROR')).length, 1, what)
      assert.equal(res.stdout.length, 0, what)
    }
  }))
  assert.equal(existsSync(sock), false, 'no server started')
})
