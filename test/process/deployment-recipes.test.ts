// The README's deployment recipes, run as they are written (read from README.md) against
// a real server laid out as /srv/myapp (or /app) would be: node_modules/.bin/hotswap, db/, tmp/,
// backups/, and the control socket at its default path under the app's directory. `ssh` and
// `fly` are shell functions that run the remote command here, through `sh -c`, with the same
// stdin and stdout: what is checked is the command lines, the pipes and the bytes, not ssh or Fly.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { BIN, fixture, freePort, labelOf, request, ROOT, seed, type Served, startServeArgs, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let app: string
let laptop: string
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')

before(async () => {
  t = tempDir()
  app = join(t.dir, 'srv')
  laptop = join(t.dir, 'laptop')
  for (const d of ['db', 'tmp', 'backups', 'node_modules/.bin']) mkdirSync(join(app, d), { recursive: true })
  mkdirSync(laptop)
  symlinkSync(BIN, join(app, 'node_modules', '.bin', 'hotswap'))
  seed(join(app, 'db', 'production.sqlite3'), { label: 'v0' })
  const port = await freePort()
  served = await startServeArgs({
    dir: app,
    args: [fixture('app.mjs'), '--workers', '2', '--db', 'db/production.sqlite3', '--port', String(port)],
    port,
    socket: join(app, 'tmp', 'sockets', 'hotswap.sock'),
    waitListening: 2,
  })
})

after(async () => {
  const code = await served?.stop()
  t?.cleanup()
  assert.equal(code, 0)
})

/** The fenced blocks between a README heading and the next heading. */
function blocksUnder (heading: string): string[] {
  const start = readme.indexOf(`\n${heading}\n`)
  assert.notEqual(start, -1, `README has no "${heading}"`)
  const rest = readme.slice(start + heading.length + 2)
  const section = rest.slice(0, rest.search(/\n#{2,3} /))
  return [...section.matchAll(/```\w*\n([\s\S]*?)```/g)].map((m) => m[1] as string)
}

/** The README's paths point at the app's directory here. */
function here (text: string): string {
  return text.replaceAll('/srv/myapp', app).replace(/\/app\b/g, app)
}

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

/** Runs a README block as a script (each command must succeed) in `cwd`. */
async function runBlock (block: string, cwd: string): Promise<{ code: number | null, stderr: string }> {
  const child = spawn('sh', ['-c', `set -e\n${standIns}\n${here(block)}`], {
    cwd,
    env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return { code, stderr }
}

async function liveLabel (): Promise<unknown> {
  return (await request(served.port, '/label', { keepAlive: false })).json().label
}

test('ssh: push through stdin and pull through stdout, as the README writes them', async () => {
  const [block] = blocksUnder('### Push and pull over ssh')
  assert.match(block ?? '', /^ssh prod '.*' < new\.sqlite3$/m)
  seed(join(laptop, 'new.sqlite3'), { label: 'over-ssh' })
  const res = await runBlock(block as string, laptop)
  assert.equal(res.code, 0, res.stderr)
  assert.equal(res.stderr, '', 'nothing on stderr off a terminal')
  assert.equal(await liveLabel(), 'over-ssh')
  assert.equal(labelOf(join(laptop, 'backup.sqlite3')), 'over-ssh', 'the pulled backup is the pushed database, byte for byte readable')
})

test('Fly.io: console pull, sftp pull and push, base64 pull', async () => {
  const [direct, viaSftp, viaBase64] = blocksUnder('### Fly.io')
  assert.ok(direct !== undefined && viaSftp !== undefined && viaBase64 !== undefined, 'three blocks')
  const backup = join(laptop, 'backup.sqlite3')

  rmSync(backup, { force: true })
  let res = await runBlock(direct, laptop)
  assert.equal(res.code, 0, res.stderr)
  const before = await liveLabel()
  assert.equal(labelOf(backup), before)

  rmSync(backup, { force: true })
  seed(join(laptop, 'new.sqlite3'), { label: 'over-sftp' })
  res = await runBlock(viaSftp, laptop)
  assert.equal(res.code, 0, res.stderr)
  assert.equal(labelOf(backup), before, 'the pull ran before the push')
  assert.equal(await liveLabel(), 'over-sftp')
  assert.deepEqual(readdirSync(join(app, 'tmp')).filter((n) => n.endsWith('.sqlite3')), ['backup.sqlite3'], 'the pushed file was removed')

  rmSync(backup, { force: true })
  res = await runBlock(viaBase64, laptop)
  assert.equal(res.code, 0, res.stderr)
  assert.equal(labelOf(backup), 'over-sftp')
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
  assert.equal(labelOf(restored), await liveLabel())
})
