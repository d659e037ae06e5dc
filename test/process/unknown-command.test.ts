// An unknown command names the closest one. Off a terminal (a script, a pipe): one usage line,
// exit 2, at once. On a terminal: oclif's not-found plugin asks "Did you mean status?"; a no
// ends in the same usage line and exit 2. Before, `hotswap stauts` said "command stauts not
// found" and named nothing.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { cli, HOTSWAP, onTerminal, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
before(() => { t = tempDir() })
after(() => t?.cleanup())

test('off a terminal, a misspelt command names the closest one: one usage line, exit 2', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['stauts'], /^ERROR \[HOTSWAP_ERR_USAGE\] "stauts" is not a hotswap command: did you mean "status"\? \(hotswap --help lists them\)\n$/],
    [['sreve', 'app.js', '--workers', '2'], /^ERROR \[HOTSWAP_ERR_USAGE\] "sreve" is not a hotswap command: did you mean "serve"\?/],
    [['relaod'], /did you mean "reload"\?/],
    [['deploy'], /^ERROR \[HOTSWAP_ERR_USAGE\] "deploy" is not a hotswap command \(hotswap --help lists them\)\n$/],
  ]
  for (const [args, want] of cases) {
    const r = await cli(args, { cwd: t.dir, timeoutMs: 15_000 })
    assert.equal(r.code, 2, `hotswap ${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, want)
    assert.equal(r.stdout.length, 0)
  }
})

test('on a terminal, the plugin asks; a no gives the usage line and exit 2', async () => {
  const { code, output } = await onTerminal(`${HOTSWAP} stauts`, { cwd: t.dir, typed: 'n\r', timeoutMs: 30_000 })
  assert.match(output, /Did you mean .*status/)
  assert.match(output, /ERROR \[HOTSWAP_ERR_USAGE\] "stauts" is not a hotswap command: did you mean "status"\?/)
  assert.equal(code, 2, output)
})
