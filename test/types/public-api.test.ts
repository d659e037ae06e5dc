// The public types, checked as a user's compiler sees them: test/fixtures/typed-app/app.ts is
// a typed app (prepare<[number], Todo>, transaction(), drizzle, Kysely) compiled with
// `tsc --noEmit` against the built declarations, which it imports by the package's name. What
// must not compile is marked `// @ts-expect-error`: tsc fails on such a line that compiles.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fixture, ROOT } from '../support/index.js'

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const APP = fixture('typed-app')

test('a typed app compiles against the built declarations, and what must not compile does not', async () => {
  const res = await new Promise<{ code: number, out: string }>((resolve) => {
    execFile(process.execPath, [TSC, '-p', APP, '--listFiles'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out: stdout + stderr }))
  })
  const errors = res.out.split('\n').filter((l) => l.includes('error TS')).join('\n')
  assert.equal(res.code, 0, `tsc -p ${APP}:\n${errors === '' ? res.out : errors}`)
  const files = res.out.split('\n')
  assert.ok(files.includes(join(ROOT, 'dist', 'src', 'index.d.ts')), "'hotswap' resolves to the built dist/src/index.d.ts")
  assert.ok(!files.some((f) => f.startsWith(join(ROOT, 'src'))), 'not to the sources')
  const expected = readFileSync(join(APP, 'app.ts'), 'utf8').match(/^\/\/ @ts-expect-error /gm)?.length ?? 0
  assert.ok(expected >= 10, `the fixture still says what must not compile (${expected} @ts-expect-error lines)`)
})
