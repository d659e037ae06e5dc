// Bad values for every flag of capacity and the watchdog (--max-memory, --health-check,
// --health-interval, --health-timeout, --health-threshold): as flags a usage error (exit 2), from
// HOTSWAP_MAX_MEMORY or HOTSWAP_HEALTH_CHECK a configuration error (exit 1) naming the variable;
// each one coded line on stderr, nothing started. (The config file's keys, and more spellings:
// test/primary/config.test.ts; `scale N`'s own: scale.test.ts.)

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { errorLine, fixture, seed, serveToExit, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let db: string

before(() => {
  t = tempDir()
  db = join(t.dir, 'live.sqlite3')
  seed(db, { label: 'v0' })
})
after(() => t?.cleanup())

interface Case { args: string[], env?: Record<string, string>, message: RegExp }

/** Runs the cases four at a time (two cores); every one that did not fail with `exit`, `code` and its message. */
async function wrongOf (cases: Case[], exit: number, code: string): Promise<string[]> {
  const wrong: string[] = []
  let next = 0
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < cases.length) {
      const c = cases[next++] as typeof cases[number]
      const sock = join(t.dir, `s${next}`, 'h.sock')
      const r = await serveToExit([...c.args, '--socket', sock], { cwd: t.dir, env: c.env ?? {}, timeoutMs: 20_000 })
      const line = errorLine(r.stderr)
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('ERROR '))
      if (r.code !== exit || lines.length !== 1 || !line.startsWith(`ERROR [${code}] `) || !c.message.test(line) || existsSync(sock)) {
        wrong.push(`${c.args.join(' ')} ${JSON.stringify(c.env ?? {})} → exit ${String(r.code)}: ${r.stderr.slice(-300)}`)
      }
    }
  }))
  return wrong
}

test('bad flag values: a usage error each, exit 2', async () => {
  const serve = (...extra: string[]): string[] => [fixture('app.mjs'), '--workers', '1', '--db', db, ...extra]
  const cases: Case[] = [
    { args: serve('--max-memory', 'lots'), message: /--max-memory must be a size such as 512M or 1G .*\(got "lots"\)$/ },
    { args: serve('--max-memory', '512'), message: /--max-memory must be at least 1M \(got "512", 512 bytes: was the unit left out\?\)$/ },
    { args: serve('--health-check', 'healthz'), message: /--health-check must be a path that starts with \/ .*\(got "healthz"\)$/ },
    { args: serve('--health-check', '/a b'), message: /--health-check must be a path that starts with \// },
    { args: serve('--health-interval', '-1'), message: /--health-interval/ },
    { args: serve('--health-timeout', '0'), message: /--health-timeout/ },
    { args: serve('--health-threshold', '0'), message: /--health-threshold/ },
  ]
  assert.deepEqual(await wrongOf(cases, 2, 'HOTSWAP_ERR_USAGE'), [])
})

test('bad values from HOTSWAP_MAX_MEMORY and HOTSWAP_HEALTH_CHECK: a configuration error each, exit 1, naming the variable', async () => {
  // The config file's keys: test/primary/config.test.ts.
  const serve = [fixture('app.mjs'), '--workers', '1', '--db', db]
  const cases: Case[] = [
    { args: serve, env: { HOTSWAP_MAX_MEMORY: '1.5 lots' }, message: /^ERROR \[HOTSWAP_ERR_CONFIG\] environment: "HOTSWAP_MAX_MEMORY" must be a size such as 512M/ },
    { args: serve, env: { HOTSWAP_HEALTH_CHECK: 'healthz' }, message: /environment: "HOTSWAP_HEALTH_CHECK" must be a path that starts with \// },
  ]
  assert.deepEqual(await wrongOf(cases, 1, 'HOTSWAP_ERR_CONFIG'), [])
})
