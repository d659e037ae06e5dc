// The app of section L (logs --follow, issue 15): an HTTP server that answers nothing of note and
// writes BENCH_LINES_PER_SECOND lines a second to stdout, one console.log each, at a fixed rate
// (every 10 ms, the lines due by then, so the rate holds whatever the timer's jitter). Each line
// says its worker's pid and its sequence number, so the bench counts what was written, what the
// primary logged and what a follower received.
import http from 'node:http'

const rate = Number(process.env.BENCH_LINES_PER_SECOND ?? 500)
const pid = process.pid
const t0 = performance.now()
let seq = 0

setInterval(() => {
  const due = Math.floor((performance.now() - t0) / 1000 * rate)
  while (seq < due) {
    seq++
    console.log(`benchlog pid=${pid} seq=${seq} t=${Date.now()} GET /item?sku=${seq % 100} 200 0.4 ms`)
  }
}, 10)

http.createServer((req, res) => { res.end('ok') }).listen(Number(process.env.PORT), '127.0.0.1')
