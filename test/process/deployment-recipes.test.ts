// The deployment recipes, run as they are written: the systemd unit and the Dockerfile (with its
// .dockerignore) that examples/deploy/ ships and the README shows, and the README's ssh, Fly.io
// and cron blocks. The machine's paths are this test's folders: /srv/myapp is an app folder
// laid out as the unit expects (node_modules/.bin/hotswap, db/, backups/), /run/myapp the
// unit's RuntimeDirectory, /app the image's WORKDIR, /usr/bin/node and /usr/local/bin/node
// this node. The systemd server runs as the unit's user would (nobody, when the tests run as
// root). `ssh` and `fly` are shell functions that run the remote command here, through `sh -c`,
// with the same stdin and stdout: what is checked is the command lines, the pipes and the
// bytes, not ssh or Fly. The unit is also checked by `systemd-analyze verify` where it exists;
// the Dockerfile's steps are run here one by one (no daemon needed).

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { freePort, labelOf, request, ROOT, rootReachableByOthers, seed, type Served, serviceKeys, startServeArgs, statusJson, tempDir, waitUntil } from '../support/index.js'

const AS_ROOT = process.getuid?.() === 0
/** The unit's and the image's user, here: nobody when the tests run as root, else ourselves. */
const USER = AS_ROOT ? { uid: 65534, gid: 65534 } : undefined
const DEPLOY = join(ROOT, 'examples', 'deploy')
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const unitText = readFileSync(join(DEPLOY, 'myapp.service'), 'utf8')
const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8')
const dockerignore = readFileSync(join(DEPLOY, '.dockerignore'), 'utf8')

let t: ReturnType<typeof tempDir>
/** /srv/myapp, /run/myapp, /app (the image's WORKDIR) and the laptop, here. */
let app: string
let run: string
let image: string
let laptop: string
let systemd: Served
let docker: Served | undefined

/** The fenced blocks between a README heading and the next heading. */
function blocksUnder (heading: string): string[] {
  const start = readme.indexOf(`\n${heading}\n`)
  assert.notEqual(start, -1, `README has no "${heading}"`)
  const rest = readme.slice(start + heading.length + 2)
  const section = rest.slice(0, rest.search(/\n#{2,3} /))
  return [...section.matchAll(/```\w*\n([\s\S]*?)```/g)].map((m) => m[1] as string)
}

/** The machine's paths as this test's. */
function here (text: string): string {
  return text.replaceAll('/srv/myapp', app).replaceAll('/run/myapp', run).replace(/\/app\b/g, image)
    .replaceAll('/usr/local/bin/node', process.execPath).replaceAll('/usr/bin/node', process.execPath)
}

const unit = serviceKeys(unitText)
const one = (key: string): string => {
  const v = unit.get(key)
  assert.equal(v?.length, 1, `the unit sets ${key} once`)
  return (v as string[])[0] as string
}
const unitEnv = (): Record<string, string> => Object.fromEntries((unit.get('Environment') ?? []).map((e) => [e.slice(0, e.indexOf('=')), here(e.slice(e.indexOf('=') + 1))]))

/** A folder the unit's (or the image's) user owns, as systemd and the Dockerfile make them. */
function owned (dir: string, mode = 0o755): void {
  mkdirSync(dir, { recursive: true })
  chmodSync(dir, mode)
  if (USER !== undefined) chownSync(dir, USER.uid, USER.gid)
}

/** An app folder's node_modules as `npm ci` leaves it with hotswap installed. */
function installHotswap (dir: string): void {
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
  // The unit's user (nobody here) must reach the package: a checkout in a 0700 folder is not.
  symlinkSync(rootReachableByOthers().replace(/\/+$/, ''), join(dir, 'node_modules', 'hotswap'))
  symlinkSync(join('..', 'hotswap', 'bin', 'run.js'), join(dir, 'node_modules', '.bin', 'hotswap'))
}

/** An app that serves its database's label, and null until it has one (an empty database). */
const SERVER_JS = `import { createServer } from 'node:http'
import { database } from 'hotswap'
const db = database()
createServer((req, res) => {
  let label = null
  try { label = db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck().get() } catch {}
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ label, pid: process.pid }))
}).listen(process.env.PORT)
`

/** Starts `command` (a unit's ExecStart, an image's CMD: node BIN serve ARGS) in `cwd`, on a free port. */
async function start (command: string[], cwd: string, env: Record<string, string>): Promise<Served> {
  const port = await freePort()
  const at = command.indexOf('serve')
  assert.ok(/(^|\/)node$/.test(command[0] as string) && at === 2, `node BIN serve …: ${command.join(' ')}`)
  const args = command.slice(at + 1).map((a, i, all) => all[i - 1] === '--port' ? String(port) : a)
  const socket = env.HOTSWAP_SOCKET ?? join(cwd, 'tmp', 'sockets', 'hotswap.sock')
  return await startServeArgs({ dir: cwd, bin: resolve(cwd, command[1] as string), args, port, socket, env: { HOME: t.dir, ...env }, as: USER, waitListening: 1 })
}

before(async () => {
  t = tempDir()
  chmodSync(t.dir, 0o755) // the unit's user reaches its folders
  app = join(t.dir, 'srv', 'myapp')
  run = join(t.dir, 'run', 'myapp')
  image = join(t.dir, 'image', 'app')
  laptop = join(t.dir, 'laptop')
  for (const d of [dirname(app), dirname(run), dirname(image)]) owned(d)
  mkdirSync(app)
  chmodSync(app, 0o755)
  installHotswap(app)
  writeFileSync(join(app, 'package.json'), '{ "type": "module" }\n')
  writeFileSync(join(app, 'server.js'), SERVER_JS)
  owned(join(app, 'db'))
  owned(join(app, 'backups'))
  seed(join(app, 'db', 'production.sqlite3'), { label: 'v0' })
  if (USER !== undefined) chownSync(join(app, 'db', 'production.sqlite3'), USER.uid, USER.gid)
  mkdirSync(laptop)
  // What systemd does for the unit: its RuntimeDirectory, made for User= with its mode.
  owned(run, Number.parseInt(one('RuntimeDirectoryMode'), 8))
  systemd = await start(here(one('ExecStart')).split(' '), here(one('WorkingDirectory')), unitEnv())
  assert.equal(systemd.child.exitCode, null, systemd.output())
})

after(async () => {
  const codes = [await systemd?.stop(), await docker?.stop()]
  t?.cleanup()
  assert.deepEqual(codes.filter((c) => c !== undefined), docker === undefined ? [0] : [0, 0])
})

const standIns = `
ssh () { shift; sh -c "$1"; }
fly () {
  case "$2 $3" in
    "console -C") sh -c "$4" ;;
    "sftp get"|"sftp put") cp "$4" "$5" ;;
    *) echo "stand-in fly: unknown command $*" >&2; return 2 ;;
  esac
}
`

/**
 * Runs a block as a script (each command must succeed) in `cwd`, with a PATH that has no node
 * on it: the recipes name node by its full path, as a non-interactive shell (ssh, sudo, cron)
 * reads no profile.
 */
async function runBlock (block: string, cwd: string, opts: { nodeOnPath?: boolean } = {}): Promise<{ code: number | null, stderr: string }> {
  const child = spawn('/bin/sh', ['-c', `set -e\n${standIns}\n${here(block)}`], {
    cwd,
    env: { ...process.env, PATH: opts.nodeOnPath === true ? `${dirname(process.execPath)}:${process.env.PATH ?? ''}` : toolsWithoutNode() },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return { code, stderr }
}

let tools: string | undefined

/** A PATH of the tools the recipes use (sh, cp, gzip, find, …), and no node. */
function toolsWithoutNode (): string {
  if (tools !== undefined) return tools
  tools = join(t.dir, 'tools')
  mkdirSync(tools)
  for (const name of ['sh', 'cp', 'rm', 'mv', 'cat', 'date', 'gzip', 'find', 'base64', 'tr', 'setpriv']) {
    const found = spawnSync('/bin/sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim()
    if (found !== '') symlinkSync(found, join(tools, name))
  }
  return tools
}

async function liveLabel (served: Served): Promise<unknown> {
  return (await request(served.port, '/label', { keepAlive: false })).json().label
}

test('systemd: the README shows examples/deploy/myapp.service as it is', () => {
  const [block] = blocksUnder('### systemd')
  assert.equal(block, unitText)
})

test('systemd: systemd-analyze verify passes the unit without a warning', () => {
  // .ci/run installs Debian's systemd package (for systemd-analyze) where it is missing.
  assert.equal(spawnSync('sh', ['-c', 'command -v systemd-analyze']).status, 0, 'systemd-analyze is not installed (Debian package systemd)')
  // Its paths as this machine's, so that verify finds the executables.
  const file = join(t.dir, 'myapp.service')
  writeFileSync(file, here(unitText))
  const res = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' })
  assert.equal(res.status, 0, res.stderr)
  assert.equal(res.stderr.trim(), '', 'no warning')
})

test('systemd: ExecReload is `hotswap reload`, the socket in the RuntimeDirectory, the CLI by its full path', () => {
  const dir = one('RuntimeDirectory')
  assert.match(one('RuntimeDirectoryMode'), /^0?700$/, 'the socket folder is private (serve refuses one others may write)')
  assert.equal(unitEnv().HOTSWAP_SOCKET, here(`/run/${dir}/hotswap.sock`))
  assert.match(one('ExecStart'), /^\/\S+\/node \/\S+\/node_modules\/\.bin\/hotswap serve /)
  assert.match(one('ExecReload'), /^\/\S+\/node \/\S+\/node_modules\/\.bin\/hotswap reload$/)
  assert.notEqual(unit.get('User'), undefined)
  assert.ok(statSync(systemd.socket).isSocket(), 'the server listens in the RuntimeDirectory')
})

test('systemd: ExecReload, run as systemd runs it, replaces every worker and exits 0', async () => {
  const before = (await statusJson(systemd.socket, app)).workers.map((w) => w.pid)
  const [node, ...args] = here(one('ExecReload')).split(' ')
  const res = await runAs(node as string, args, here(one('WorkingDirectory')), unitEnv())
  assert.equal(res.code, 0, res.stderr)
  const after = (await statusJson(systemd.socket, app)).workers.map((w) => w.pid)
  assert.equal(after.length, before.length)
  assert.deepEqual(after.filter((p) => before.includes(p)), [], 'every worker was replaced')
})

/** Runs a command as the unit's user (the server's), with `env` and nothing of a profile. */
async function runAs (command: string, args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null, stderr: string }> {
  const child = spawn(command, args, { cwd, env: { PATH: '/usr/bin:/bin', HOME: t.dir, ...env }, stdio: ['ignore', 'ignore', 'pipe'], ...USER })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return { code, stderr }
}

test('systemd: the README\'s deploy line (sudo -u the unit\'s user) swaps the database', async () => {
  const section = readme.slice(readme.indexOf('\n### systemd\n'), readme.indexOf('\n### Docker\n'))
  const line = /`(cd \/srv\/myapp && sudo -u (\w+) [^`]+)`/.exec(section)
  assert.ok(line !== null, 'a `cd /srv/myapp && sudo -u USER … cp …` line')
  assert.equal(line[2], one('User'))
  seed(join(app, 'new.sqlite3'), { label: 'via-sudo' })
  chmodSync(join(app, 'new.sqlite3'), 0o644)
  // sudo -u as the unit's user: setpriv where the tests run as root, else the command itself.
  const as = USER === undefined ? '' : `setpriv --reuid=${USER.uid} --regid=${USER.gid} --clear-groups `
  const res = await runBlock((line[1] as string).replace(/sudo -u \w+ /, as), app)
  assert.equal(res.code, 0, res.stderr)
  assert.equal(await liveLabel(systemd), 'via-sudo')
})

test('ssh: push through stdin and pull through stdout, as the README writes them', async () => {
  const [block] = blocksUnder('### Push and pull over ssh')
  assert.match(block ?? '', /^ssh \S+ '.*' < new\.sqlite3$/m)
  seed(join(laptop, 'new.sqlite3'), { label: 'over-ssh' })
  const res = await runBlock(block as string, laptop)
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stderr, '', 'nothing on stderr off a terminal')
  assert.equal(await liveLabel(systemd), 'over-ssh')
  assert.equal(labelOf(join(laptop, 'backup.sqlite3')), 'over-ssh', 'the pulled backup is the pushed database, byte for byte readable')
})

test('cron: a dated, gzipped snapshot, and backups older than the retention removed', async () => {
  const [block] = blocksUnder('### Backups on a schedule')
  const line = (block ?? '').split('\n').find((l) => /^[\d*]/.test(l))
  assert.ok(line !== undefined, 'a crontab entry')
  const fields = line.split(/\s+/)
  assert.equal(fields.length > 6, true)
  // What cron hands to sh: the text after the five time fields, with "\%" for "%". sh itself
  // reads "\%" as "%", so the entry also works pasted as it is.
  const command = line.replace(/^(\S+\s+){5}/, '')
  const backups = join(app, 'backups')
  const day = 24 * 3600
  const now = Date.now() / 1000
  writeFileSync(join(backups, 'production-2000-01-01.sqlite3.gz'), 'old')
  utimesSync(join(backups, 'production-2000-01-01.sqlite3.gz'), now - 30 * day, now - 30 * day)
  writeFileSync(join(backups, 'production-2000-01-02.sqlite3.gz'), 'recent')
  utimesSync(join(backups, 'production-2000-01-02.sqlite3.gz'), now - 2 * day, now - 2 * day)

  const res = await runBlock(command, t.dir)
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stderr, '')
  const left = readdirSync(backups).sort()
  const dated = left.filter((n) => /^production-\d{4}-\d{2}-\d{2}\.sqlite3\.gz$/.test(n) && !n.startsWith('production-2000-'))
  assert.equal(dated.length, 1, `one new dated backup in ${left.join(', ')}`)
  assert.equal(existsSync(join(backups, 'production-2000-01-01.sqlite3.gz')), false, 'a 30-day-old backup is removed')
  assert.equal(existsSync(join(backups, 'production-2000-01-02.sqlite3.gz')), true, 'a 2-day-old backup is kept')
  assert.equal(left.length, 2, `nothing else is left behind: ${left.join(', ')}`)
  const restored = join(t.dir, 'restored.sqlite3')
  writeFileSync(restored, gunzipSync(readFileSync(join(backups, dated[0] as string))))
  assert.equal(labelOf(restored), await liveLabel(systemd))
})

/** The Dockerfile's instructions, continuation lines joined. */
function instructions (text: string): Array<{ op: string, arg: string }> {
  return text.replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => { const m = /^(\w+)\s+(.*)$/.exec(l) as RegExpExecArray; return { op: (m[1] as string).toUpperCase(), arg: m[2] as string } })
}

test('Docker: the README shows examples/deploy/Dockerfile and .dockerignore as they are; a non-root USER before the CMD', () => {
  const blocks = blocksUnder('### Docker')
  assert.ok(blocks.includes(dockerfile), 'the Dockerfile')
  assert.ok(blocks.includes(dockerignore), 'the .dockerignore')
  const steps = instructions(dockerfile)
  const users = steps.filter((s) => s.op === 'USER')
  assert.equal(users.length, 1)
  assert.notEqual(users[0]?.arg, 'root')
  assert.ok(steps.findIndex((s) => s.op === 'USER') < steps.findIndex((s) => s.op === 'CMD'))
  const cmd = JSON.parse(steps.find((s) => s.op === 'CMD')?.arg ?? 'null') as string[]
  assert.ok(Array.isArray(cmd), 'CMD in exec form: node is PID 1 and gets SIGTERM')
  assert.deepEqual(cmd.slice(cmd.indexOf('--workers'), cmd.indexOf('--workers') + 2), ['--workers', 'max'])
  assert.ok(cmd.includes('--create'), 'the first start on an empty volume creates the database')
  for (const kept of ['node_modules', '.git', 'db', '*.sqlite3']) assert.ok(dockerignore.split('\n').includes(kept), `.dockerignore has ${kept}`)
})

/** Whether a context path is left out by the .dockerignore (its patterns, from the context's root). */
function ignored (path: string): boolean {
  const patterns = dockerignore.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))
  const glob = (p: string): RegExp => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`)
  return patterns.some((p) => glob(p).test(path))
}

test('Docker: the Dockerfile\'s steps, run here, give a non-root server that starts on an empty volume and takes a push', async () => {
  // The build context: an app folder with what must not reach the image beside the code.
  const context = join(t.dir, 'context')
  mkdirSync(context)
  writeFileSync(join(context, 'package.json'), '{ "type": "module", "dependencies": { "hotswap": "*" } }\n')
  writeFileSync(join(context, 'package-lock.json'), '{}\n')
  writeFileSync(join(context, 'server.js'), SERVER_JS)
  for (const d of ['node_modules/better-sqlite3', '.git', 'db', 'tmp/sockets']) mkdirSync(join(context, d), { recursive: true })
  seed(join(context, 'db', 'production.sqlite3'), { label: 'laptop' })
  writeFileSync(join(context, '.env'), 'SECRET=1\n')
  // Each instruction as the builder runs it, in a root of its own (`/app` is `image` here).
  let workdir = '/'
  const env: Record<string, string> = {}
  let user: string | undefined
  let cmd: string[] = []
  const copy = (srcs: string[], dest: string): void => {
    const to = here(join(workdir, dest))
    mkdirSync(to, { recursive: true })
    for (const src of srcs) {
      cpSync(join(context, src), join(to, src === '.' ? '' : src), {
        recursive: true,
        filter: (p) => { const rel = relative(context, p); return rel === '' || !ignored(rel) },
      })
    }
  }
  for (const { op, arg } of instructions(dockerfile)) {
    if (op === 'FROM' || op === 'EXPOSE') continue
    if (op === 'ENV') for (const m of arg.matchAll(/(\w+)=(\S+)/g)) env[m[1] as string] = m[2] as string
    else if (op === 'WORKDIR') { workdir = arg; mkdirSync(here(arg), { recursive: true }) }
    else if (op === 'COPY') { const parts = arg.split(/\s+/); copy(parts.slice(0, -1), parts.at(-1) as string) }
    else if (op === 'USER') user = arg
    else if (op === 'CMD') cmd = JSON.parse(arg) as string[]
    else if (op === 'RUN' && /^npm ci\b/.test(arg)) installHotswap(here(workdir)) // what it installs, without the network
    else if (op === 'RUN') {
      // The image's user is `node`; here it is the test's USER.
      const script = arg.replace(/\bnode:node\b/g, USER === undefined ? `${process.getuid?.()}:${process.getgid?.()}` : `${USER.uid}:${USER.gid}`)
      const res = spawnSync('sh', ['-c', script], { cwd: here(workdir), encoding: 'utf8' })
      assert.equal(res.status, 0, `RUN ${arg}: ${res.stderr}`)
    } else assert.fail(`an instruction this test does not run: ${op}`)
  }
  assert.equal(user, 'node')
  assert.deepEqual(readdirSync(image).sort(), ['db', 'node_modules', 'package-lock.json', 'package.json', 'server.js', 'tmp'], 'nothing ignored reached the image')
  assert.deepEqual(readdirSync(join(image, 'node_modules')).sort(), ['.bin', 'hotswap'], 'the host\'s node_modules stayed out')
  assert.deepEqual(readdirSync(join(image, 'db')), [], 'the laptop\'s database stayed out: the volume starts empty')
  // The named volume on /app/db: empty, a copy of the image's folder (its owner included).
  if (USER !== undefined) assert.equal(statSync(join(image, 'db')).uid, USER.uid, 'db/ is the image user\'s')

  assert.deepEqual(readdirSync(join(image, 'db')), [], 'serve --create starts on the empty volume')
  docker = await start(cmd, image, env)
  assert.equal(docker.child.exitCode, null, docker.output())
  assert.ok(existsSync(join(image, 'db', 'production.sqlite3')))
  // The README's swap through the container, with `docker exec -i myapp` as a shell in WORKDIR.
  const section = readme.slice(readme.indexOf('\n### Docker\n'), readme.indexOf('\n## Deployment recipes\n'))
  const push = /`docker exec -i \S+ ([^`]+< new\.sqlite3)`/.exec(section)
  assert.ok(push !== null, 'a `docker exec -i … cp - … < new.sqlite3` line')
  seed(join(image, 'new.sqlite3'), { label: 'into-the-volume' })
  const res = await runBlock(push[1] as string, image, { nodeOnPath: true }) // the image's PATH
  assert.equal(res.code, 0, res.stderr)
  await waitUntil('the pushed label', async () => await liveLabel(docker as Served) === 'into-the-volume')
  rmSync(join(image, 'new.sqlite3'))
})

test('Fly.io (the Docker image): console pull, sftp pull and push, base64 pull', async () => {
  assert.ok(docker !== undefined, 'the Docker recipe did not start (see the test before this one)')
  const served = docker
  const [direct, viaSftp, viaBase64] = blocksUnder('### Fly.io')
  assert.ok(direct !== undefined && viaSftp !== undefined && viaBase64 !== undefined, 'three blocks')
  const backup = join(laptop, 'backup.sqlite3')

  rmSync(backup, { force: true })
  let res = await runBlock(direct, laptop)
  assert.equal(res.code, 0, res.stderr)
  const before = await liveLabel(served)
  assert.equal(labelOf(backup), before)

  rmSync(backup, { force: true })
  seed(join(laptop, 'new.sqlite3'), { label: 'over-sftp' })
  res = await runBlock(viaSftp, laptop)
  assert.equal(res.code, 0, res.stderr)
  assert.equal(labelOf(backup), before, 'the pull ran before the push')
  assert.equal(await liveLabel(served), 'over-sftp')
  assert.deepEqual(readdirSync(join(image, 'tmp')).filter((n) => n.endsWith('.sqlite3')), ['backup.sqlite3'], 'the pushed file was removed')

  rmSync(backup, { force: true })
  res = await runBlock(viaBase64, laptop)
  assert.equal(res.code, 0, res.stderr)
  assert.equal(labelOf(backup), 'over-sftp')
})
