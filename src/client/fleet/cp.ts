// `hotswap fleet cp SRC LIVE`: one database to every host, all of them or none.
//
//   no unfinished decision of LIVE (recover.ts) ─▶ the fleet's lease on every host (lease.ts)
//   a "staging" record ─▶ stage on every host at once (stage.ts), each stage id recorded
//     (the coordinator hashes the source meanwhile)
//     ─▶ votes: any failure, digests that differ, or a host that received other bytes than the source's?
//       └─ yes ─▶ abort every stage made, the record removed ─▶ exit 1, each host's reason  (nothing changed)
//   record the decision (decision.ts, fsynced) ─▶ held commit on every host (switch.ts): all
//   READY ─▶ "start" to all ─▶ all PAUSED
//       └─ one fails before all PAUSED ─▶ "abort" to the others, abort the stages ─▶ exit 1
//   every host PAUSED ─▶ "go" to all ─▶ each OK
//   (crash points: fleet-before-decision, fleet-decided once all PAUSED, fleet-between-installs
//   after the first host's OK, the others told to go only then; a killed coordinator's record
//   is finished by `fleet recover`)
//       └─ a host failed ─▶ its commit again (no hold) ─▶ still not? undo the switched hosts ─▶ exit 1
//   summary.ts (per host its pause and go → resume, the skew between the first and the last
//   host's resume, from each host's own record) ─▶ OK; on a terminal, per-host lines (progress.ts)
// A signal before the go aborts everything at the next step; after it, the switch finishes (interrupt.ts).

import { performance } from 'node:perf_hooks'
import { crashPoint } from '../../shared/crash-point.js'
import { ExitCodes, HotswapError } from '../../shared/errors.js'
import { reportError } from '../output.js'
import type { FleetHost, FleetSettings } from './config.js'
import { Decision } from './decision.js'
import { Interrupt } from './interrupt.js'
import { FleetLease } from './lease.js'
import { refuseUnfinished } from './recover.js'
import { failureOf, hostLines } from './reasons.js'
import { FleetProgress } from './progress.js'
import { LeftStages } from './left-stages.js'
import { fleetSource, sourceDigest } from './source.js'
import { Ssh } from './ssh.js'
import { historyOn, stageOn, type HostStage, type Vote } from './stage.js'
import { switchSummary, summaryLine, viaLine } from './summary.js'
import { all, goAll, heldFailure, holdOn, startAll, type Held, type HeldPhase } from './switch.js'

export interface FleetCpOptions {
  src: string
  live: string
  settings: FleetSettings
  skipIntegrityCheck: boolean
  skipSchemaCheck: boolean
  cwd: string
  /** Per-host lines on a terminal (set by fleetCp). */
  progress?: FleetProgress
}

const short = (digest: string): string => digest.slice(0, 19)

export async function fleetCp (o: FleetCpOptions): Promise<number> {
  let source
  try {
    source = await fleetSource(o.src, o.cwd)
  } catch (err) {
    return reportError(err)
  }
  const interrupt = new Interrupt()
  const progress = new FleetProgress(o.settings.hosts.map((h) => h.name), source.bytes)
  try {
    return await run({ ...o, progress }, source.path, interrupt)
  } catch (err) {
    progress.end()
    return reportError(err)
  } finally {
    progress.end()
    interrupt.close()
    source.cleanup()
  }
}

async function run (o: FleetCpOptions, sourcePath: string, interrupt: Interrupt): Promise<number> {
  const ssh = new Ssh({ sshConfig: o.settings.sshConfig, timeoutMs: o.settings.timeoutMs })
  // No unfinished decision of this LIVE (asked again under the fleet's lock, lease.ts, held for
  // the whole command).
  refuseUnfinished(o.settings.stateDir, o.live, 'cp')
  const lease = await FleetLease.take(ssh, o.settings.hosts, 'cp')
  try {
    refuseUnfinished(o.settings.stateDir, o.live, 'cp')
    return await staged(o, ssh, sourcePath, interrupt)
  } finally {
    await lease.release()
  }
}

async function staged (o: FleetCpOptions, ssh: Ssh, sourcePath: string, interrupt: Interrupt): Promise<number> {
  const flags = [...(o.skipIntegrityCheck ? ['--skip-integrity-check'] : []), ...(o.skipSchemaCheck ? ['--skip-schema-check'] : [])]
  // Stages earlier fleet cps could not abort on these hosts (they were away) go first.
  await new LeftStages(o.settings.stateDir).clear(ssh, o.settings.hosts)
  // Each stage id is on the coordinator's disk as soon as it is known: a coordinator killed
  // before the decision leaves what `fleet recover` aborts.
  const journal = Decision.create(o.settings.stateDir, {
    decision: 'commit', live: o.live, digest: '', hosts: o.settings.hosts.map((h) => ({ name: h.name, remote: h.remote, stage: '', checkedAgainst: 0 })),
  }, 'staging')
  const [stages, source] = await Promise.all([
    Promise.all(o.settings.hosts.map(async (host) => {
      const s = await stageOn(ssh, host, { live: o.live, sourcePath, flags }, o.progress?.stage(host.name))
      if (s.stage !== undefined) journal.staged(host.name, s.stage)
      o.progress?.set(host.name, s.failure !== undefined ? `refused: ${s.failure.code}` : `voted ${short(s.vote?.digest ?? '?')} (checked against generation ${s.vote?.checkedAgainst ?? '?'}) in ${s.ms} ms`)
      return s
    })),
    sourceDigest(sourcePath),
  ])
  const digests = new Set(stages.flatMap((s) => s.vote === undefined ? [] : [s.vote.digest]))
  const failed = stages.filter((s) => s.failure !== undefined)
  // Every host must have received the bytes sent: equal votes alone would pass a file that every
  // host received altered the same way (a wrapper, a proxy, a truncating pipe).
  const altered = source.digest === undefined ? [] : stages.filter((s) => s.vote !== undefined && s.vote.received !== source.digest)
  if (failed.length > 0 || source.error !== undefined || altered.length > 0 || digests.size > 1 || interrupt.signal !== undefined) {
    const lines = await abortAll(ssh, o.settings.stateDir, stages, (s) => altered.includes(s)
      ? `${s.vote?.received === undefined ? 'did not report the digest of the bytes it received (its hotswap is older)' : `received ${short(s.vote.received)}`}, not the source's ${short(source.digest ?? '?')}`
      : undefined)
    if (!lines.some((l) => / is left: /.test(l))) journal.discard()
    if (source.error !== undefined) lines.unshift(`the source: ${source.error.code} ${source.error.message}`)
    const code = interrupt.signal !== undefined ? 'HOTSWAP_ERR_ABORTED' : failed.length > 0 ? 'HOTSWAP_ERR_FLEET_REFUSED' : source.error !== undefined ? 'HOTSWAP_ERR_SOURCE' : 'HOTSWAP_ERR_FLEET_MISMATCH'
    const why = interrupt.signal !== undefined
      ? `interrupted by ${interrupt.signal}`
      : failed.length > 0
        ? `refused by ${failed.map((s) => s.host.name).join(', ')}`
        : source.error !== undefined
          ? 'the source could not be read for its digest'
          : altered.length > 0 ? `${altered.map((s) => s.host.name).join(', ')} received a file that differs from the source` : 'the hosts staged files that differ'
    throw new HotswapError(code, `fleet cp to ${o.live}: ${why}; every stage aborted, nothing changed on any host`, lines)
  }
  const votes = new Map(stages.map((s) => [s.host, s.vote as Vote]))
  const [digest] = digests as Set<string>
  crashPoint('fleet-before-decision')
  const decision = await decideOrAbort(ssh, o.settings.stateDir, journal, stages, digest as string)
  return await switchAll(ssh, o, votes, decision, Math.max(...stages.map((s) => s.ms)), interrupt)
}

/** Aborts every stage made; one line per host: its reason, or its vote (and `note` on it) and that it was aborted. */
async function abortAll (ssh: Ssh, stateDir: string, stages: HostStage[], note: (s: HostStage) => string | undefined = () => undefined): Promise<string[]> {
  const lines = await Promise.all(stages.map(async (s) => {
    const noted = note(s)
    const own = s.failure !== undefined ? hostLines(s.host.name, s.failure) : [`${s.host.name}: staged ${s.stage ?? '?'} (${short(s.vote?.digest ?? '?')}, checked against generation ${s.vote?.checkedAgainst ?? '?'})${noted === undefined ? '' : `: ${noted}`}`]
    if (s.stage === undefined) return own
    const err = await new LeftStages(stateDir).abort(ssh, s.host, s.stage)
    return [...own, err === undefined ? `  its stage ${s.stage} aborted` : `  its stage ${s.stage} is left: ${err.code} ${err.message}`]
  }))
  return lines.flat()
}

async function decideOrAbort (ssh: Ssh, stateDir: string, journal: Decision, stages: HostStage[], digest: string): Promise<Decision> {
  try {
    journal.decide(digest, new Map(stages.map((s) => [s.host.name, s.vote as Vote])))
    return journal
  } catch (err) {
    const lines = await abortAll(ssh, stateDir, stages)
    journal.update('aborted')
    const e = err as HotswapError
    throw new HotswapError(e.code, `${e.message}; every stage aborted, nothing changed on any host`, lines)
  }
}

const PHASE: Record<HeldPhase, string> = { ready: 'ready (its commit started, nothing paused yet)', paused: 'paused (its requests queue)', switched: 'switched' }

async function switchAll (ssh: Ssh, o: FleetCpOptions, votes: Map<FleetHost, Vote>, decision: Decision, stagedMs: number, interrupt: Interrupt): Promise<number> {
  const hosts = [...votes.keys()]
  const held: Held[] = await Promise.all(hosts.map(async (h) => await holdOn(ssh, h, (votes.get(h) as Vote).stage, o.settings.holdMs, ['commit', (votes.get(h) as Vote).stage], (phase) => { o.progress?.set(h.name, PHASE[phase]) })))
  // Every host's CLI started before any pauses; then all are started at once.
  const ready = await all(held, 'ready', ssh.timeoutMs, interrupt.happened)
  const started = ready && await startAll(held, ssh.timeoutMs)
  if (!started || !await all(held, 'paused', ssh.timeoutMs, interrupt.happened) || interrupt.signal !== undefined) {
    // The hosts that failed on their own ended before this abort (none did: the late ones timed out).
    const abortAt = performance.now()
    for (const h of held) h.abort()
    for (const h of held) o.progress?.set(h.host.name, 'told to abort: resumes on its old file')
    const ended = held.filter((h) => h.endedAt !== undefined && h.endedAt <= abortAt)
    const culprits = interrupt.signal !== undefined ? [] : ended.length > 0 ? ended : held.filter((h) => (ready ? h.pausedAt : h.readyAt) === undefined)
    const results = await Promise.all(held.map(async (h) => await h.done))
    const lines = (await Promise.all(held.map(async (h, i) => {
      const r = results[i] as (typeof results)[number]
      const own = culprits.includes(h)
        ? hostLines(h.host.name, failureOf(r, h.pausedAt === undefined ? 'pause' : 'hold'))
        : [`${h.host.name}: ${h.pausedAt === undefined || h.pausedAt > abortAt ? 'not paused yet' : 'paused'}, told to abort: resumed on its old file`]
      const err = await new LeftStages(o.settings.stateDir).abort(ssh, h.host, (votes.get(h.host) as Vote).stage)
      return [...own, err === undefined ? '  its stage aborted' : `  its stage is left: ${err.code} ${err.message}`]
    }))).flat()
    decision.update('aborted', Object.fromEntries(held.map((h) => [h.host.name, 'not switched'])))
    const why = interrupt.signal !== undefined ? `interrupted by ${interrupt.signal} before the switch` : `${culprits.map((h) => h.host.name).join(', ')} did not pause`
    throw new HotswapError(interrupt.signal !== undefined ? 'HOTSWAP_ERR_ABORTED' : 'HOTSWAP_ERR_FLEET_REFUSED', `fleet cp to ${o.live}: ${why}; every host resumed on its old file, nothing changed on any host`, lines)
  }
  interrupt.switching()
  crashPoint('fleet-decided')
  const results = await goAll(held)
  const outcomes: Record<string, string> = {}
  const failedAfterGo: Array<{ held: Held, failure: HotswapError }> = []
  for (const [i, h] of held.entries()) {
    const failure = heldFailure(results[i] as (typeof results)[number], h)
    if (failure === undefined) outcomes[h.host.name] = 'switched'
    else failedAfterGo.push({ held: h, failure })
  }
  const lines: string[] = []
  for (const { held: h, failure } of failedAfterGo) {
    // Forward once more (no hold); then the live digest says whether the first attempt installed.
    const vote = votes.get(h.host) as Vote
    const again = await ssh.run(h.host, ['commit', vote.stage])
    if (again.code === 0 || await liveDigestOn(ssh, h.host, o.live) === vote.digest) outcomes[h.host.name] = 'switched on a retry'
    else lines.push(...hostLines(h.host.name, failure), ...hostLines(`  ${h.host.name} (retried)`, failureOf(again, 'commit')))
  }
  const stuck = hosts.filter((h) => outcomes[h.name] === undefined)
  if (stuck.length > 0) return await compensate(ssh, o, votes, decision, outcomes, stuck, lines)
  decision.update('committed', outcomes)
  const s = await switchSummary(ssh, hosts, o.live)
  for (const h of s.hosts) o.progress?.set(h.name, `switched: pause ${h.pauseMs?.toFixed(1) ?? '?'} ms, go → resume ${h.goToResumeMs?.toFixed(1) ?? '?'} ms`)
  o.progress?.end()
  process.stderr.write(summaryLine(s, { live: o.live, digest: short(decision.record.digest), stagedMs, via: viaLine(held) }) + '\n')
  process.stdout.write('OK\n')
  return ExitCodes.ok
}

/** After the go, a host could not switch: the ones that did are undone, so the fleet ends all old. */
async function compensate (ssh: Ssh, o: FleetCpOptions, votes: Map<FleetHost, Vote>, decision: Decision, outcomes: Record<string, string>, stuck: FleetHost[], lines: string[]): Promise<number> {
  const switched = [...votes.keys()].filter((h) => !stuck.includes(h))
  const undone = await Promise.all(switched.map(async (h) => {
    const r = await ssh.run(h, ['undo', o.live])
    outcomes[h.name] = r.code === 0 ? 'undone' : 'switched, undo failed'
    return r.code === 0 ? [`${h.name}: switched, then undone`] : hostLines(h.name, failureOf(r, 'undo'))
  }))
  for (const h of stuck) {
    outcomes[h.name] = 'not switched'
    const err = await new LeftStages(o.settings.stateDir).abort(ssh, h, (votes.get(h) as Vote).stage)
    if (err !== undefined) lines.push(`${h.name}: its stage is left: ${err.code} ${err.message}`)
  }
  const split = switched.filter((h) => outcomes[h.name] !== 'undone')
  decision.update(split.length === 0 ? 'undone' : 'split', outcomes)
  const names = stuck.map((h) => h.name).join(', ')
  return reportError(split.length === 0
    ? new HotswapError('HOTSWAP_ERR_FLEET_UNDONE', `fleet cp to ${o.live}: ${names} could not switch; ${switched.length === 0 ? 'no host had switched' : `${switched.map((h) => h.name).join(', ')} undone`}: every host serves its old file (decision ${decision.path})`, [...lines, ...undone.flat()])
    : new HotswapError('HOTSWAP_ERR_FLEET_SPLIT', `fleet cp to ${o.live}: ${names} could not switch and ${split.map((h) => h.name).join(', ')} could not be undone: the fleet is split (decision ${decision.path})`, [...lines, ...undone.flat()]))
}

async function liveDigestOn (ssh: Ssh, host: FleetHost, live: string): Promise<string | null | undefined> {
  try {
    const [db] = await historyOn(ssh, host, live)
    return db?.generations?.find((g) => g.id === db.live)?.digest
  } catch {
    return undefined
  }
}
