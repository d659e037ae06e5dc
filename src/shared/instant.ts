// This host's clock to the microsecond, and a wait for an instant of it: a fleet's hosts start
// their pauses at one instant that the coordinator names in each host's own clock (its "clock"
// and "start T" lines: primary/control/commands/hold.ts, client/fleet/switch.ts).

/** ms since the epoch, to the microsecond, comparable across threads and processes of a host. */
export function epochNow (): number {
  return epochOf(performance.now())
}

/** A performance.now() reading as ms since the epoch. */
export function epochOf (now: number): number {
  return performance.timeOrigin + now
}

/**
 * Resolves at `at` (ms since the epoch, this host's clock), or after `limitMs` when that is
 * sooner. A timer to within 1.5 ms of it, then the event loop's turns: a timer alone fires up to
 * a millisecond late, and late by a different amount on every host.
 */
export async function atInstant (at: number, limitMs: number): Promise<void> {
  const end = Math.min(at, epochNow() + limitMs)
  const left = end - epochNow()
  if (left > 2) await new Promise((resolve) => setTimeout(resolve, left - 1.5))
  while (epochNow() < end) await new Promise((resolve) => setImmediate(resolve))
}
