// The example app: a tiny JSON API over the managed database.
//   hotswap serve examples/app.js --workers 4 --db examples/db/app.sqlite3 --port 3000
//   curl localhost:3000/items
import http from 'node:http'
import { database } from 'hotswap'

const db = database()
// Prepared once at start-up; these keep working across every swap.
const listItems = db.prepare('SELECT id, name, price_cents FROM items ORDER BY id')
const label = db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck()
const addItem = db.prepare('INSERT INTO items (name, price_cents) VALUES (?, ?)')

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  if (req.method === 'GET' && url.pathname === '/items') {
    return send(res, 200, { label: label.get(), pid: process.pid, items: listItems.all() })
  }
  if (req.method === 'POST' && url.pathname === '/items') {
    const name = url.searchParams.get('name') ?? 'unnamed'
    const price = Number(url.searchParams.get('price_cents') ?? 0)
    const { lastInsertRowid } = addItem.run(name, price)
    return send(res, 201, { id: Number(lastInsertRowid) })
  }
  if (url.pathname === '/') return send(res, 200, { hello: 'hotswap', try: ['GET /items', 'POST /items?name=x&price_cents=1'] })
  send(res, 404, { error: 'not found' })
})

function send (res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body) + '\n')
}

const port = Number(process.env.PORT ?? 3000)
server.listen(port, process.env.HOST ?? '127.0.0.1')
