// How a fleet report (status, history) is printed: made, then JSON as it is (exit 0 when the
// hosts agree, else 1) or its text; a failure to make it is the one coded error line.

import { ExitCodes } from '../../shared/errors.js'
import { reportError } from '../output.js'

export async function printFleetReport<R extends { agrees: boolean }> (make: () => Promise<R>, json: boolean, text: (report: R) => number): Promise<number> {
  let report: R
  try {
    report = await make()
  } catch (err) {
    return reportError(err)
  }
  if (!json) return text(report)
  process.stdout.write(JSON.stringify(report) + '\n')
  return report.agrees ? ExitCodes.ok : ExitCodes.failure
}
