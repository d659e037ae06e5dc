// The load generator, in its own process so it does not share an event loop with the bench.
// autocannon's programmatic API against 127.0.0.1 only; prints one JSON result on stdout.
//
//   node bench/load.mjs '{"port":3000,"connections":32,"duration":5,"rate":0,"skus":5000,"check":true}'
//
// duration 0 runs until SIGTERM. With "check", every body is parsed: a row whose gen differs
// from the label it was read with is a torn read (pages from two files), a body that is not
// the app's JSON is counted as bad. Labels seen are counted, so the bench can tell old from new.
import autocannon from 'autocannon'

const cfg = {
  port: 0,
  connections: 32,
  duration: 5,
  rate: 0,
  skus: 1000,
  check: false,
  timeout: 10,
  ...JSON.parse(process.argv[2] ?? '{}'),
}
if (!(cfg.port > 0)) throw new Error('load.mjs: port is required')

const checks = { torn: 0, bad: 0, samples: [], labels: {} }
const errorSamples = new Set()

function sample (text) {
  if (checks.samples.length < 10) checks.samples.push(text.slice(0, 300))
}

const request = {
  method: 'GET',
  path: '/item?sku=1',
  setupRequest: (req) => {
    req.path = `/item?sku=${1 + Math.floor(Math.random() * cfg.skus)}`
    return req
  },
}
if (cfg.check) {
  request.onResponse = (status, body) => {
    if (status !== 200) {
      sample(`HTTP ${status}: ${body}`)
      return
    }
    let row
    try {
      row = JSON.parse(body)
    } catch {
      checks.bad++
      sample(`unparsable: ${body}`)
      return
    }
    if (typeof row.label !== 'string' || row.gen === null) {
      checks.bad++
      sample(`no row: ${body}`)
      return
    }
    checks.labels[row.label] = (checks.labels[row.label] ?? 0) + 1
    if (String(row.gen) !== row.label) {
      checks.torn++
      sample(`torn: ${body}`)
    }
  }
}

const opts = {
  url: `http://127.0.0.1:${cfg.port}`,
  connections: cfg.connections,
  duration: cfg.duration > 0 ? cfg.duration : 24 * 3600,
  timeout: cfg.timeout,
  requests: [request],
}
if (cfg.rate > 0) {
  opts.overallRate = cfg.rate
  // autocannon's coordinated-omission correction assumes a per-millisecond rate; with a
  // per-second rate it would invent latencies. Record what the clients saw.
  opts.ignoreCoordinatedOmission = true
}

const instance = autocannon(opts, (err, result) => {
  if (err) {
    process.stdout.write(JSON.stringify({ error: err.message }) + '\n')
    process.exitCode = 1
    return
  }
  const seconds = result.duration
  const out = {
    connections: cfg.connections,
    rate: cfg.rate,
    durationS: seconds,
    total: result.requests.total,
    rps: result.requests.total / seconds,
    rpsMean: result.requests.mean,
    latency: {
      mean: result.latency.mean,
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    resets: result.resets,
    errorSamples: [...errorSamples].slice(0, 10),
    check: cfg.check ? checks : null,
  }
  process.stdout.write(JSON.stringify(out) + '\n')
})
instance.on('reqError', (err) => {
  if (errorSamples.size < 10) errorSamples.add(err.message ?? String(err))
})

// A stop from the bench ends the run and reports what was measured so far.
process.on('SIGTERM', () => instance.stop())
process.on('SIGINT', () => instance.stop())
