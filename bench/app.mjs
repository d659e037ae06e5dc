// The bench app: one indexed SELECT per request, answering which database it read.
//
//   GET /item?sku=N  ─▶  SELECT items row by sku (index items_sku) joined with meta.label
//                    ◀─  {"sku", "gen", "label", "pid"}
//
// Every row of `items` carries the generation (`gen`) of the database it belongs to, and
// meta.label says the same, so a response whose gen and label differ read pages from two
// different files: a torn read. The load generator checks that on every response.
//
// BENCH_DBS=cache,queue (the generations section) opens those managed databases too and reads
// the label of one of them per request, in turn, so every worker has all of them open and in use.
//
// Runs under `hotswap serve` (managed), under bench/plain-cluster.mjs or pm2 (standalone,
// HOTSWAP_DB names the file); the code is the same in all three.
import http from 'node:http'
import { database, isManaged } from 'hotswap'

const db = database()
const lookup = db.prepare(
  "SELECT i.sku AS sku, i.gen AS gen, m.value AS label FROM items i JOIN meta m ON m.key = 'label' WHERE i.sku = ?")
const pid = process.pid
const extra = (process.env.BENCH_DBS ?? '').split(',').filter(Boolean)
  .map((name) => database(name).prepare("SELECT value FROM meta WHERE key = 'label'").pluck())
let turn = 0

const server = http.createServer((req, res) => {
  const url = req.url ?? ''
  const eq = url.indexOf('sku=')
  const sku = eq < 0 ? 1 : Number(url.slice(eq + 4)) || 1
  let body
  try {
    const row = lookup.get(sku)
    if (extra.length > 0) extra[turn++ % extra.length].get()
    body = row === undefined
      ? JSON.stringify({ sku, gen: null, label: null, pid })
      : `{"sku":${row.sku},"gen":${row.gen},"label":${JSON.stringify(row.label)},"pid":${pid}}`
  } catch (err) {
    res.writeHead(500, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ error: err.message, code: err.code, pid }))
    return
  }
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(body)
})

server.listen(Number(process.env.PORT), '127.0.0.1')

// Standalone (plain cluster, pm2): stop gracefully on the signal pm2 sends before killing an
// old instance during `pm2 reload`, so pm2 is measured at its best. Under hotswap serve the
// primary coordinates shutdowns and the worker runtime handles signals itself.
if (!isManaged()) {
  const stop = () => {
    server.close(() => process.exit(0))
    server.closeIdleConnections()
    setTimeout(() => process.exit(0), 1000).unref()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
