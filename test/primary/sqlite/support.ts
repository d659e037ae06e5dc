// What the unit tests of the thread tasks (src/primary/sqlite/) share: temp directories, real
// SQLite files, and outside connections as real child processes, because SQLite's locks (and
// the hazards they guard against) are per process.

import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import { integrity as integrityCheck, namesDb, namesIn, testDir, type TestContext } from '../../support/files.js'

export { testDir as tempDir, namesIn as names, type TestContext }

export const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3')

/**
 * Runs `body` in a child Node process with `Database` and `file` defined, and resolves once it
 * prints "ready". The child is killed by pid when the test ends, whatever happened.
 */
export async function child (t: TestContext, file: string, body: string): Promise<ChildProcess> {
  const script = `
    const Database = require(${JSON.stringify(betterSqlite3)})
    const file = ${JSON.stringify(file)}
    ${body}
    setInterval(() => {}, 1000)
  `
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => killChild(proc))
  let out = ''
  let err = ''
  await new Promise<void>((resolve, reject) => {
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('ready\n')) resolve()
    })
    proc.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString() })
    proc.on('exit', (code) => reject(new Error(`child exited (${code}) before ready: ${err}`)))
  })
  return proc
}

export async function killChild (proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  if (proc.pid !== undefined) process.kill(proc.pid, 'SIGKILL')
  await exited
}

/** `file` with `items(id, name)` holding `rows` (a, b, c unless told); `extraColumn` makes another schema. */
export function makeDb (file: string, opts: { wal?: boolean, rows?: string[], extraColumn?: boolean } = {}): string {
  return namesDb(file, opts.rows ?? ['a', 'b', 'c'], opts)
}

/** integrity_check on a read-write connection: a file these tests leave in WAL mode may have no -shm. */
export const integrity = (file: string): string[] => integrityCheck(file, { write: true })

export function sideFiles (file: string): string[] {
  return ['-wal', '-shm', '-journal'].filter((s) => fs.existsSync(file + s))
}

export function isWalHeader (file: string): boolean {
  const head = fs.readFileSync(file).subarray(0, 100)
  return head[18] === 2 && head[19] === 2
}

export const rows = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)

export function validateInput (tempPath: string, livePath: string, skip: { integrity?: boolean, schema?: boolean } = {}) {
  return { tempPath, livePath, skipIntegrity: skip.integrity === true, skipSchema: skip.schema === true }
}
