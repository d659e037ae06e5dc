// The coordinator's durable record of a fleet decision, written before any host switches and
// updated as the switch ends: `.hotswap/fleet/<id>.json` beside the config file (or in the
// working directory), each version written whole (temp file, fsync, rename, directory fsync).
//
//   "staging" (the hosts; each stage id as it is made) ─▶ a refusal: every stage aborted ─▶ removed
//   votes all equal ─▶ state "decided" (the hosts, their stage ids) ─▶ go to every host
//     ─▶ "committed" | "aborted" (before any install) | "undone" | "split" (needs a person)
//   `fleet undo`: decision "undo", each host's generation before (from) and the one back (to)
// A record in "staging", "decided" or "split" is unfinished: `fleet recover` finishes it (recover.ts).

import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { HotswapError } from '../../shared/errors.js'

export type DecisionState = 'staging' | 'decided' | 'committed' | 'aborted' | 'undone' | 'split'

/** The states `fleet recover` finishes. */
export const UNFINISHED: readonly DecisionState[] = ['staging', 'decided', 'split']

export interface DecisionRecord {
  version: 1
  id: string
  createdAt: string
  updatedAt: string
  decision: 'commit' | 'undo'
  state: DecisionState
  live: string
  /** The digest every host is to serve ('' while staging). */
  digest: string
  /** stage: '' until the host's stage is made (and for an undo); from/to: an undo's generations. */
  hosts: Array<{ name: string, remote: string, stage: string, checkedAgainst: number, from?: number, to?: number, outcome?: string }>
  /** What `fleet recover` did, when it finished the decision. */
  recovered?: string
}

function fsyncPath (path: string): void {
  const fd = openSync(path, 'r')
  try { fsyncSync(fd) } finally { closeSync(fd) }
}

export class Decision {
  readonly path: string
  readonly record: DecisionRecord

  private constructor (dir: string, record: DecisionRecord) {
    this.path = join(dir, `${record.id}.json`)
    this.record = record
  }

  /** Records the decision; a record that cannot be made durable stops the fleet cp before any switch. */
  static create (dir: string, r: Omit<DecisionRecord, 'version' | 'id' | 'createdAt' | 'updatedAt' | 'state'>, state: DecisionState = 'decided'): Decision {
    const now = new Date()
    const id = `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`
    const d = new Decision(dir, { version: 1, id, createdAt: now.toISOString(), updatedAt: now.toISOString(), state, ...r })
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      d.#write()
    } catch (err) {
      throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot record the fleet decision in ${dir}: ${(err as Error).message}`)
    }
    return d
  }

  /** A record already on disk (`fleet recover`); one that cannot be read is HOTSWAP_ERR_CONFIG naming it. */
  static load (dir: string, id: string): Decision {
    const path = join(dir, `${id}.json`)
    if (!existsSync(path)) throw new HotswapError('HOTSWAP_ERR_USAGE', `no fleet decision ${id} in ${dir}`)
    let r: DecisionRecord
    try {
      r = JSON.parse(readFileSync(path, 'utf8')) as DecisionRecord
    } catch (err) {
      throw new HotswapError('HOTSWAP_ERR_CONFIG', `the fleet decision ${path} cannot be read: ${(err as Error).message}`)
    }
    if (r?.version !== 1 || r.id !== id || !Array.isArray(r.hosts) || typeof r.live !== 'string' || typeof r.state !== 'string') {
      throw new HotswapError('HOTSWAP_ERR_CONFIG', `the fleet decision ${path} is not a decision record of this version`)
    }
    return new Decision(dir, r)
  }

  /** Every unfinished decision in the directory, oldest first. */
  static unfinished (dir: string): Decision[] {
    if (!existsSync(dir)) return []
    return readdirSync(dir).filter((n) => /^[0-9TZ]+-[0-9a-f]{8}\.json$/.test(n)).sort()
      .map((n) => Decision.load(dir, n.slice(0, -'.json'.length)))
      .filter((d) => UNFINISHED.includes(d.record.state))
  }

  /** While staging: a host's stage id, recorded as soon as it is known (best effort, as update). */
  staged (host: string, stage: string): void {
    const h = this.record.hosts.find((x) => x.name === host)
    if (h !== undefined) h.stage = stage
    this.update(this.record.state)
  }

  /** The staging record becomes the decision: written durably before any host switches, or thrown. */
  decide (digest: string, votes: Map<string, { stage: string, checkedAgainst: number }>): void {
    this.record.digest = digest
    for (const h of this.record.hosts) {
      const v = votes.get(h.name)
      if (v !== undefined) { h.stage = v.stage; h.checkedAgainst = v.checkedAgainst }
    }
    this.record.state = 'decided'
    this.record.updatedAt = new Date().toISOString()
    try {
      this.#write()
    } catch (err) {
      throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot record the fleet decision in ${join(this.path, '..')}: ${(err as Error).message}`)
    }
  }

  /** A staging record whose stages are all aborted: nothing was decided, nothing is left to finish. */
  discard (): void {
    try { rmSync(this.path, { force: true }) } catch { /* it stays "staging": recover finds nothing to do */ }
  }

  /**
   * The end of the decision. Best effort: the hosts already are where they are, so a record that
   * cannot be written is said on stderr, and the command's outcome stands.
   */
  update (state: DecisionState, outcomes: Record<string, string> = {}): void {
    const was = this.record.state
    this.record.state = state
    this.record.updatedAt = new Date().toISOString()
    for (const h of this.record.hosts) {
      const o = outcomes[h.name]
      if (o !== undefined) h.outcome = o
    }
    try {
      this.#write()
    } catch (err) {
      process.stderr.write(`WARNING the fleet decision ${this.path} still says "${was}": recording "${state}" failed: ${(err as Error).message}\n`)
    }
  }

  #write (): void {
    const temp = `${this.path}.${randomBytes(4).toString('hex')}.tmp`
    const fd = openSync(temp, 'wx', 0o600)
    try {
      writeSync(fd, JSON.stringify(this.record, null, 2) + '\n')
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, this.path)
    fsyncPath(join(this.path, '..'))
  }
}
