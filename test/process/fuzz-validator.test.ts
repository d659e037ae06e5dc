// Fuzzing the validator: real databases mutated every way an upload can go
// wrong, and none of them may be installed unless it passes every check.
//
//   bulk (in-process, the piscina task function itself): truncated at every page boundary and
//   inside every page, bytes appended, every header field edited, single and multiple bit
//   flips anywhere, b-tree page headers scribbled on. For each: validate() either refuses with a
//   candidate error code, or accepts a file that independently passes the header size rule,
//   PRAGMA integrity_check, a readable dump of every table and the live schema. It never throws
//   and never leaves -wal/-shm/-journal beside the temp file.
//   served (a real `hotswap serve`, under HTTP load): a sample pushed in the gem's framing.
//   exit 0 ⇒ the live database holds exactly the pushed data and passes integrity_check;
//   exit ≠ 0 ⇒ the live database is unchanged. The primary never dies.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { validate } from '../../src/primary/sqlite/validate.js'
import { dump, fixture, integrity, leftovers, liveForFile, prng, push, report, seed, type Served, startServe, tempDir, TrackedLoad, waitNoLeftovers } from '../support/index.js'

const SEED = Number(process.env.HOTSWAP_FUZZ_SEED ?? Date.now() % 1_000_000)
const FLIPS = Number(process.env.HOTSWAP_FUZZ_FLIPS ?? 600)
const SERVED = Number(process.env.HOTSWAP_FUZZ_SERVED ?? 40)

/** Every kind of page: table and index b-trees (interior and leaf), overflow, freelist. */
const EXTRA = 'CREATE INDEX items_name ON items (name);'

let t: ReturnType<typeof tempDir>
let live: string

liveForFile({ extraSql: EXTRA }, (s) => { ({ t, live } = s) })

/** A candidate with every page type; `wal` sets the WAL bytes in its header. */
function base (name: string, wal: boolean): { bytes: Buffer, pageSize: number } {
  const path = join(t.dir, name)
  seed(path, { label: name, rows: 1500, wal, extraSql: EXTRA })
  const db = new Database(path)
  try {
    db.prepare('INSERT INTO items (name, price_cents) VALUES (?, 1)').run('o'.repeat(12_000)) // overflow pages
    db.exec('DELETE FROM items WHERE id % 3 = 0') // freelist pages
  } finally {
    db.close()
  }
  const bytes = readFileSync(path)
  const raw = bytes.readUInt16BE(16)
  return { bytes, pageSize: raw === 1 ? 65536 : raw }
}

interface Mutant { kind: string, bytes: Buffer }

function mutants (b: { bytes: Buffer, pageSize: number }, rand: () => number): Mutant[] {
  const { bytes, pageSize } = b
  const pages = bytes.length / pageSize
  const out: Mutant[] = []
  const int = (n: number): number => Math.floor(rand() * n)
  // Truncated at every page boundary (including 0 bytes) and inside every page.
  for (let p = 0; p < pages; p++) {
    out.push({ kind: 'truncated at a page boundary', bytes: bytes.subarray(0, p * pageSize) })
    out.push({ kind: 'truncated inside a page', bytes: bytes.subarray(0, p * pageSize + 1 + int(pageSize - 1)) })
  }
  // Appended bytes.
  for (const extra of [1, 100, pageSize - 1, pageSize, 2 * pageSize + 7]) {
    out.push({ kind: 'bytes appended (zeros)', bytes: Buffer.concat([bytes, Buffer.alloc(extra)]) })
    out.push({ kind: 'bytes appended (random)', bytes: Buffer.concat([bytes, Buffer.from(Array.from({ length: extra }, () => int(256)))]) })
  }
  // Every header field (https://www.sqlite.org/fileformat2.html#the_database_header).
  const fields: Array<[string, number, 1 | 2 | 4]> = [
    ['magic', 0, 4], ['magic', 12, 4], ['page size', 16, 2], ['write version', 18, 1], ['read version', 19, 1], ['reserved space', 20, 1],
    ['max payload fraction', 21, 1], ['min payload fraction', 22, 1], ['leaf payload fraction', 23, 1], ['change counter', 24, 4],
    ['page count', 28, 4], ['freelist trunk', 32, 4], ['freelist count', 36, 4], ['schema cookie', 40, 4], ['schema format', 44, 4],
    ['default cache size', 48, 4], ['largest root (auto-vacuum)', 52, 4], ['text encoding', 56, 4], ['user version', 60, 4],
    ['incremental vacuum', 64, 4], ['application id', 68, 4], ['reserved zeros', 72, 4], ['reserved zeros', 88, 4],
    ['version-valid-for', 92, 4], ['SQLite version', 96, 4],
  ]
  for (const [name, offset, size] of fields) {
    const max = size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff
    const current = size === 1 ? bytes.readUInt8(offset) : size === 2 ? bytes.readUInt16BE(offset) : bytes.readUInt32BE(offset)
    for (const v of new Set([0, 1, 2, 3, max, (current + 1) % (max + 1), current === 0 ? max : current - 1, int(max + 1)])) {
      if (v === current) continue
      const m = Buffer.from(bytes)
      if (size === 1) m.writeUInt8(v, offset)
      else if (size === 2) m.writeUInt16BE(v, offset)
      else m.writeUInt32BE(v >>> 0, offset)
      out.push({ kind: `header: ${name}`, bytes: m })
    }
  }
  // B-tree page headers (byte 0 of a page, byte 100 of page 1) and their cell counts.
  for (let p = 0; p < pages; p++) {
    const at = p === 0 ? 100 : p * pageSize
    const m = Buffer.from(bytes)
    m[at] = int(256)
    m[at + 3] = int(256)
    out.push({ kind: 'b-tree page header scribbled', bytes: m })
  }
  // Bit flips anywhere: single ones, and bursts.
  for (let i = 0; i < FLIPS; i++) {
    const m = Buffer.from(bytes)
    const n = i % 4 === 3 ? 2 + int(30) : 1
    for (let k = 0; k < n; k++) {
      const at = int(m.length)
      m[at] = (m[at] as number) ^ (1 << int(8))
    }
    out.push({ kind: n === 1 ? 'one bit flipped' : 'several bits flipped', bytes: m })
  }
  return out
}

/** The checks the validator promises, made here without its code. */
function independentlyValid (path: string): string | null {
  const bytes = readFileSync(path)
  if (bytes.length < 100 || !bytes.subarray(0, 16).equals(Buffer.from('SQLite format 3\0', 'latin1'))) return 'no SQLite header'
  const raw = bytes.readUInt16BE(16)
  const pageSize = raw === 1 ? 65536 : raw
  if (bytes.readUInt32BE(24) === bytes.readUInt32BE(92) && bytes.length !== pageSize * bytes.readUInt32BE(28)) return 'size ≠ page size × page count'
  if (bytes.length % pageSize !== 0) return 'not whole pages'
  const rows = integrity(path)
  if (rows.length !== 1 || rows[0] !== 'ok') return `integrity_check: ${rows.slice(0, 2).join('; ')}`
  try {
    dump(path)
  } catch (err) {
    return `a table cannot be read: ${(err as Error).message}`
  }
  return schemaOf(path) === schemaOf(live) ? null : `schema differs: ${schemaOf(path)}`
}

function schemaOf (path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const rows = db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").raw().all() as string[][]
    return rows.map((r) => r.map((v) => String(v).toLowerCase().replace(/["`[\]]/g, '').replace(/\s+/g, ' ').replace(/\s*([(),])\s*/g, '$1').trim()).join('|')).join('\n')
  } finally {
    db.close()
  }
}

const REFUSALS = new Set(['HOTSWAP_ERR_EMPTY', 'HOTSWAP_ERR_NOT_SQLITE', 'HOTSWAP_ERR_TRUNCATED', 'HOTSWAP_ERR_INTEGRITY', 'HOTSWAP_ERR_SCHEMA_MISMATCH'])

function sha (b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

test('bulk: every mutation is refused, or accepted only when it passes every check independently', (tt) => {
  const rand = prng(SEED)
  const liveHash = sha(readFileSync(live))
  const byKind = new Map<string, { refused: number, accepted: number }>()
  const codes = new Map<string, number>()
  const problems: string[] = []
  let cases = 0
  for (const [name, wal] of [['rollback-candidate', false], ['wal-candidate', true]] as const) {
    const b = base(`${name}.sqlite3`, wal)
    for (const m of mutants(b, rand)) {
      cases++
      const tempPath = join(t.dir, `.live.sqlite3.hotswap-fuzz${cases}.tmp`)
      writeFileSync(tempPath, m.bytes)
      let r
      try {
        r = validate({ tempPath, livePath: live, skipIntegrity: false, skipSchema: false })
      } catch (err) {
        problems.push(`${m.kind}: validate threw ${(err as Error).stack ?? String(err)}`)
        continue
      }
      const tally = byKind.get(m.kind) ?? { refused: 0, accepted: 0 }
      byKind.set(m.kind, tally)
      // Checked before our own checks open the file (a read-only open of a WAL file makes them).
      for (const suffix of ['-wal', '-shm', '-journal']) {
        if (existsSync(tempPath + suffix)) problems.push(`${m.kind}: ${suffix} left beside the temp file`)
      }
      if (r.ok) {
        tally.accepted++
        const liveWal = readFileSync(live).readUInt8(18) === 2
        const head = readFileSync(tempPath).subarray(18, 20)
        if ((head[0] === 2 && head[1] === 2) !== liveWal) problems.push(`${m.kind}: accepted with header bytes 18-19 = ${head[0]}/${head[1]}, not the live journal mode`)
        const why = independentlyValid(tempPath)
        if (why !== null) problems.push(`${m.kind}: accepted, but ${why}`)
      } else {
        tally.refused++
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1)
        if (!REFUSALS.has(r.code)) problems.push(`${m.kind}: refused with ${r.code}: ${r.message}`)
      }
      for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(tempPath + suffix, { force: true })
      if (problems.length > 40) break
    }
  }
  assert.deepEqual(problems, [])
  assert.equal(sha(readFileSync(live)), liveHash, 'validation never touched the live file')
  assert.deepEqual(leftovers(t.dir), [])
  const accepted = [...byKind.values()].reduce((n, k) => n + k.accepted, 0)
  tt.diagnostic(`seed ${SEED}: ${cases} mutated databases validated: ${cases - accepted} refused (${[...codes.entries()].map(([c, n]) => `${c} ${n}`).join(', ')}), ${accepted} accepted, every accepted one independently valid`)
  tt.diagnostic(`by mutation (refused/accepted): ${[...byKind.entries()].map(([k, v]) => `${k} ${v.refused}/${v.accepted}`).join('; ')}`)
  report(tt, 'validator fuzz (in-process)', { faults: 0, survived: 0, lost: 0, tempLeft: 0, fuzzCases: cases })
})

test(`served: ${SERVED} mutated databases pushed to a live server under load`, async (tt) => {
  const dir = join(t.dir, 'served')
  mkdirSync(dir)
  const servedLive = join(dir, 'live.sqlite3')
  seed(servedLive, { label: 'v0', extraSql: EXTRA })
  const server: Served = await startServe({ dir, dbs: [servedLive], workers: 2, app: fixture('faults-app.mjs') })
  const rand = prng(SEED + 1)
  let load: TrackedLoad | undefined
  const outcomes = { installed: 0, refused: 0 }
  try {
    // Mostly single bit flips (the mutations most likely to pass every check), plus the rest.
    const all = mutants(base('served-candidate.sqlite3', true), rand)
    const flips = all.filter((m) => m.kind === 'one bit flipped')
    const others = all.filter((m) => m.kind !== 'one bit flipped')
    const sample = [...flips.slice(0, Math.ceil(SERVED / 2)), ...Array.from({ length: Math.floor(SERVED / 2) }, () => others[Math.floor(rand() * others.length)] as Mutant)]
    load = new TrackedLoad(server.port)
    for (const m of sample) {
      const before = dump(servedLive)
      const file = join(dir, 'pushed.sqlite3')
      writeFileSync(file, m.bytes)
      const r = await push(server.socket, m.bytes)
      assert.notEqual(r.control, null, `${m.kind}: the server answered`)
      assert.equal(server.child.exitCode, null, 'the primary is alive')
      if (r.control?.exit === 0) {
        outcomes.installed++
        assert.deepEqual(integrity(servedLive), ['ok'], `${m.kind}: installed and passes integrity_check`)
        assert.equal(dump(servedLive), dump(file), `${m.kind}: the live database holds exactly the pushed data`)
      } else {
        outcomes.refused++
        assert.ok(REFUSALS.has(r.control?.code ?? ''), `${m.kind}: ${JSON.stringify(r.control)}`)
        assert.equal(dump(servedLive), before, `${m.kind}: refused and the live database is unchanged`)
      }
    }
  } finally {
    await load?.stop()
    const code = await server.stop()
    assert.equal(code, 0)
  }
  assert.deepEqual(await waitNoLeftovers(dir), [])
  assert.deepEqual(load?.unexplained(), [], `no request failed (${load?.summary() ?? ''})`)
  assert.deepEqual(load?.bad, [])
  tt.diagnostic(`seed ${SEED}: ${SERVED} pushed: ${outcomes.installed} installed (each whole, integrity ok, data equal to the upload), ${outcomes.refused} refused (live unchanged); load ${load?.summary() ?? ''}`)
  report(tt, 'validator fuzz (served)', { faults: 0, survived: 0, lost: 0, tempLeft: 0, fuzzCases: SERVED })
})
