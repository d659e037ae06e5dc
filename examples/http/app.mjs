// A tiny JSON API on plain node:http over the managed database (items, meta).
//   hotswap serve examples/http/app.mjs --workers 4 --db examples/db/app.sqlite3 --port 3000
//   curl localhost:3000/label
import http from 'node:http'
import { database } from 'hotswap'

const db = database()
// Prepared once at start-up: they keep working across every swap.
const label = db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck()
const count = db.prepare('SELECT count(*) FROM items').pluck()
const items = db.prepare('SELECT id, name, price_cents FROM items ORDER BY id LIMIT 100')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  try {
    if (url.pathname === '/label') return send(res, 200, { label: label.get(), pid: process.pid })
    if (url.pathname === '/items') return send(res, 200, { label: label.get(), items: items.all() })
    if (url.pathname === '/torn') {
      // Read, await, read again: a swap never lands between the two reads of one request.
      const first = label.get()
      const firstCount = count.get()
      await sleep(Number(url.searchParams.get('ms') ?? 5))
      return send(res, 200, { first, firstCount, second: label.get(), secondCount: count.get() })
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
