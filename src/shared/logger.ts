// One winston logger per process. JSON lines when stdout is not a terminal (systemd, docker,
// tests), a short human format when it is; `--log-format`, `--log-level` and `--log-file`
// (or HOTSWAP_LOG_*) override. Workers always log JSON to the primary, which re-emits their
// lines through its own logger, so one format and one file hold everything.

import winston from 'winston'

export type Logger = winston.Logger
export type LogFormat = 'json' | 'pretty'

export interface LoggerConfig {
  format?: LogFormat
  level?: string
  file?: string
}

function pretty (): winston.Logform.Format {
  return winston.format.combine(
    winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
    winston.format.printf((info) => {
      const { level, message, timestamp, role, ...rest } = info as Record<string, unknown>
      const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : ''
      return `${String(timestamp)} ${String(role ?? '')} ${String(level)}: ${String(message)}${extra}`
    }),
  )
}

function json (): winston.Logform.Format {
  return winston.format.combine(winston.format.timestamp(), winston.format.json())
}

let root: winston.Logger | undefined
let config: LoggerConfig = {}

/** Sets format, level and file for the loggers created after it (call it first). */
export function configureLogger (c: LoggerConfig): void {
  config = { ...c }
  root = undefined
}

export const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']

function currentLogConfig (): { format: LogFormat, level: string } {
  const wanted = config.format ?? process.env.HOTSWAP_LOG_FORMAT
  const format: LogFormat = wanted === 'pretty' || (wanted !== 'json' && process.stdout.isTTY === true) ? 'pretty' : 'json'
  return { format, level: config.level ?? process.env.HOTSWAP_LOG_LEVEL ?? 'info' }
}

function rootLogger (): winston.Logger {
  if (root === undefined) {
    const { format, level } = currentLogConfig()
    const transports: winston.transport[] = [new winston.transports.Console({ format: format === 'pretty' ? pretty() : json() })]
    const file = config.file ?? process.env.HOTSWAP_LOG_FILE
    if (file !== undefined && file !== '') transports.push(new winston.transports.File({ filename: file, format: json() }))
    root = winston.createLogger({ level, transports })
  }
  return root
}

export function getLogger (role = 'hotswap'): winston.Logger {
  return rootLogger().child({ role })
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
