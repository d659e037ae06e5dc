// knex before 3.3 (no connectionPool option): knex keeps its own connection to the live file, so
// the app closes it before every swap and lets knex reopen on the new file after. The rest of
// the app is the same as app.mjs.
//   hotswap serve examples/knex/recipe.mjs --workers 4 --db examples/db/app.sqlite3 --port 3000
import http from 'node:http'
import knex from 'knex'
import { database, onPause, onResume } from 'hotswap'

// The managed file's path (reading it opens nothing).
const db = knex({ client: 'better-sqlite3', connection: { filename: database().name }, useNullAsDefault: true })
// onPause runs once this worker's requests have finished, before the file is replaced:
// destroy() closes knex's connection, so nothing holds the old file. onResume runs on the new
// file, before held requests are released: a new pool, connected at the first query.
onPause(async () => { await db.destroy() })
onResume(() => { db.initialize() })

const label = async () => (await db('meta').where({ key: 'label' }).first('value'))?.value
const total = async () => Number((await db('items').count({ n: '*' }).first()).n)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  try {
    if (req.method === 'POST' && url.pathname === '/items') {
      const n = await db.transaction(async (trx) => {
        await trx('items').insert({ name: url.searchParams.get('name') ?? 'new', price_cents: 1 })
        return Number((await trx('items').count({ n: '*' }).first()).n)
      })
      return send(res, 200, { label: await label(), count: n })
    }
    if (url.pathname === '/label') return send(res, 200, { label: await label(), pid: process.pid })
    if (url.pathname === '/items') return send(res, 200, { label: await label(), items: await db('items').select().limit(100) })
    if (url.pathname === '/torn') {
      const first = await label()
      const firstCount = await total()
      await sleep(Number(url.searchParams.get('ms') ?? 5))
      return send(res, 200, { first, firstCount, second: await label(), secondCount: await total() })
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
