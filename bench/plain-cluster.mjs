// The baseline primary: the same bench app under a plain node:cluster primary, with nothing of
// hotswap's supervisor, gate or IPC. Workers open HOTSWAP_DB directly (standalone mode).
//
//   node bench/plain-cluster.mjs --workers N --port P --db PATH [--floor-db PATH]
//
// Prints one JSON line {"listening": N} once every worker listens; SIGTERM stops everything.
//
// Forked with an IPC channel, it also measures the physical floor of a swap's pause window
// for the bench, on its own loaded or idle workers (bench/plain-worker.mjs):
//
//   {cmd: 'floor', rounds, gapMs} ─▶ per round:
//     ping   broadcast ─▶ every ack                              (ipcMs)
//     window broadcast close ─▶ acks ─▶ link old, rename spare over the floor db, fsync dir
//            ─▶ broadcast open (reopen + first query) ─▶ acks      (windowMs, renameMs)
//   ◀─ {cmd: 'floor-result', ipcMs: [...], windowMs: [...], renameMs: [...], closeMs, openMs}
import cluster from 'node:cluster'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '4' },
    port: { type: 'string' },
    db: { type: 'string' },
    'floor-db': { type: 'string', default: '' },
  },
})
const workers = Number(values.workers)
const floorDb = values['floor-db']
cluster.setupPrimary({ exec: fileURLToPath(new URL('./plain-worker.mjs', import.meta.url)) })

let listening = 0
let stopping = false
cluster.on('listening', () => {
  if (++listening === workers) console.log(JSON.stringify({ listening, pid: process.pid }))
})
cluster.on('exit', (w, code, signal) => {
  if (!stopping) console.error(`plain-cluster: worker ${w.process.pid} died (${signal ?? code})`)
  if (stopping && Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
})
for (let i = 0; i < workers; i++) cluster.fork({ PORT: values.port, HOTSWAP_DB: values.db, FLOOR_DB: floorDb })

let seq = 0
const pending = new Map()
cluster.on('message', (_w, msg) => {
  if (msg?.cmd !== 'bench:ack') return
  const done = pending.get(msg.seq)
  if (done !== undefined) {
    pending.delete(msg.seq)
    done(msg.ms)
  }
})

/** Sends `cmd` to every worker at once; resolves with each worker's own time once all ack. */
function broadcast (cmd) {
  return Promise.all(Object.values(cluster.workers).map((w) => new Promise((resolve) => {
    const s = ++seq
    pending.set(s, resolve)
    w.send({ cmd, seq: s })
  })))
}

function fsyncDir (dir) {
  const fd = fs.openSync(dir, 'r')
  try { fs.fsyncSync(fd) } finally { fs.closeSync(fd) }
}

async function floor (rounds, gapMs) {
  const spare = `${floorDb}.spare`
  const old = `${floorDb}.old`
  const dir = path.dirname(floorDb)
  const out = { ipcMs: [], windowMs: [], renameMs: [], closeMs: [], openMs: [] }
  for (let i = 0; i < rounds; i++) {
    let t = performance.now()
    await broadcast('bench:ping')
    out.ipcMs.push(performance.now() - t)
    await new Promise((resolve) => setTimeout(resolve, gapMs / 2))

    t = performance.now()
    const closed = await broadcast('bench:close')
    const r0 = performance.now()
    fs.linkSync(floorDb, old) // keep the old inode alive, as hotswap's install does
    fs.renameSync(spare, floorDb)
    fsyncDir(dir)
    const r1 = performance.now()
    const opened = await broadcast('bench:open')
    out.windowMs.push(performance.now() - t)
    out.renameMs.push(r1 - r0)
    out.closeMs.push(Math.max(...closed))
    out.openMs.push(Math.max(...opened))
    fs.renameSync(old, spare) // the previous file becomes the next spare, off the window
    await new Promise((resolve) => setTimeout(resolve, gapMs / 2))
  }
  return out
}

process.on('message', (msg) => {
  if (msg?.cmd === 'floor') {
    floor(msg.rounds, msg.gapMs ?? 20).then(
      (out) => process.send({ cmd: 'floor-result', ...out }),
      (err) => process.send({ cmd: 'floor-result', error: err.message }))
  }
})

const stop = () => {
  if (stopping) return
  stopping = true
  const alive = Object.values(cluster.workers ?? {})
  if (alive.length === 0) process.exit(0)
  for (const w of alive) w?.process.kill('SIGTERM')
  setTimeout(() => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
    process.exit(0)
  }, 3000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.on('disconnect', () => { if (process.env.BENCH_KEEP !== '1') stop() })
