// Several databases changed in one pause, under HTTP load (issue 13, "Tests", bullet 2): served
// by the generations app (2 workers), which reads every database in one request. Each step makes
// every database the same new label: stage each, then `commit` (v1); the one-shot `swap` (v2);
// `undo` with no name (the last commit's databases, back to v1's content). No response may ever
// hold labels of two steps, /torn's two reads of one request agree, no request fails, every
// request started after a command returned sees that command's data, and each command is exactly
// one pause (one `pause window` line naming every database); history and status show it.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { cli, fixture, load, type LoadStats, probeAll, seed, seedAll, type Served, serveForFile, startServe, statusJson, tempDir, waitUntil } from '../support/index.js'

const STEPS = ['v0', 'v1', 'v2']

/** A problem with one response body, or null: every database read in it holds one step's label. */
function sameStep (names: string[], labels: unknown): string | null {
  const got = labels as Record<string, string>
  const seen = new Set(names.map((n) => got[n]))
  if (seen.size !== 1) return `labels of different steps in one read: ${JSON.stringify(got)}`
  const [label] = seen
  return STEPS.includes(String(label)) ? null : `unknown label ${String(label)}`
}

function checker (names: string[]) {
  return (path: string, body: Record<string, unknown>): string | null => {
    if (path.startsWith('/torn')) {
      const problem = sameStep(names, body.first) ?? sameStep(names, body.second)
      if (problem !== null) return problem
      const [a, b] = [JSON.stringify(body.first), JSON.stringify(body.second)]
      return a === b ? null : `torn: ${a} then ${b}`
    }
    return sameStep(names, body.labels)
  }
}

interface HistoryJson {
  databases: Array<{ name: string, live: number, generations: Array<{ id: number, live: boolean, commit: string | null, source: { kind: string, of?: number } }>, staged: unknown[] }>
}

for (const names of [['app', 'cache'], ['app', 'cache', 'queue']]) {
  describe(`a commit of ${names.length} databases (${names.join(', ')})`, () => {
    let t: ReturnType<typeof tempDir>
    let served: Served

    serveForFile(async (dir) => {
      const paths = seedAll(dir.dir, Object.fromEntries(names.map((n) => [n, 'v0'])))
      return await startServe({
        dir: dir.dir,
        dbs: names.map((n) => `${n}=${paths[n] as string}`),
        app: fixture('generations-app.mjs'),
        workers: 2,
        args: ['--keep', '3'],
        env: { GEN_DBS: names.join(',') },
      })
    }, (s) => { ({ t, served } = s) })

    const run = async (args: string[]): Promise<string> => {
      const res = await cli([...args, '--socket', served.socket], { cwd: t.dir })
      assert.equal(res.stderr, '', `${args.join(' ')}: stderr`)
      assert.equal(res.code, 0, `${args.join(' ')}: exit code`)
      return res.stdout.toString()
    }

    /** Files labelled `label`, one per database. */
    const files = (label: string): Record<string, string> => Object.fromEntries(names.map((n) => {
      const path = join(t.dir, `${n}-${label}.sqlite3`)
      seed(path, { label })
      return [n, path]
    }))

    const windows = (): Array<Record<string, unknown>> => served.logs().filter((l) => /^pause window /.test(String(l.message)))
    const events = (): Array<Record<string, unknown>> => served.logs().filter((l) => l.event === 'commit' || l.event === 'undo' || l.event === 'push')

    /** Requests started after a command returned: fresh and reused connections, /labels and /torn. */
    async function allSee (label: string, what: string): Promise<void> {
      const want = Object.fromEntries(names.map((n) => [n, label]))
      for (const { raw, body } of await probeAll(served.port, '/labels', '/torn?ms=1')) {
        assert.deepEqual(body.labels ?? body.first, want, `a request started after ${what} returned read ${raw}`)
      }
    }

    /** The command was one pause: one new `pause window` line naming every database, and one event line. */
    async function onePause (n: number, kind: string): Promise<Record<string, unknown>> {
      await waitUntil(`pause window line ${n}`, () => windows().length >= n && events().length >= n)
      const line = windows()[n - 1] as Record<string, unknown>
      assert.equal(String(line.message).replace(/^pause window [\d.]+ ms for /, ''), names.join(', '), `the pause names every database: ${String(line.message)}`)
      const ev = events()[n - 1] as { event: string, commit: string, databases: Array<{ name: string }> }
      assert.equal(ev.event, kind)
      assert.deepEqual(ev.databases.map((d) => d.name), names)
      return ev as unknown as Record<string, unknown>
    }

    async function history (): Promise<HistoryJson> {
      return JSON.parse(await run(['history', '--json'])) as HistoryJson
    }

    test('stage each + commit, swap in one shot, undo: never a mix under load, one pause each', async (tt) => {
      const traffic = load(served.port, { paths: ['/labels', '/torn?ms=3'], concurrency: 6, maxMs: 60_000, check: checker(names) })
      let stats: LoadStats
      const commits: string[] = []
      try {
        await allSee('v0', 'the start')

        // Stage each (the id alone on stdout), then one commit of all.
        const v1 = files('v1')
        const ids: string[] = []
        for (const n of names) {
          const id = (await run(['cp', v1[n] as string, n, '--stage'])).trim()
          assert.match(id, /^[0-9a-f]{8}$/, `stage id of ${n}`)
          ids.push(id)
        }
        const staged = await statusJson(served.socket, t.dir)
        assert.deepEqual(names.map((n) => staged.databases.find((d) => d.name === n)?.staged), ids, 'status lists each stage')
        await allSee('v0', 'the stages (nothing live changed)')
        assert.equal(windows().length, 0, 'staging pauses nothing')
        assert.equal(await run(['commit']), 'OK\n')
        await allSee('v1', 'commit')
        commits.push(String((await onePause(1, 'commit')).commit))

        // The one-shot form: stage and commit in one command.
        const v2 = files('v2')
        assert.equal(await run(['swap', ...names.map((n) => `${n}=${v2[n] as string}`)]), 'OK\n')
        await allSee('v2', 'swap')
        commits.push(String((await onePause(2, 'commit')).commit))

        // Undo with no name: every database of the last commit, in one pause.
        assert.equal(await run(['undo']), 'OK\n')
        await allSee('v1', 'undo')
        commits.push(String((await onePause(3, 'undo')).commit))
      } finally {
        stats = await traffic.stop()
      }
      assert.equal(stats.failed, 0, `failed requests: ${stats.errors.join('; ')}`)
      assert.equal(stats.bad, 0, `mixed or torn reads: ${stats.badBodies.join('; ')}`)
      assert.ok(stats.ok > 0, 'requests were served during the commits')
      assert.equal(windows().length, 3, 'exactly one pause window per commit, swap and undo')
      assert.equal(new Set(commits).size, 3, 'three commits')

      // Every database: generation 1 (v0, first start), 2 (v1, commit), 3 (v2, swap), 4 (the undo,
      // v1's content: generation 2 went live again and left the kept list); one commit id across
      // the set for each step.
      const h = await history()
      assert.deepEqual(h.databases.map((d) => d.name), names)
      for (const d of h.databases) {
        assert.equal(d.live, 4, `${d.name} live generation`)
        assert.deepEqual(d.staged, [], `${d.name} has nothing staged`)
        assert.deepEqual(d.generations.map((g) => g.id), [4, 3, 1], `${d.name} generations, newest first`)
        assert.deepEqual(d.generations.map((g) => g.live), [true, false, false])
        assert.deepEqual(d.generations[0]?.source, { kind: 'undo', of: 2 })
        assert.deepEqual(d.generations.map((g) => g.commit), [commits[2], commits[1], null], `${d.name}: the commits' ids`)
      }
      const st = await statusJson(served.socket, t.dir)
      for (const n of names) {
        const d = st.databases.find((x) => x.name === n)
        assert.deepEqual({ generation: d?.generation, kept: d?.kept, staged: d?.staged }, { generation: 4, kept: 2, staged: null }, `status of ${n}`)
      }
      const pauses = windows().map((l) => Number(l.pauseMs))
      tt.diagnostic(`${names.length} databases: ${stats.ok} requests served, 0 failed, 0 mixed; pauses ${pauses.map((p) => p.toFixed(2)).join(', ')} ms (commit, swap, undo)`)
    })
  })
}
