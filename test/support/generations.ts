// A database's generations as a test sees them from outside the server: its `.hotswap/<file>/`
// folder, the manifest there (read straight from disk, or once the digests computed after a
// swap's reply are in), and `history --json` over the socket without a CLI start-up.

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { DatabaseHistoryReport } from '../../src/primary/control/commands/history.js'
import type { Manifest } from '../../src/primary/generations/manifest.js'
import { exchange, gemStream } from './socket.js'
import { waitUntil } from './wait.js'

export type { DatabaseHistoryReport } from '../../src/primary/control/commands/history.js'
export type { Manifest } from '../../src/primary/generations/manifest.js'

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
