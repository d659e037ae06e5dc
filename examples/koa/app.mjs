// The JSON API on Koa 3 (app.listen is node:http underneath, so hotswap gates it as is).
//   hotswap serve examples/koa/app.mjs --workers 4 --db examples/db/app.sqlite3 --port 3000
import Koa from 'koa'
import { database } from 'hotswap'

const db = database()
const label = db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck()
const count = db.prepare('SELECT count(*) FROM items').pluck()
const items = db.prepare('SELECT id, name, price_cents FROM items ORDER BY id LIMIT 100')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const app = new Koa()
app.use(async (ctx) => {
  if (ctx.path === '/label') {
    ctx.body = { label: label.get(), pid: process.pid }
  } else if (ctx.path === '/items') {
    ctx.body = { label: label.get(), items: items.all() }
  } else if (ctx.path === '/torn') {
    const first = label.get()
    const firstCount = count.get()
    await sleep(Number(ctx.query.ms ?? 5))
    ctx.body = { first, firstCount, second: label.get(), secondCount: count.get() }
  } else {
    ctx.status = 404
    ctx.body = { error: 'not found' }
  }
})

app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1')
