// One winston logger per process. JSON lines when stdout is not a terminal (systemd, docker,
// tests), a short human format when it is; `--log-format`, `--log-level` and `--log-file`
// (or HOTSWAP_LOG_*) override. Workers always log JSON to the primary, which re-emits their
// lines through its own logger, so one format and one file hold everything.
//
// A worker's own records go to the primary each behind a record separator (RS, 0x1E, as in RFC
// 7464's JSON text sequences), so the primary tells them from the app's bytes on the same pipe:
// a partial line the app left (no newline yet) is cut there, never glued to the record.
//
// The file (--log-file) is reopened by reopenLogFile() (serve calls it on SIGUSR2, logrotate's
// postrotate), and rotated by size with winston's own File transport (maxsize, maxFiles,
// tailable: the live file keeps its name, older ones are NAME1.EXT … NAME{maxFiles-1}.EXT).

import winston from 'winston'

export type Logger = winston.Logger
export type LogFormat = 'json' | 'pretty'

export interface LoggerConfig {
  format?: LogFormat
  level?: string
  file?: string
  /** Rotate the file once it reaches this many bytes. */
  maxSize?: number
  /** Files kept by the rotation, the live one included. */
  maxFiles?: number
}

/** What starts each of a worker's own records on its pipe to the primary. */
export const RECORD_SEPARATOR = '\x1e'

/** Files kept when --log-max-size is given alone. */
export const DEFAULT_LOG_MAX_FILES = 5

/** One record as a person reads it: `12:00:00.000 worker 1 info: message {"extra":…}`. */
export function prettyLine (info: Record<string, unknown>): string {
  const { level, message, timestamp, role, ...rest } = info
  const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : ''
  return `${String(timestamp)} ${String(role ?? '')} ${String(level)}: ${String(message)}${extra}`
}

function pretty (): winston.Logform.Format {
  return winston.format.combine(
    winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
    winston.format.printf((info) => prettyLine(info as Record<string, unknown>)),
  )
}

export function jsonFormat (): winston.Logform.Format {
  return winston.format.combine(winston.format.timestamp(), winston.format.json())
}

/** A worker's records: JSON, each behind the record separator. */
function toPrimary (): winston.Logform.Format {
  const MESSAGE = Symbol.for('message')
  return winston.format.combine(jsonFormat(), winston.format((info) => {
    const i = info as unknown as Record<symbol, unknown>
    i[MESSAGE] = RECORD_SEPARATOR + String(i[MESSAGE])
    return info
  })())
}

let root: winston.Logger | undefined
let config: LoggerConfig = {}
let fileTransport: winston.transport | undefined
/** Transports added by addTransport(), kept across the loggers configureLogger() makes. */
const extra: winston.transport[] = []

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

function logFile (): string | undefined {
  const file = config.file ?? process.env.HOTSWAP_LOG_FILE
  return file !== undefined && file !== '' ? file : undefined
}

function newFileTransport (file: string): winston.transport {
  const rotate = config.maxSize === undefined
    ? {}
    : { maxsize: config.maxSize, maxFiles: config.maxFiles ?? DEFAULT_LOG_MAX_FILES, tailable: true }
  return new winston.transports.File({ filename: file, format: jsonFormat(), ...rotate })
}

function rootLogger (): winston.Logger {
  if (root === undefined) {
    const { format, level } = currentLogConfig()
    const consoleFormat = format === 'pretty' ? pretty() : process.env.HOTSWAP_LOG_TO_PRIMARY === '1' ? toPrimary() : jsonFormat()
    const transports: winston.transport[] = [new winston.transports.Console({ format: consoleFormat }), ...extra]
    const file = logFile()
    fileTransport = file === undefined ? undefined : newFileTransport(file)
    if (fileTransport !== undefined) transports.push(fileTransport)
    root = winston.createLogger({ level, transports })
  }
  return root
}

export function getLogger (role = 'hotswap'): winston.Logger {
  return rootLogger().child({ role })
}

/** Adds a transport (the primary's ring of recent records) to this logger and the next ones. */
export function addTransport (t: winston.transport): void {
  extra.push(t)
  root?.add(t)
}

/**
 * Opens the log file again by its name (after logrotate renamed it): what was written before
 * goes on to the renamed file, what comes after to a new one. Returns the path, or null when
 * there is no log file.
 */
export function reopenLogFile (): string | null {
  const file = logFile()
  const logger = root
  if (file === undefined || logger === undefined) return null
  const old = fileTransport
  fileTransport = newFileTransport(file)
  logger.add(fileTransport)
  if (old !== undefined) {
    logger.remove(old)
    old.end()
  }
  return file
}

/** Waits until everything logged so far is written, so nothing is lost at exit. */
export async function flushLogger (): Promise<void> {
  const logger = root
  if (logger === undefined) return
  root = undefined
  // The extra transports outlive this logger (the next one gets them): not ended with it.
  for (const t of extra) logger.remove(t)
  await new Promise<void>((resolve) => {
    const done = (): void => resolve()
    logger.on('finish', done)
    logger.end()
    setTimeout(done, 1000).unref()
  })
}
