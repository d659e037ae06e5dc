// The floor of streaming through a Unix socket between two Node processes on this machine:
// a child writes FILE into the socket in 1 MiB writes, this process writes what it receives
// into OUT (batched, one write in flight). No framing, no hotswap code. Prints {"ms","bytes"},
// timed from the accepted connection to the last byte written.
//
//   node bench/socket-floor.mjs FILE OUT

import fs from 'node:fs'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'

if (process.argv[2] === '--send') {
  const c = net.connect(process.argv[3])
  for await (const chunk of fs.createReadStream(process.argv[4], { highWaterMark: 1 << 20 })) {
    if (!c.write(chunk) && c.writableLength > (4 << 20)) await new Promise((resolve) => c.once('drain', resolve))
  }
  c.end()
} else {
  const [file, out] = process.argv.slice(2)
  const sock = join(dirname(out), `floor-${process.pid}.sock`)
  const fh = await fs.promises.open(out, 'w')
  const server = net.createServer((s) => {
    const t0 = performance.now()
    let bytes = 0
    let batch = []
    let batched = 0
    let writing = null
    const flush = () => {
      const b = batch
      batch = []
      batched = 0
      writing = fh.writev(b).then(() => { writing = null; s.resume() })
    }
    s.on('data', (c) => {
      bytes += c.length
      batch.push(c)
      batched += c.length
      if (batched >= (4 << 20) && writing === null) flush()
      else if (batched >= (8 << 20)) s.pause()
    })
    s.on('end', async () => {
      await writing
      if (batch.length > 0) { flush(); await writing }
      const ms = performance.now() - t0
      await fh.close()
      server.close()
      process.stdout.write(JSON.stringify({ ms, bytes }) + '\n')
    })
  })
  server.listen(sock, () => {
    const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--send', sock, file], { stdio: 'inherit' })
    child.on('exit', (code) => { if (code !== 0) process.exitCode = 1 })
  })
}
