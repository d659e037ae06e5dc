// One winston logger per process. JSON lines when stdout is not a terminal (systemd, docker,
// tests), a short human format when it is. Workers tag their lines with their id.

import winston from 'winston'

export type Logger = winston.Logger

function pickFormat (): winston.Logform.Format {
  const wanted = process.env.HOTSWAP_LOG_FORMAT
  const pretty = wanted === 'pretty' || (wanted !== 'json' && process.stdout.isTTY === true)
  if (!pretty) return winston.format.combine(winston.format.timestamp(), winston.format.json())
  return winston.format.combine(
    winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
    winston.format.printf((info) => {
      const { level, message, timestamp, role, ...rest } = info as Record<string, unknown>
      const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : ''
      return `${String(timestamp)} ${String(role ?? '')} ${String(level)}: ${String(message)}${extra}`
    }),
  )
}

let root: winston.Logger | undefined

export function getLogger (role = 'hotswap'): winston.Logger {
  if (root === undefined) {
    root = winston.createLogger({
      level: process.env.HOTSWAP_LOG_LEVEL ?? 'info',
      format: pickFormat(),
      transports: [new winston.transports.Console()],
    })
  }
  return root.child({ role })
}

/** Waits until everything logged so far is written, so nothing is lost at exit. */
export async function flushLogger (): Promise<void> {
  const logger = root
  if (logger === undefined) return
  root = undefined
  await new Promise<void>((resolve) => {
    const done = (): void => resolve()
    logger.on('finish', done)
    logger.end()
    setTimeout(done, 1000).unref()
  })
}
