// What `npm pack` ships, and a scratch project that installs the
// tarball the way a user would: it imports { database } from 'hotswap' with types (and requires
// it from CommonJS), runs standalone with HOTSWAP_DB, and serves and swaps through the installed
// `hotswap` command.
//
// The install runs with --ignore-scripts, and better-sqlite3's compiled binding is copied from
// this checkout (the same version, for the same Node): building it from source takes minutes
// on two cores and tests better-sqlite3's build, not our package.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { freePort, labelOf, ROOT, seed, sleep, tempDir } from '../support/index.js'

interface Run { code: number | null, stdout: string, stderr: string }

async function run (cmd: string, args: string[], opts: { cwd: string, env?: Record<string, string>, timeoutMs?: number }): Promise<Run> {
  return await new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }))
  })
}

// npm as this Node installed it, not whatever npm the PATH finds first.
const npm = join(process.execPath, '..', 'npm')
const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string, version: string, engines: { node: string } }

let t: ReturnType<typeof tempDir>
let files: string[] = []
let tarball: string
let project: string
let installed: string

before(async () => {
  t = tempDir()
  // --ignore-scripts: `prepare` would rebuild dist/ under the tests that are running from it.
  const packed = await run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', t.dir], { cwd: ROOT })
  assert.equal(packed.code, 0, packed.stderr)
  const info = JSON.parse(packed.stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  files = (info[0]?.files ?? []).map((f) => f.path)
  tarball = join(t.dir, info[0]?.filename ?? '')

  project = join(t.dir, 'consumer')
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  const install = await run(npm, ['install', tarball, '@types/node@20', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: project })
  assert.equal(install.code, 0, `npm install: ${install.stderr}`)
  installed = join(project, 'node_modules', 'hotswap')
  const binding = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')
  const ours = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string }
  const theirs = JSON.parse(readFileSync(join(project, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string }
  assert.equal(theirs.version, ours.version, 'the copied binding is for the same better-sqlite3')
  mkdirSync(join(project, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true })
  copyFileSync(join(ROOT, binding), join(project, binding))
  seed(join(project, 'app.sqlite3'), { label: 'packed' })
})

after(() => {
  t?.cleanup()
})

test('npm pack ships the compiled package, its types, the bin, README and LICENSE, and nothing else', () => {
  for (const must of ['package.json', 'README.md', 'LICENSE', 'bin/run.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/worker/bootstrap.js', 'dist/src/commands/cp.js']) {
    assert.ok(files.includes(must), `${must} is packed`)
  }
  const allowed = /^(package\.json|README\.md|LICENSE|bin\/run\.js|dist\/src\/.+\.(js|d\.ts|js\.map))$/
  assert.deepEqual(files.filter((f) => !allowed.test(f)), [], 'only compiled code, types and the docs')
  assert.deepEqual(files.filter((f) => f.startsWith('dist/test/') || f.startsWith('src/') || f.startsWith('test/') || f.startsWith('examples/')), [])
  // A file compiled from a source that no longer exists would ship too (dist/ is not cleaned).
  const stale = files.filter((f) => f.startsWith('dist/src/') && f.endsWith('.js') && !existsSync(join(ROOT, f.replace(/^dist\//, '').replace(/\.js$/, '.ts'))))
  assert.deepEqual(stale, [], 'no compiled file without its source')
})

test('the installed package runs standalone: database() opens HOTSWAP_DB', async () => {
  writeFileSync(join(project, 'standalone.mjs'), `import { database, isManaged } from 'hotswap'
const label = database().prepare("SELECT value FROM meta WHERE key = 'label'").pluck()
console.log(JSON.stringify({ label: label.get(), managed: isManaged() }))
`)
  const res = await run(process.execPath, ['standalone.mjs'], { cwd: project, env: { HOTSWAP_DB: 'app.sqlite3' } })
  assert.equal(res.code, 0, res.stderr)
  assert.deepEqual(JSON.parse(res.stdout), { label: 'packed', managed: false })
})

test('engines admits only the Node versions where require(esm) works unflagged, so require("hotswap") works on each', () => {
  // semver is @oclif/core's dependency (npm's own range rules).
  const semver = createRequire(join(ROOT, 'package.json'))('semver') as { satisfies: (version: string, range: string) => boolean }
  const admitted = (v: string): boolean => semver.satisfies(v, rootPkg.engines.node)
  // require(esm) without a flag: 20.19.0 on the 20 line, 22.12.0 on the 22 line, every later major.
  for (const v of ['20.19.0', '20.20.2', '22.12.0', '22.20.0', '23.0.0', '24.0.0', '25.1.0']) assert.ok(admitted(v), `${v} is admitted`)
  for (const v of ['18.20.0', '20.0.0', '20.18.3', '21.7.3', '22.0.0', '22.11.0']) assert.ok(!admitted(v), `${v} (require(esm) only behind a flag) is not admitted`)
  assert.ok(admitted(process.versions.node), `this Node (${process.versions.node}) is admitted`)
})

test('a CommonJS app requires the installed package by name: the same module an import gets', async () => {
  writeFileSync(join(project, 'standalone.cjs'), `'use strict'
const hotswap = require('hotswap')
const label = hotswap.database().prepare("SELECT value FROM meta WHERE key = 'label'").pluck()
import('hotswap').then((esm) => {
  console.log(JSON.stringify({ label: label.get(), managed: hotswap.isManaged(), sameModule: esm.HotswapError === hotswap.HotswapError && esm.database === hotswap.database }))
})
`)
  const res = await run(process.execPath, ['standalone.cjs'], { cwd: project, env: { HOTSWAP_DB: 'app.sqlite3' } })
  assert.equal(res.code, 0, res.stderr)
  assert.deepEqual(JSON.parse(res.stdout), { label: 'packed', managed: false, sameModule: true })
  assert.equal(res.stderr, '', 'no ExperimentalWarning or other noise')
})

test('the installed package type-checks in a strict TypeScript project (skipLibCheck off)', async () => {
  writeFileSync(join(project, 'consumer.ts'), `import { database, gate, isManaged, knexPool, onPause, onResume, ready, HotswapError, type SwapSafeDatabase, type SwapSafeStatement } from 'hotswap'

const db: SwapSafeDatabase = database(process.env.HOTSWAP_DB)
const label: SwapSafeStatement = db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck()
const insert = db.prepare('INSERT INTO items (name, price_cents) VALUES (?, ?)')
const add = db.transaction((name: string) => insert.run(name, 1).changes)
onPause(() => {})
onResume(async () => {})
export const pool = knexPool()
export async function main (): Promise<void> {
  const value: unknown = await gate(() => label.get())
  const changes: number = add.immediate('x')
  if (!isManaged()) await ready()
  console.log(value, changes, new HotswapError('HOTSWAP_ERR_PAUSED', 'x').code)
}
`)
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
    files: ['consumer.ts'],
  }))
  const res = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: project })
  assert.equal(res.code, 0, `tsc found errors in the published types (better-sqlite3's types are part of ours: ` +
    `@types/better-sqlite3 must be a dependency, not a devDependency):\n${res.stdout}${res.stderr}`)
})

test('the installed hotswap command serves the app and swaps its database', async () => {
  writeFileSync(join(project, 'server.mjs'), `import http from 'node:http'
import { database } from 'hotswap'
const label = database().prepare("SELECT value FROM meta WHERE key = 'label'").pluck()
http.createServer((req, res) => res.end(JSON.stringify({ label: label.get() }))).listen(Number(process.env.PORT), '127.0.0.1')
`)
  seed(join(project, 'next.sqlite3'), { label: 'swapped' })
  const bin = join(project, 'node_modules', '.bin', 'hotswap')
  const version = await run(bin, ['version', '--json'], { cwd: project })
  assert.equal(version.code, 0, version.stderr)
  assert.equal((JSON.parse(version.stdout) as { version: string }).version, rootPkg.version)

  const port = await freePort()
  const child = spawn(process.execPath, [join(installed, 'bin', 'run.js'), 'serve', 'server.mjs', '--workers', '1', '--db', 'app.sqlite3', '--port', String(port)], {
    cwd: project, env: { ...process.env, HOTSWAP_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  try {
    const get = async (): Promise<string | null> => await new Promise((resolve) => {
      fetch(`http://127.0.0.1:${port}/`).then(async (r) => resolve(((await r.json()) as { label: string }).label), () => resolve(null))
    })
    let first: string | null = null
    for (let i = 0; i < 400 && first === null && child.exitCode === null; i++) {
      first = await get()
      if (first === null) await sleep(50)
    }
    assert.equal(first, 'packed', `the installed serve did not answer; output:\n${out}`)
    const cp = await run(bin, ['cp', 'next.sqlite3', 'app.sqlite3'], { cwd: project })
    assert.equal(cp.code, 0, cp.stderr)
    assert.equal(cp.stdout, 'OK\n')
    assert.equal(await get(), 'swapped')
    assert.equal(labelOf(join(project, 'app.sqlite3')), 'swapped')
  } finally {
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    const code = await exited
    clearTimeout(timer)
    assert.equal(code, 0, `serve exits 0 on SIGTERM; output:\n${out}`)
  }
})
