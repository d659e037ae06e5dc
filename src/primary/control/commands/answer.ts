// How a commit (a push, an undo, a commit of stages) is answered: OK once every worker serves
// the new files, or HOTSWAP_ERR_WORKER_FAILED when it happened but some worker did not resume.

import { ExitCodes, HotswapError } from '../../../shared/errors.js'
import type { CommitReport } from '../../swap/coordinator.js'
import type { Session } from '../session.js'

export async function answerCommit (s: Session, report: CommitReport): Promise<number> {
  const failed = report.failedWorkers
  if (failed.length > 0) {
    const names = report.databases.map((d) => d.path).join(', ')
    // The swap happened: not a plain OK, and not a failure to retry blindly either.
    throw new HotswapError('HOTSWAP_ERR_WORKER_FAILED',
      `the new database IS live in ${names}, but ${failed.length} of ${report.workers} worker(s) failed to resume on it ` +
      `and are being replaced one at a time (${failed.map((f) => `worker ${f.id}, pid ${f.pid}`).join('; ')})`,
      failed.map((f) => `worker ${f.id} (pid ${f.pid}): ${f.error}`))
  }
  await s.stdout('OK\n')
  return ExitCodes.ok
}
