// A plain-cluster worker: the bench app, plus the worker side of the floor measurements the
// primary asks for over IPC (bench/plain-cluster.mjs):
//
//   bench:ping  ─▶ pong at once                        (IPC broadcast + acks)
//   bench:close ─▶ close the floor connection, ack     (what a worker must do in a pause)
//   bench:open  ─▶ open it again + first query, ack    (what a worker must do on resume)
//
// The floor connection is a plain better-sqlite3 connection to a scratch copy of the
// database (FLOOR_DB), so renaming files under it never touches what the app serves.
import Database from 'better-sqlite3'

const floorPath = process.env.FLOOR_DB
const SQL = "SELECT i.sku AS sku, i.gen AS gen, m.value AS label FROM items i JOIN meta m ON m.key = 'label' WHERE i.sku = ?"
let conn = null
let stmt = null

function open () {
  conn = new Database(floorPath, { fileMustExist: true })
  stmt = conn.prepare(SQL)
  stmt.get(1)
}

if (floorPath) open()

process.on('message', (msg) => {
  if (typeof msg !== 'object' || msg === null || typeof msg.cmd !== 'string' || !msg.cmd.startsWith('bench:')) return
  const t0 = performance.now()
  if (msg.cmd === 'bench:close') {
    conn?.close()
    conn = null
    stmt = null
  } else if (msg.cmd === 'bench:open') {
    open()
  }
  process.send({ cmd: 'bench:ack', seq: msg.seq, ms: performance.now() - t0 })
})

await import(new URL('./app.mjs', import.meta.url).href)
