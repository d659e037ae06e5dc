// The gem's CLI spec (rubymonolith/hotswap, spec/cli_spec.rb) on what its client reads besides
// cp: "help (no args)" prints help to stdout, including "cp SRC DST" and "version"; an unknown
// command prints "Could not find command …" (Thor's words, on stderr). Through `hotswap serve`,
// the gem's client with no arguments read `ERROR: unknown command "help"` and exit 2, and for
// `hotswap bogus` an "ERROR: unknown command" line the spec does not recognise. Our client keeps
// its coded error; the exit code and HOTSWAP_ERR_USAGE stay in the control frame for both.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { exchange, fixture, frame, gemStream, type Served, serveLiveForFile } from '../support/index.js'

let served: Served

serveLiveForFile({ workers: 1, app: fixture('app.mjs') }, (s) => { ({ served } = s) })

test('help (no args), as the gem prints it: the commands on stdout, exit 0', async () => {
  for (const args of [[], ['help']]) {
    const r = await exchange(served.socket, gemStream(args), { timeoutMs: 10_000 })
    assert.equal(r.control?.exit, 0, `${JSON.stringify(args)}: ${r.stderr}`)
    const out = r.stdout.toString()
    assert.match(out, /cp SRC DST/)
    assert.match(out, /version/)
    assert.match(out, /status/)
    assert.equal(r.stderr, '')
  }
  const one = await exchange(served.socket, gemStream(['help', 'cp']), { timeoutMs: 10_000 })
  assert.equal(one.control?.exit, 0)
  assert.match(one.stdout.toString(), /hotswap cp SRC DST/)
})

test('an unknown command, in the gem\'s words for its client and coded for ours; exit 2 for both', async () => {
  const gem = await exchange(served.socket, gemStream(['bogus']), { timeoutMs: 10_000 })
  assert.equal(gem.stderr, 'Could not find command "bogus".\n')
  assert.equal(gem.stdout.length, 0)
  assert.deepEqual([gem.control?.exit, gem.control?.code], [2, 'HOTSWAP_ERR_USAGE'])
  const helpOfBogus = await exchange(served.socket, gemStream(['help', 'bogus']), { timeoutMs: 10_000 })
  assert.equal(helpOfBogus.stderr, 'Could not find command "bogus".\n')
  assert.deepEqual([helpOfBogus.control?.exit, helpOfBogus.control?.code], [2, 'HOTSWAP_ERR_USAGE'])

  const ours = await exchange(served.socket, frame(3, JSON.stringify({ args: ['bogus'], tty: false, protocol: 1 })), { timeoutMs: 10_000 })
  assert.match(ours.stderr, /^ERROR \[HOTSWAP_ERR_USAGE\] unknown command "bogus" \(commands: [^)]*\)\n$/)
  assert.deepEqual([ours.control?.exit, ours.control?.code], [2, 'HOTSWAP_ERR_USAGE'])
  // A huge name is cut in both.
  const huge = await exchange(served.socket, gemStream(['z'.repeat(100_000)]), { timeoutMs: 10_000 })
  assert.ok(huge.stderr.length < 200, huge.stderr.slice(0, 300))
  assert.equal(served.child.exitCode, null, 'the primary is running')
})
