// Creates the example's sample database on first run (npm start calls this).
// Usage: node examples/seed.js [path] [label]
import Database from 'better-sqlite3'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

const path = process.argv[2] ?? new URL('./db/app.sqlite3', import.meta.url).pathname
const label = process.argv[3] ?? 'sample'
if (existsSync(path) && process.argv[3] === undefined) process.exit(0)

mkdirSync(dirname(path), { recursive: true })
const db = new Database(path)
db.pragma('journal_mode = WAL')
db.exec(`
  CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`)
const insert = db.prepare('INSERT INTO items (name, price_cents) VALUES (?, ?)')
db.transaction(() => {
  db.prepare('DELETE FROM items').run()
  for (const [name, price] of [['apple', 50], ['bread', 250], ['cheese', 700], ['dates', 400]]) insert.run(name, price)
  db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('label', label)
})()
db.close()
process.stderr.write(`seeded ${path} (label ${label})\n`)
