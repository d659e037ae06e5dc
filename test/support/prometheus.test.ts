// The strict Prometheus text parser the metrics tests read /metrics with (prometheus.ts): what
// it accepts, and each thing the format does not allow, refused. Without this, a lax parser
// would let those tests pass on a broken exposition.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parsePrometheus, sampleValue } from './prometheus.js'

const GOOD = `# HELP a_total Things, with a \\\\ and a \\n in its help
# TYPE a_total counter
a_total{db="x",q="say \\"hi\\"\\n"} 3
a_total{db="y"} 1.5e3 1700000000000
# TYPE h_seconds histogram
h_seconds_bucket{le="0.1"} 1
h_seconds_bucket{le="1"} 2
h_seconds_bucket{le="+Inf"} 2
h_seconds_sum 0.6
h_seconds_count 2
# TYPE g gauge
g NaN
g{x="1"} -Inf
untyped_one 7
`

test('a well-formed exposition: families, types, help, escaped labels, values', () => {
  const m = parsePrometheus(GOOD)
  assert.deepEqual([...m.keys()], ['a_total', 'h_seconds', 'g', 'untyped_one'])
  assert.equal(m.get('a_total')?.help, 'Things, with a \\ and a \n in its help')
  assert.equal(sampleValue(m, 'a_total', { q: 'say "hi"\n' }), 3)
  assert.equal(sampleValue(m, 'a_total', { db: 'y' }), 1500)
  assert.equal(sampleValue(m, 'h_seconds_count'), 2)
  assert.deepEqual(m.get('g')?.samples.map((x) => x.value), [NaN, -Infinity])
  assert.equal(m.get('untyped_one')?.type, 'untyped')
  assert.throws(() => sampleValue(m, 'a_total'), /2 samples of a_total match/)
})

test('what the format does not allow is refused', () => {
  const cases: Array<[string, RegExp]> = [
    ['a 1', /does not end with a newline/],
    ['a{b="1"} x\n', /bad value/],
    ['9a 1\n', /bad metric name|not a sample/],
    ['a{1b="1"} 1\n', /bad label name/],
    ['a{b=1} 1\n', /not quoted/],
    ['a{b="1} 1\n', /unterminated/],
    ['a{b="\\t"} 1\n', /bad escape/],
    ['a{b="1",b="2"} 1\n', /label b twice/],
    ['a 1\na 2\n', /series twice/],
    ['# TYPE a counter\na -1\n', /negative counter/],
    ['# TYPE a wat\n', /bad type/],
    ['a 1\n# TYPE a gauge\n', /TYPE of a after its samples/],
    ['a 1\nb 1\na{x="1"} 1\n', /samples of a are not together/],
    ['a 1 12.5\n', /bad timestamp/],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nh_count 2\n', /out of order/],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n', /not cumulative/],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_count 2\n', /no \+Inf bucket/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 3\n', /_count 3 is not the \+Inf bucket 2/],
  ]
  for (const [text, error] of cases) assert.throws(() => parsePrometheus(text), error, JSON.stringify(text))
})
