// Named points where a test may have the primary killed (SIGKILL, as a power cut or an OOM
// kill would), to prove a crash there leaves every database whole: HOTSWAP_TEST_CRASH_AT=NAME.
// Unset (always, outside the tests), a point costs one comparison.
//
//   commit: before-intent ─▶ after-intent ─▶ paused ─▶ renamed-1 … renamed-N ─▶ resumed ─▶ saved

const AT = process.env.HOTSWAP_TEST_CRASH_AT

export function crashPoint (name: string): void {
  if (AT === undefined || AT !== name) return
  process.kill(process.pid, 'SIGKILL')
}
