// A set of databases changes all together or not at all when one of them is refused. `hotswap swap
// app=GOOD cache=BAD`, BAD failing its checks (another schema, not SQLite): exit 1 with BAD's
// code, nothing live changed, and GOOD's stage already made is aborted (no stage-* file left). A
// commit of two stages while an outside process holds one of the databases: HOTSWAP_ERR_DB_BUSY
// before any pause, neither database changed, both stages still staged; once the outsider is
// gone the same commit goes through.

import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, type CliResult, fixture, labelOf, load, Outsider, request, seed, seedAll, type Served, serveForFile, startServe, statusJson, tempDir } from '../support/index.js'

const NAMES = ['app', 'cache'] as const
let t: ReturnType<typeof tempDir>
let served: Served
let paths: Record<(typeof NAMES)[number], string>
const outsiders: Outsider[] = []

after(async () => {
  for (const o of outsiders) await o.kill()
})

serveForFile(async (dir) => {
  paths = seedAll(dir.dir, { app: 'a0', cache: 'c0' })
  return await startServe({
    dir: dir.dir,
    dbs: NAMES.map((n) => `${n}=${paths[n]}`),
    app: fixture('generations-app.mjs'),
    workers: 2,
    env: { GEN_DBS: NAMES.join(',') },
  })
}, (s) => { ({ t, served } = s) })

const run = async (args: string[]): Promise<CliResult> => await cli([...args, '--socket', served.socket], { cwd: t.dir })

function file (name: string, label: string, extraSql?: string): string {
  const path = join(t.dir, `${name}.sqlite3`)
  seed(path, { label, ...(extraSql === undefined ? {} : { extraSql }) })
  return path
}

/** The stage files in each database's .hotswap/ folder. */
function stageFiles (): string[] {
  return NAMES.flatMap((n) => readdirSync(join(t.dir, '.hotswap', `${n}.sqlite3`)).filter((f) => f.startsWith('stage-')).map((f) => `${n}/${f}`))
}

const pauses = (): number => served.logs().filter((l) => /^pause window /.test(String(l.message))).length

/** What is live: the files' labels, what a request reads, the generations and stages status lists. */
async function live (): Promise<Record<string, unknown>> {
  const res = await request(served.port, '/labels', { keepAlive: false })
  assert.equal(res.status, 200, res.body)
  const st = await statusJson(served.socket, t.dir)
  return {
    files: { app: labelOf(paths.app), cache: labelOf(paths.cache) },
    served: res.json().labels,
    status: NAMES.map((n) => { const d = st.databases.find((x) => x.name === n); return { name: n, generation: d?.generation, staged: d?.staged } }),
  }
}

const unchanged = (app: string, cache: string, generation: number, staged: Array<string | null> = [null, null]): Record<string, unknown> => ({
  files: { app, cache },
  served: { app, cache },
  status: NAMES.map((name, i) => ({ name, generation, staged: staged[i] })),
})

function assertRefused (res: CliResult, code: string): void {
  assert.equal(res.code, 1, `exit 1; stderr: ${res.stderr}`)
  assert.equal(res.stdout.toString(), '')
  assert.match(res.stderr.split('\n')[0] ?? '', new RegExp(`^ERROR \\[${code}\\] `), res.stderr)
}

for (const bad of [
  { what: 'another schema', code: 'HOTSWAP_ERR_SCHEMA_MISMATCH', make: () => file('cache-other-schema', 'c-bad', 'CREATE TABLE extra (x INTEGER)') },
  { what: 'not SQLite', code: 'HOTSWAP_ERR_NOT_SQLITE', make: () => { const p = join(t.dir, 'cache-text.sqlite3'); writeFileSync(p, 'not a database\n'.repeat(300)); return p } },
]) {
  test(`swap app=GOOD cache=BAD (${bad.what}): exit 1 with ${bad.code}, nothing live changed, app's stage aborted`, async () => {
    const before = pauses()
    const res = await run(['swap', `app=${file('app-good', 'a-good')}`, `cache=${bad.make()}`])
    assertRefused(res, bad.code)
    assert.equal(res.stderr.split('\n').filter((l) => l.startsWith('ERROR')).length, 1, `one error line: ${res.stderr}`)
    assert.deepEqual(await live(), unchanged('a0', 'c0', 1))
    assert.deepEqual(stageFiles(), [], 'no stage file left')
    assert.equal(pauses(), before, 'nothing paused')
    const aborted = served.logs().filter((l) => l.event === 'abort')
    assert.equal(aborted.length > 0 && (aborted.at(-1) as { stages: string[] }).stages.length, 1, 'the good stage was aborted')
  })
}

test('while an outside process holds cache: swap and commit refused with HOTSWAP_ERR_DB_BUSY, neither changed, the commit\'s stages kept; after it stops the same commit works', async (tt) => {
  const o = new Outsider(paths.cache)
  outsiders.push(o)
  await o.ready()
  for (const cmd of ['open', 'query']) assert.equal((await o.run(cmd)).ok, true, cmd)
  const before = pauses()

  // The one-shot swap: refused, and the stages it made are aborted.
  const swapRes = await run(['swap', `app=${file('app-a2', 'a2')}`, `cache=${file('cache-c2', 'c2')}`])
  assertRefused(swapRes, 'HOTSWAP_ERR_DB_BUSY')
  assert.deepEqual(await live(), unchanged('a0', 'c0', 1))
  assert.deepEqual(stageFiles(), [], 'the one-shot swap aborted what it staged')

  // Stage both, then commit them: refused, and both stay staged.
  const ids: string[] = []
  for (const [n, label] of [['app', 'a1'], ['cache', 'c1']] as const) {
    const res = await run(['cp', file(`${n}-${label}`, label), n, '--stage'])
    assert.equal(res.code, 0, res.stderr)
    ids.push(res.stdout.toString().trim())
  }
  const traffic = load(served.port, { paths: ['/labels', '/torn?ms=2'], concurrency: 4, maxMs: 30_000 })
  let res: CliResult
  try {
    res = await run(['commit'])
  } finally {
    await traffic.stop()
  }
  assertRefused(res, 'HOTSWAP_ERR_DB_BUSY')
  assert.match(res.stderr, new RegExp(`pid ${o.pid}\\b`), 'names the outside process')
  assert.equal(traffic.stats.failed, 0, traffic.stats.errors.join('; '))
  assert.equal(pauses(), before, 'refused before any pause')
  assert.deepEqual(await live(), unchanged('a0', 'c0', 1, ids), 'neither changed; both still staged')
  const [a, c] = ids as [string, string]
  assert.deepEqual(stageFiles().sort(), [`app/stage-${a}.json`, `app/stage-${a}.sqlite3`, `cache/stage-${c}.json`, `cache/stage-${c}.sqlite3`])

  // The outsider stops; the same stages commit, both at once.
  await o.run('close')
  await o.kill()
  const ok = await run(['commit', ...ids])
  assert.equal(ok.code, 0, ok.stderr)
  assert.equal(ok.stdout.toString(), 'OK\n')
  assert.deepEqual(await live(), unchanged('a1', 'c1', 2))
  assert.deepEqual(stageFiles(), [])
  assert.equal(pauses(), before + 1, 'one pause for both')
  tt.diagnostic(`refused naming pid ${o.pid}, 0 failed of ${traffic.stats.ok} requests; after it stopped, one commit of both`)
})
