// A signal to the coordinator (Ctrl-C, SIGTERM, SIGHUP) during a fleet cp. Before the go it stops
// the cp at its next step: every stage aborted, every paused host told to abort, nothing changed.
// After the go the switch is finishing on every host, and stopping then is what would split the
// fleet: the signal is noted and the cp runs to its end.

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export class Interrupt {
  signal: NodeJS.Signals | undefined
  /** Resolves at the first signal before the go. */
  readonly happened: Promise<void>
  #wake: () => void = () => {}
  #switching = false
  readonly #handler = (sig: NodeJS.Signals): void => {
    if (this.#switching) {
      process.stderr.write(`${sig}: every host has been told to switch; finishing the switch first\n`)
      return
    }
    if (this.signal !== undefined) return
    this.signal = sig
    process.stderr.write(`${sig}: stopping the fleet cp; every stage is aborted, nothing is switched\n`)
    this.#wake()
  }

  constructor () {
    this.happened = new Promise((resolve) => { this.#wake = resolve })
    for (const s of SIGNALS) process.on(s, this.#handler)
  }

  /** From the go on, a signal no longer stops anything. */
  switching (): void {
    this.#switching = true
  }

  close (): void {
    for (const s of SIGNALS) process.off(s, this.#handler)
  }
}
