// The metrics listener (`serve --metrics ADDR`): a small HTTP server in the primary, apart from
// the app's port and the control socket, so that a scraper or a load balancer's health check
// never queues behind the app nor takes part in the round robin.
//
//   GET /metrics ─▶ hotswap's registry + the app's, aggregated over the workers (Prometheus text)
//   GET /livez   ─▶ 200: the primary's event loop answers
//   GET /readyz  ─▶ 200 { ready: true, … } | 503 { ready: false, reason, … } (readiness.ts)
//   anything else ─▶ 404 (an unknown path), 405 (a method other than GET and HEAD)

import { chmodSync, unlinkSync } from 'node:fs'
import http from 'node:http'
import { HotswapError, toHotswapError } from '../../shared/errors.js'
import type { Logger } from '../../shared/logger.js'
import { prepareSocketPath } from '../control/server.js'
import type { Supervisor } from '../supervisor.js'
import { describeAddress, type MetricsAddress } from './address.js'
import { appRegistry } from './app-metrics.js'
import type { HotswapMetrics } from './hotswap-metrics.js'
import { readiness } from './readiness.js'

export interface MetricsServerOptions {
  address: MetricsAddress
  metrics: HotswapMetrics
  supervisor: Supervisor
  /** Ready workers /readyz needs. */
  minReady: () => number
  logger: Logger
}

export class MetricsServer {
  readonly #opts: MetricsServerOptions
  readonly #server: http.Server
  #stopping = false

  constructor (opts: MetricsServerOptions) {
    this.#opts = opts
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: Error) => {
        opts.logger.error(`metrics: ${req.url ?? ''}: ${err.message}`)
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${err.message}\n`)
        else res.destroy()
      })
    })
  }

  get address (): string {
    return describeAddress(this.#opts.address)
  }

  async listen (): Promise<void> {
    const a = this.#opts.address
    // A Unix socket path is made safe the way the control socket's is: a live one is never
    // taken over, a stale one is replaced, and anything else at the path is refused.
    if (a.kind === 'unix') {
      await prepareSocketPath(a.path).catch((err: unknown) => {
        const e = toHotswapError(err)
        throw new HotswapError(e.code === 'HOTSWAP_ERR_INTERNAL' ? 'HOTSWAP_ERR_CONFIG' : e.code, `--metrics: ${e.message}`, e.details)
      })
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new HotswapError('HOTSWAP_ERR_CONFIG', `cannot listen for metrics on ${this.address} (--metrics): ${err.code === 'EADDRINUSE' ? 'the address is in use' : err.message}`))
      })
      const ready = (): void => {
        this.#server.removeAllListeners('error')
        this.#server.on('error', (err) => this.#opts.logger.error(`metrics listener: ${err.message}`))
        resolve()
      }
      if (a.kind === 'unix') this.#server.listen(a.path, ready)
      else this.#server.listen({ host: a.host, port: a.port }, ready)
    })
    // The scraper may run as another user of the server's group (a sidecar).
    if (a.kind === 'unix') chmodSync(a.path, 0o660)
    this.#opts.logger.info(`metrics on http://${a.kind === 'unix' ? `unix:${a.path}:` : this.address}/metrics (and /livez, /readyz)`)
  }

  /** From now on /readyz answers 503: the server is shutting down. */
  shuttingDown (): void {
    this.#stopping = true
  }

  async close (): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
    this.removeSocket()
  }

  /** The Unix socket file, if it is one (synchronous: also run at exit). */
  removeSocket (): void {
    if (this.#opts.address.kind !== 'unix') return
    try { unlinkSync(this.#opts.address.path) } catch { /* gone */ }
  }

  async #handle (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics' && path !== '/livez' && path !== '/readyz') {
      send(res, 404, 'text/plain; charset=utf-8', 'not found: this listener serves /metrics, /livez and /readyz\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      send(res, 405, 'text/plain; charset=utf-8', `${req.method ?? ''} is not allowed: GET or HEAD\n`)
      return
    }
    if (path === '/livez') {
      send(res, 200, 'text/plain; charset=utf-8', 'ok\n')
    } else if (path === '/readyz') {
      const r = readiness(this.#opts.supervisor, this.#opts.minReady(), this.#stopping)
      send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r) + '\n')
    } else {
      const { metrics, supervisor, logger } = this.#opts
      const [own, app] = await Promise.all([metrics.registry.metrics(), appRegistry(supervisor, metrics.scrapeFailures, logger).then(async (r) => await r.metrics())])
      send(res, 200, metrics.registry.contentType, app.trim() === '' ? own : own + app)
    }
  }
}

function send (res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
