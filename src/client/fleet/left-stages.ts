// The stages a fleet cp made and could not abort (the host went away: its sshd died, its packets
// dropped, its serve was killed): remembered on the coordinator's disk, so that the next fleet cp
// to that host aborts them before it stages. Without it a host that came back kept the stage until
// its expiry (serve --stage-ttl, an hour), and every fleet cp meanwhile was refused there
// (HOTSWAP_ERR_ALREADY_STAGED).
//
//   abort(host, id) ─▶ REMOTE abort ID ─▶ failed? ─▶ .hotswap/fleet/left-stages.json += { host, id }
//   next fleet cp ─▶ clear(hosts): REMOTE abort ID for each one left there
//                    ─▶ done, or the stage is gone already (committed, expired): forgotten

import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { HotswapError } from '../../shared/errors.js'
import type { FleetHost } from './config.js'
import type { Ssh } from './ssh.js'
import { abortOn } from './stage.js'

interface LeftStage { host: string, stage: string, since: string, reason: string }

/** An abort that found no such stage: nothing is left to abort. */
const GONE = ['HOTSWAP_ERR_UNKNOWN_STAGE', 'HOTSWAP_ERR_STAGE_EXPIRED']

export class LeftStages {
  readonly path: string

  constructor (stateDir: string) {
    this.path = join(stateDir, 'left-stages.json')
  }

  #read (): LeftStage[] {
    try {
      const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as unknown
      return Array.isArray(parsed) ? parsed.filter((e): e is LeftStage => typeof (e as LeftStage)?.host === 'string' && typeof (e as LeftStage)?.stage === 'string') : []
    } catch {
      return []
    }
  }

  #write (entries: LeftStage[]): void {
    mkdirSync(join(this.path, '..'), { recursive: true, mode: 0o700 })
    const temp = `${this.path}.${randomBytes(4).toString('hex')}.tmp`
    writeFileSync(temp, JSON.stringify(entries, null, 2) + '\n', { mode: 0o600 })
    renameSync(temp, this.path)
  }

  /** Aborts the stage; when that fails, remembers it (best effort) and says so in the error. */
  async abort (ssh: Ssh, host: FleetHost, stage: string): Promise<HotswapError | undefined> {
    const err = await abortOn(ssh, host, stage)
    if (err === undefined || GONE.includes(err.code)) return undefined
    try {
      this.#write([...this.#read().filter((e) => !(e.host === host.name && e.stage === stage)), { host: host.name, stage, since: new Date().toISOString(), reason: `${err.code} ${err.message}` }])
    } catch (e) {
      return new HotswapError(err.code, `${err.message} (and it could not be remembered in ${this.path}: ${(e as Error).message}; abort it there by hand: hotswap abort ${stage})`, err.details)
    }
    return new HotswapError(err.code, `${err.message} (remembered in ${this.path}: the next fleet cp to ${host.name} aborts it first)`, err.details)
  }

  /** Aborts what earlier fleet cps left on these hosts; what still cannot be aborted stays remembered. */
  async clear (ssh: Ssh, hosts: FleetHost[]): Promise<void> {
    const entries = this.#read()
    if (entries.length === 0) return
    const kept = await Promise.all(entries.map(async (e) => {
      const host = hosts.find((h) => h.name === e.host)
      if (host === undefined) return [e]
      const err = await abortOn(ssh, host, e.stage)
      return err === undefined || GONE.includes(err.code) ? [] : [e]
    }))
    try {
      this.#write(kept.flat())
    } catch { /* remembered as before: tried again next time */ }
  }
}
