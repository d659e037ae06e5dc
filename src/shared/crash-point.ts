// Named points where a test may have the primary killed (SIGKILL, as a power cut or an OOM
// kill would), to prove a crash there leaves every database whole: HOTSWAP_TEST_CRASH_AT=NAME.
// Unset (always, outside the tests), a point costs one comparison.
//
//   commit: before-intent ─▶ after-intent ─▶ paused ─▶ renamed-1 … renamed-N ─▶ resumed ─▶ saved
//   fleet cp (the coordinator): fleet-before-decision (every vote in) ─▶ fleet-decided (recorded,
//   every host paused, no go yet) ─▶ fleet-between-installs (the first host's OK, the others not told to go)
//   fleet undo: fleet-between-installs as well
//
// HOTSWAP_TEST_STALL_AT=NAME:MS instead holds the process there for MS (its event loop running),
// so that a test can act inside a window too short to hit otherwise:
//   serve: serve-starting (the logger configured, nothing else started yet)

const AT = process.env.HOTSWAP_TEST_CRASH_AT

export function crashPoint (name: string): void {
  if (AT === undefined || AT !== name) return
  process.kill(process.pid, 'SIGKILL')
}

/** Whether the named point is the one armed (a step that must happen in order for it to mean something). */
export function crashArmed (name: string): boolean {
  return AT === name
}

const STALL = /^([a-z-]+):(\d{1,6})$/.exec(process.env.HOTSWAP_TEST_STALL_AT ?? '')

/** Waits there for the armed time when the named point is HOTSWAP_TEST_STALL_AT's; at once otherwise. */
export async function stallPoint (name: string): Promise<void> {
  if (STALL === null || STALL[1] !== name) return
  await new Promise((resolve) => setTimeout(resolve, Number(STALL[2])))
}
