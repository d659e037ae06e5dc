// The layout rule of the README ("Layout"), checked: which folder of src/ may import which, and no
// import cycle anywhere in src/. Reads the TypeScript sources as text (every relative `from '…'`
// and `import('…')`, type-only imports included), so a file that breaks the rule fails here, not
// later in a review.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// Compiled to dist/test/: the checkout is two folders up.
const SRC = fileURLToPath(new URL('../../src', import.meta.url))

/** Who may import whom, by path prefix under src/ (the first matching rule of a file applies). */
const RULES: Array<{ from: string, may: string[] }> = [
  { from: 'shared/', may: ['shared/'] },
  { from: 'worker/', may: ['worker/', 'shared/'] },
  { from: 'primary/sqlite/', may: ['primary/sqlite/', 'shared/'] },
  { from: 'primary/generations/', may: ['primary/generations/', 'primary/sqlite/', 'shared/'] },
  { from: 'primary/', may: ['primary/', 'shared/'] },
  { from: 'client/', may: ['client/', 'shared/', 'primary/sqlite/'] },
  { from: 'commands/', may: ['commands/', 'client/', 'shared/', 'primary/serve.ts', 'primary/config.ts'] },
  { from: 'hooks/', may: ['hooks/', 'client/', 'shared/'] },
  { from: 'adapters/', may: ['adapters/', 'worker/', 'shared/'] },
  { from: 'index.ts', may: ['worker/', 'shared/', 'adapters/'] },
]

function sources (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sources(p))
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/** The src/-relative files a source imports (relative specifiers only; packages are not ours). */
function importsOf (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm)].map((m) => m[1])
  return specs.map((s) => relative(SRC, resolve(dirname(file), s.replace(/\.js$/, '.ts'))))
}

const graph = new Map(sources(SRC).map((f) => [relative(SRC, f), importsOf(f)]))

test('every relative import names a file that exists', () => {
  const missing = [...graph].flatMap(([from, tos]) => tos.filter((t) => !graph.has(t)).map((t) => `${from} → ${t}`))
  assert.deepEqual(missing, [])
})

test('each folder imports only what the layout allows', () => {
  const broken: string[] = []
  for (const [from, tos] of graph) {
    const rule = RULES.find((r) => from.startsWith(r.from))
    assert.ok(rule, `${from} has no layout rule: add its folder to RULES and to the README's layout`)
    for (const to of tos) {
      if (!rule.may.some((p) => to.startsWith(p))) broken.push(`${from} → ${to}`)
    }
  }
  assert.deepEqual(broken, [])
})

test('no import cycle in src/', () => {
  // Tarjan's strongly connected components: a component of more than one file is a cycle.
  let index = 0
  const indexOf = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const cycles: string[][] = []
  const visit = (v: string): void => {
    indexOf.set(v, index); low.set(v, index); index++
    stack.push(v); onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!indexOf.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)) } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indexOf.get(w)!))
    }
    if (low.get(v) === indexOf.get(v)) {
      const component: string[] = []
      let w: string
      do { w = stack.pop()!; onStack.delete(w); component.push(w) } while (w !== v)
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort())
    }
  }
  for (const v of graph.keys()) if (!indexOf.has(v)) visit(v)
  assert.deepEqual(cycles, [])
})
