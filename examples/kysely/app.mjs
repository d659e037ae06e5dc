// The JSON API with Kysely's SqliteDialect on hotswap's handle. It works as is: Kysely calls
// prepare() for every query and uses the statement's reader/all/run/iterate, all of which
// the handle provides on whichever file is live.
//   hotswap serve examples/kysely/app.mjs --workers 4 --db examples/db/app.sqlite3 --port 3000
// Do not call kdb.destroy() before shutdown: it closes the handle for the rest of the process.
import http from 'node:http'
import { Kysely, SqliteDialect } from 'kysely'
import { database } from 'hotswap'

const kdb = new Kysely({ dialect: new SqliteDialect({ database: database() }) })

const label = async () => (await kdb.selectFrom('meta').select('value').where('key', '=', 'label').executeTakeFirst())?.value
const total = async () => Number((await kdb.selectFrom('items').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  try {
    if (req.method === 'POST' && url.pathname === '/items') {
      // BEGIN ... awaits ... COMMIT: the request is in flight throughout, so a swap waits for it.
      const n = await kdb.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ name: url.searchParams.get('name') ?? 'new', price_cents: 1 }).execute()
        return Number((await trx.selectFrom('items').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
      })
      return send(res, 200, { label: await label(), count: n })
    }
    if (url.pathname === '/label') return send(res, 200, { label: await label(), pid: process.pid })
    if (url.pathname === '/items') return send(res, 200, { label: await label(), items: await kdb.selectFrom('items').selectAll().limit(100).execute() })
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
