// A database's generations as a test sees them from outside the server: a served live.sqlite3
// with the files to push to it, its `.hotswap/<file>/` folder, the manifest there (read straight
// from disk, or once the digests computed after a swap's reply are in), and `history --json`
// over the socket without a CLI start-up.

import assert from 'node:assert/strict'
import { mkdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { DatabaseHistoryReport } from '../../src/primary/control/commands/history.js'
import type { Manifest } from '../../src/primary/generations/manifest.js'
import { pushable, seed } from './files.js'
import { type Served, startServe } from './serve.js'
import { exchange, gemStream } from './socket.js'
import { waitUntil } from './wait.js'

export type { DatabaseHistoryReport } from '../../src/primary/control/commands/history.js'
export type { Manifest } from '../../src/primary/generations/manifest.js'

export interface ServedLive {
  dir: string
  /** `dir/live.sqlite3`, seeded with label v1 (10 rows). */
  live: string
  served: Served
  /** A file to push per label: `dir/LABEL.sqlite3`, 13, 16, 19… rows. */
  files: Record<string, string>
}

/** A folder `name` in `parent` holding live.sqlite3 and the files to push, served with `args` (2 workers unless told). */
export async function serveInFolder (parent: string, name: string, opts: { labels: string[], args?: string[], workers?: number }): Promise<ServedLive> {
  const dir = join(parent, name)
  mkdirSync(dir)
  const live = join(dir, 'live.sqlite3')
  seed(live, { label: 'v1', rows: 10 })
  const files = Object.fromEntries(opts.labels.map((l, i) => [l, pushable(dir, l, 13 + i * 3).path]))
  const served = await startServe({ dir, dbs: [live], workers: opts.workers ?? 2, args: opts.args ?? [] })
  return { dir, live, served, files }
}

/** `DIR/.hotswap/<file name>/`: where the kept generations and the manifest of `live` are. */
export function generationsFolder (live: string): string {
  return join(dirname(live), '.hotswap', basename(live))
}

export function manifestOf (live: string): Manifest {
  return JSON.parse(readFileSync(join(generationsFolder(live), 'manifest.json'), 'utf8')) as Manifest
}

/**
 * The manifest once every kept generation has its digest: a swap's reply comes before the
 * retired file's digest is written into it, so until then the manifest may still be rewritten.
 */
export async function settledManifest (live: string): Promise<Manifest> {
  return await waitUntil(`the digests of the kept generations of ${live}`, () => {
    const m = manifestOf(live)
    return m.generations.every((g) => g.digest !== null || g.id === m.live) && m
  })
}

/** `history --json` over the socket, framed by hand: each database's report. */
export async function historyOf (socketPath: string, names: string[] = []): Promise<DatabaseHistoryReport[]> {
  const r = await exchange(socketPath, gemStream(['history', ...names, '--json']), { timeoutMs: 10_000 })
  assert.equal(r.control?.exit, 0, `history answered: ${r.stderr}`)
  return (JSON.parse(r.stdout.toString('utf8')) as { databases: DatabaseHistoryReport[] }).databases
}
