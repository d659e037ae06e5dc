// A host's stage and its vote, the first step of a fleet cp, run on every host at once:
//
//   SRC bytes ─ssh─▶ REMOTE cp - LIVE --stage ─▶ stage id  (received and checked there as a push)
//   REMOTE history LIVE --json ─▶ its stage record ─▶ vote: (stage id, digest, checkedAgainst)
//   REMOTE status --json (meanwhile) ─▶ its control socket, for the switch (forward.ts)
//
// The digest is the host's SHA-256 of the staged file after its checks set the live database's
// journal mode on it: equal on every host that will serve the same bytes. `received` is its
// SHA-256 of the bytes as they came, before the checks: the one the source's digest is
// compared with (setting the journal mode rewrites header bytes 18-19, 24-27 and 92-95).

import { createReadStream } from 'node:fs'
import { pipeline, Transform, type Readable } from 'node:stream'
import { HotswapError } from '../../shared/errors.js'
import type { FleetHost } from './config.js'
import { remoteSocketOf } from './forward.js'
import type { StageWatch } from './progress.js'
import { failureOf } from './reasons.js'
import type { Ssh } from './ssh.js'

export interface Vote {
  stage: string
  digest: string
  checkedAgainst: number
  /** The digest of the bytes the host received (absent from a host whose hotswap does not report it). */
  received?: string
}

/** What one host did: its stage id once it has one (even if its vote then failed). */
export interface HostStage {
  host: FleetHost
  stage?: string
  vote?: Vote
  failure?: HotswapError
  ms: number
}

export interface StageOptions {
  live: string
  sourcePath: string
  flags: string[]
}

interface HistoryJson { databases?: Array<{ name?: string, live?: number, generations?: Array<{ id?: number, digest?: string | null, pauseMs?: number | null, createdAt?: string, bytes?: number }>, staged?: Array<{ id?: string, digest?: string, checkedAgainst?: number, received?: string }> }> }

/** `history LIVE --json` on the host: its one database's record. */
export async function historyOn (ssh: Ssh, host: FleetHost, live: string | undefined): Promise<NonNullable<HistoryJson['databases']>> {
  const r = await ssh.run(host, ['history', ...(live === undefined ? [] : [live]), '--json'])
  if (r.code !== 0) throw failureOf(r, 'history')
  try {
    const parsed = JSON.parse(r.stdout) as HistoryJson
    if (!Array.isArray(parsed.databases)) throw new Error('no databases list')
    return parsed.databases
  } catch (err) {
    throw new HotswapError('HOTSWAP_ERR_PROTOCOL', `history: the host answered something else than its JSON (${(err as Error).message})`)
  }
}

/** `watch` (a terminal's progress) is told of the bytes sent and of the end of the sending. */
export async function stageOn (ssh: Ssh, host: FleetHost, o: StageOptions, watch?: StageWatch): Promise<HostStage> {
  const started = Date.now()
  const result: HostStage = { host, ms: 0 }
  try {
    const file = createReadStream(o.sourcePath, { highWaterMark: 1024 * 1024 })
    const input = watch === undefined ? file : counted(file, watch)
    const r = await ssh.run(host, ['cp', '-', o.live, '--stage', ...o.flags], { input })
    const id = r.stdout.trim()
    if (r.code !== 0) throw failureOf(r, 'stage')
    if (!/^[0-9a-f]{8}$/.test(id)) throw new HotswapError('HOTSWAP_ERR_PROTOCOL', `stage: the host answered ${JSON.stringify(id.slice(0, 64))}, not a stage id`)
    result.stage = id
    // Its control socket asked at once, for the switch to reach it through the ssh master.
    const [[db]] = await Promise.all([historyOn(ssh, host, o.live), remoteSocketOf(ssh, host)])
    const rec = db?.staged?.find((s) => s.id === id)
    if (rec === undefined || typeof rec.digest !== 'string' || typeof rec.checkedAgainst !== 'number') {
      throw new HotswapError('HOTSWAP_ERR_PROTOCOL', `history: the host does not list stage ${id}`)
    }
    result.vote = { stage: id, digest: rec.digest, checkedAgainst: rec.checkedAgainst, ...(typeof rec.received === 'string' ? { received: rec.received } : {}) }
  } catch (err) {
    result.failure = err instanceof HotswapError ? err : new HotswapError('HOTSWAP_ERR_INTERNAL', (err as Error).message)
  }
  result.ms = Date.now() - started
  return result
}

/** The source passed through, its bytes told to `watch` (pipeline: closing the counter closes the file). */
function counted (file: Readable, watch: StageWatch): Readable {
  const counter = new Transform({
    transform: (chunk: Buffer, _enc, done) => { watch.sent(chunk.length); done(null, chunk) },
    flush: (done) => { watch.validating(); done() },
  })
  pipeline(file, counter, () => {})
  return counter
}

/** Drops a host's stage (after a refusal elsewhere); its failure, if the drop failed. */
export async function abortOn (ssh: Ssh, host: FleetHost, stage: string): Promise<HotswapError | undefined> {
  const r = await ssh.run(host, ['abort', stage])
  return r.code === 0 ? undefined : failureOf(r, `abort of stage ${stage}`)
}
