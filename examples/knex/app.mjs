// The JSON API with knex on hotswap's handle. knex's better-sqlite3 client would open its own
// connections by file name, which know nothing of swaps; knexPool() (for knex's connectionPool
// option, knex >= 3.3) gives knex the swap-safe handle instead, one query or transaction at a
// time, as knex's own SQLite pool does.
//   hotswap serve examples/knex/app.mjs --workers 4 --db examples/db/app.sqlite3 --port 3000
import http from 'node:http'
import knex from 'knex'
import { knexPool } from 'hotswap'

const db = knex({ client: 'better-sqlite3', connectionPool: knexPool(), useNullAsDefault: true })

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
