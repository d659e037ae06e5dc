// The JSON API on Fastify 5 (which serves through node:http, so hotswap gates it as is).
//   hotswap serve examples/fastify/app.mjs --workers 4 --db examples/db/app.sqlite3 --port 3000
import Fastify from 'fastify'
import { database } from 'hotswap'

const db = database()
const label = db.prepare("SELECT value FROM meta WHERE key = 'label'").pluck()
const count = db.prepare('SELECT count(*) FROM items').pluck()
const items = db.prepare('SELECT id, name, price_cents FROM items ORDER BY id LIMIT 100')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const app = Fastify()
app.get('/label', async () => ({ label: label.get(), pid: process.pid }))
app.get('/items', async () => ({ label: label.get(), items: items.all() }))
app.get('/torn', async (req) => {
  const first = label.get()
  const firstCount = count.get()
  await sleep(Number(req.query.ms ?? 5))
  return { first, firstCount, second: label.get(), secondCount: count.get() }
})

await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
