// The same JSON API over TLS with node:https (whose Server inherits from tls.Server, not
// http.Server: hotswap gates it all the same). TLS_KEY and TLS_CERT name PEM files.
//   openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -subj /CN=localhost -days 30
//   TLS_KEY=key.pem TLS_CERT=cert.pem hotswap serve examples/https/app.mjs --db examples/db/app.sqlite3 --port 3443
//   curl -k https://localhost:3443/label
import https from 'node:https'
import { readFileSync } from 'node:fs'
import { database } from 'hotswap'

const db = database()
const label = db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck()
const count = db.prepare('SELECT count(*) FROM items').pluck()
const items = db.prepare('SELECT id, name, price_cents FROM items ORDER BY id LIMIT 100')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const tls = { key: readFileSync(process.env.TLS_KEY ?? 'key.pem'), cert: readFileSync(process.env.TLS_CERT ?? 'cert.pem') }

const server = https.createServer(tls, async (req, res) => {
  const url = new URL(req.url ?? '/', 'https://localhost')
  try {
    if (url.pathname === '/label') return send(res, 200, { label: label.get(), pid: process.pid })
    if (url.pathname === '/items') return send(res, 200, { label: label.get(), items: items.all() })
    if (url.pathname === '/torn') {
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

server.listen(Number(process.env.PORT ?? 3443), process.env.HOST ?? '127.0.0.1')
