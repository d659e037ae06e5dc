// The bench app (app.mjs) instrumented the way an app that uses prom-client is: the default
// metrics of its process and a counter of the responses by status, kept in prom-client's
// default registry. Section M serves it with and without `--metrics`: both pay the app's own
// counting; only the one with --metrics is scraped.
import { subscribe } from 'node:diagnostics_channel'
import { collectDefaultMetrics, Counter } from 'prom-client'

collectDefaultMetrics()
const responses = new Counter({ name: 'bench_responses_total', help: 'Responses sent, by status', labelNames: ['status'] })
subscribe('http.server.response.finish', ({ response }) => { responses.inc({ status: response.statusCode }) })

await import('./app.mjs')
