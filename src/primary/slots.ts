// The worker slots (1..wanted) as the supervisor keeps them between the workers that hold them:
// how many workers the configuration wants (`--workers`, then `hotswap scale`), each slot's
// restarts and quick crashes in a row (the crash-loop guard's count, and its backoff), the
// restart waiting on its timer, and a slot given up: its last error and when. A given-up slot is
// kept, not forgotten: `status` shows it, and `reload` starts it again with a fresh count.
//
//   crash ─▶ crashed(): quick crashes in a row ≤ maxRestarts ─▶ backoff ─▶ restart
//                                               > maxRestarts ─▶ giveUp() ─▶ (status) ─▶ revive()

/** A slot the supervisor stopped restarting. */
export interface GivenUp {
  /** Why: the crash loop, or the reason no worker can start there (its last error). */
  error: string
  at: number
  /** The last worker that ran in it. */
  pid: number
  app: string | null
}

interface SlotRecord {
  /** Restarts after a crash, since start-up. */
  count: number
  /** Quick crashes in a row (each within --min-uptime of its start). */
  quick: number
  timer?: NodeJS.Timeout
  givenUp?: GivenUp
}

export class Slots {
  #wanted: number
  readonly #records = new Map<number, SlotRecord>()

  constructor (wanted: number) {
    this.#wanted = wanted
  }

  /** How many workers the configuration wants now (slots 1..wanted). */
  get wanted (): number {
    return this.#wanted
  }

  /** `hotswap scale`: slots above `n` are forgotten (their timers cleared, given up or not). */
  resize (n: number): void {
    this.#wanted = n
    for (const [slot, r] of this.#records) {
      if (slot <= n) continue
      clearTimeout(r.timer)
      this.#records.delete(slot)
    }
  }

  has (slot: number): boolean {
    return slot >= 1 && slot <= this.#wanted
  }

  restartsOf (slot: number): number {
    return this.#records.get(slot)?.count ?? 0
  }

  /**
   * A crash after `uptimeMs`: the quick crashes in a row (a long enough run starts the count
   * again) and the backoff before the restart (100 ms doubling to 10 s; none after a long run).
   */
  crashed (slot: number, uptimeMs: number, minUptimeMs: number): { quick: number, delayMs: number } {
    const r = this.#record(slot)
    r.quick = uptimeMs < minUptimeMs ? r.quick + 1 : 0
    return { quick: r.quick, delayMs: r.quick === 0 ? 0 : Math.min(100 * 2 ** (r.quick - 1), 10_000) }
  }

  /** The restart of `slot` in `delayMs`, counted when it runs. */
  restartLater (slot: number, delayMs: number, restart: () => void): void {
    const r = this.#record(slot)
    clearTimeout(r.timer)
    r.timer = setTimeout(() => {
      r.timer = undefined
      r.count++
      restart()
    }, delayMs)
  }

  giveUp (slot: number, givenUp: GivenUp): void {
    const r = this.#record(slot)
    clearTimeout(r.timer)
    r.givenUp = givenUp
  }

  givenUp (): Array<{ slot: number } & GivenUp> {
    return [...this.#records].flatMap(([slot, r]) => r.givenUp === undefined || slot > this.#wanted ? [] : [{ slot, ...r.givenUp }])
  }

  /** Every slot is given up: no worker can be kept running. */
  allGivenUp (): boolean {
    return this.givenUp().length >= this.#wanted
  }

  /** `reload`: a given-up slot gets its chance again, with a fresh crash-loop count. */
  revive (slot: number): void {
    const r = this.#record(slot)
    r.givenUp = undefined
    r.quick = 0
  }

  /** Shutdown: no restart fires any more. */
  clearTimers (): void {
    for (const r of this.#records.values()) clearTimeout(r.timer)
  }

  #record (slot: number): SlotRecord {
    let r = this.#records.get(slot)
    if (r === undefined) {
      r = { count: 0, quick: 0 }
      this.#records.set(slot, r)
    }
    return r
  }
}
