// The coordinator's durable record of a fleet decision, written before any host switches and
// updated as the switch ends: `.hotswap/fleet/<id>.json` beside the config file (or in the
// working directory), each version written whole (temp file, fsync, rename, directory fsync).
//
//   votes all equal ─▶ state "decided" (the hosts, their stage ids) ─▶ go to every host
//     ─▶ "committed" | "aborted" (before any install) | "undone" | "split" (needs a person)

import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { HotswapError } from '../../shared/errors.js'

export type DecisionState = 'decided' | 'committed' | 'aborted' | 'undone' | 'split'

export interface DecisionRecord {
  version: 1
  id: string
  createdAt: string
  updatedAt: string
  decision: 'commit'
  state: DecisionState
  live: string
  digest: string
  hosts: Array<{ name: string, remote: string, stage: string, checkedAgainst: number, outcome?: string }>
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
  static create (dir: string, r: Omit<DecisionRecord, 'version' | 'id' | 'createdAt' | 'updatedAt' | 'state'>): Decision {
    const now = new Date()
    const id = `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`
    const d = new Decision(dir, { version: 1, id, createdAt: now.toISOString(), updatedAt: now.toISOString(), state: 'decided', ...r })
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      d.#write()
    } catch (err) {
      throw new HotswapError('HOTSWAP_ERR_DESTINATION', `cannot record the fleet decision in ${dir}: ${(err as Error).message}`)
    }
    return d
  }

  /**
   * The end of the decision. Best effort: the hosts already are where they are, so a record that
   * cannot be written is said on stderr, and the command's outcome stands.
   */
  update (state: DecisionState, outcomes: Record<string, string> = {}): void {
    this.record.state = state
    this.record.updatedAt = new Date().toISOString()
    for (const h of this.record.hosts) {
      const o = outcomes[h.name]
      if (o !== undefined) h.outcome = o
    }
    try {
      this.#write()
    } catch (err) {
      process.stderr.write(`WARNING the fleet decision ${this.path} still says "decided": recording "${state}" failed: ${(err as Error).message}\n`)
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
