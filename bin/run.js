#!/usr/bin/env node
// `hotswap cp` with plain arguments skips oclif, whose import alone costs ~120 ms of every
// start (src/client/fast-cp.ts), and so do the plain `history`, `status` and `lease` a fleet
// coordinator runs on every host (src/client/fast-remote.ts); anything they do not recognise
// falls through to oclif.
let handled = false
// Run from a deleted directory, every command would fail on its first path: say so once.
const { checkWorkingDirectory } = await import('../dist/src/client/working-directory.js')
const badCwd = checkWorkingDirectory()
if (badCwd !== null) {
  process.exitCode = badCwd
  handled = true
} else if (process.argv[2] === 'cp') {
  const { fastCp } = await import('../dist/src/client/fast-cp.js')
  const code = await fastCp(process.argv.slice(3))
  if (code !== null) {
    process.exitCode = code
    handled = true
  }
} else if (['history', 'status', 'lease'].includes(process.argv[2])) {
  // The plain shapes a fleet coordinator runs on every host (src/client/fast-remote.ts).
  const { fastRemote } = await import('../dist/src/client/fast-remote.js')
  const code = await fastRemote(process.argv[2], process.argv.slice(3))
  if (code !== null) {
    process.exitCode = code
    handled = true
  }
}
if (!handled) {
  const { runOclif } = await import('../dist/src/client/oclif-run.js')
  await runOclif(process.argv.slice(2), import.meta.url)
}
