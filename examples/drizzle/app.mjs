// The JSON API with drizzle-orm's better-sqlite3 driver on hotswap's handle. drizzle(handle)
// works as is: drizzle only calls prepare() and transaction(), and the handle's statements are
// re-prepared on the new file after a swap (so are drizzle's .prepare()d queries).
//   hotswap serve examples/drizzle/app.mjs --workers 4 --db examples/db/app.sqlite3 --port 3000
import http from 'node:http'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { count, eq } from 'drizzle-orm'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { database } from 'hotswap'

const items = sqliteTable('items', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
  priceCents: integer('price_cents').notNull(),
})
const meta = sqliteTable('meta', { key: text('key').primaryKey(), value: text('value').notNull() })

const orm = drizzle(database())
// Prepared once at start-up, like a handle statement: valid across swaps.
const labelQuery = orm.select({ value: meta.value }).from(meta).where(eq(meta.key, 'label')).prepare()
const countQuery = orm.select({ n: count() }).from(items).prepare()
const label = () => labelQuery.get()?.value
const total = () => countQuery.get()?.n
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  try {
    if (req.method === 'POST' && url.pathname === '/items') {
      // drizzle's transaction() runs on the handle's transaction(), which finds the current
      // connection at each call.
      const n = orm.transaction((tx) => {
        tx.insert(items).values({ name: url.searchParams.get('name') ?? 'new', priceCents: 1 }).run()
        return tx.select({ n: count() }).from(items).get()?.n
      })
      return send(res, 200, { label: label(), count: n })
    }
    if (url.pathname === '/label') return send(res, 200, { label: label(), pid: process.pid })
    if (url.pathname === '/items') return send(res, 200, { label: label(), items: orm.select().from(items).limit(100).all() })
    if (url.pathname === '/torn') {
      const first = label()
      const firstCount = total()
      await sleep(Number(url.searchParams.get('ms') ?? 5))
      return send(res, 200, { first, firstCount, second: label(), secondCount: total() })
    }
    send(res, 404, { error: 'not found' })
  } catch (err) {
    send(res, 500, { error: err.message, code: err.code })
  }
})

function send (res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1')
