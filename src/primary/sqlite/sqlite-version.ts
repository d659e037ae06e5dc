// The SQLite library the pool threads run (better-sqlite3's bundled one), for /metrics's build
// info: asked of an in-memory database, so no file is opened.

import Database from 'better-sqlite3'
import type { TaskResult } from './result.js'

export function sqliteVersion (_input: Record<never, never>): TaskResult<string> {
  const db = new Database(':memory:')
  try {
    return { ok: true, value: db.prepare('SELECT sqlite_version()').pluck().get() as string }
  } finally {
    db.close()
  }
}
