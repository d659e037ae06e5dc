// `--metrics` values: HOST:PORT (IPv4, [IPv6], a host name) or a Unix socket path; anything else
// is refused with a message that says what is wrong and what to give.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { describeAddress, parseMetricsAddress } from '../../../src/primary/metrics/address.js'

test('addresses that parse, and how they are shown', () => {
  const cases: Array<[string, ReturnType<typeof parseMetricsAddress>, string]> = [
    ['127.0.0.1:9464', { kind: 'tcp', host: '127.0.0.1', port: 9464 }, '127.0.0.1:9464'],
    ['0.0.0.0:1', { kind: 'tcp', host: '0.0.0.0', port: 1 }, '0.0.0.0:1'],
    ['[::1]:65535', { kind: 'tcp', host: '::1', port: 65535 }, '[::1]:65535'],
    ['localhost:9464', { kind: 'tcp', host: 'localhost', port: 9464 }, 'localhost:9464'],
    ['metrics.internal:80', { kind: 'tcp', host: 'metrics.internal', port: 80 }, 'metrics.internal:80'],
    ['/run/app/metrics.sock', { kind: 'unix', path: '/run/app/metrics.sock' }, '/run/app/metrics.sock'],
    ['./m.sock', { kind: 'unix', path: '/srv/app/m.sock' }, '/srv/app/m.sock'],
  ]
  for (const [value, want, shown] of cases) {
    const got = parseMetricsAddress(value, '/srv/app')
    assert.deepEqual(got, want, value)
    assert.equal(describeAddress(got), shown)
  }
})

test('values refused, each with what is wrong', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['9464', /"9464" is not an address; give HOST:PORT/],
    [':9464', /names no host \(to listen on every interface, say so: 0\.0\.0\.0:9464\)/],
    ['127.0.0.1:0', /the port must be a number from 1 to 65535 \(got "0"\)/],
    ['127.0.0.1:65536', /from 1 to 65535 \(got "65536"\)/],
    ['127.0.0.1:http', /from 1 to 65535 \(got "http"\)/],
    ['127.0.0.1:', /from 1 to 65535 \(got ""\)/],
    ['::1:9464', /is not an address/],
    ['[127.0.0.1]:9464', /"127\.0\.0\.1" is not an IPv6 address/],
    ['bad_host:9464', /"bad_host" is not an IPv4 address or a host name/],
    ['-x:9464', /is not an IPv4 address or a host name/],
    [`/${'d'.repeat(120)}/m.sock`, /a Unix socket path holds at most 107/],
  ]
  for (const [value, message] of cases) {
    assert.throws(() => parseMetricsAddress(value, '/srv/app'), message, JSON.stringify(value))
  }
})
