// The JSON API on Express 5, as a CommonJS app: require('hotswap') loads the package's ES module
// (require(esm), unflagged from Node 20.19 and 22.12, the versions `engines` admits), the same
// module instance an `import` gets. Nothing else differs from examples/express/app.mjs.
//   hotswap serve examples/express-cjs/app.cjs --workers 4 --db examples/db/app.sqlite3 --port 3000
'use strict'
const express = require('express')
const { database } = require('hotswap')

const db = database()
const label = db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck()
const count = db.prepare('SELECT count(*) FROM items').pluck()
const items = db.prepare('SELECT id, name, price_cents FROM items ORDER BY id LIMIT 100')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const app = express()
app.get('/label', (req, res) => { res.json({ label: label.get(), pid: process.pid }) })
app.get('/items', (req, res) => { res.json({ label: label.get(), items: items.all() }) })
app.get('/torn', async (req, res) => {
  const first = label.get()
  const firstCount = count.get()
  await sleep(Number(req.query.ms ?? 5))
  res.json({ first, firstCount, second: label.get(), secondCount: count.get() })
})
// Express 5 passes rejected promises of async handlers here.
app.use((err, req, res, next) => { res.status(500).json({ error: err.message, code: err.code }) })

app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1')
