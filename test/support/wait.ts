// Waiting in tests: sleep, polling until a condition holds, whether a pid is still alive (or
// running, a zombie not counted), the processes below a pid.

import { readdirSync, readFileSync } from 'node:fs'
import { alive } from '../../src/shared/alive.js'

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `fn` until it returns something other than undefined/false/null; throws after the timeout. */
export async function waitUntil<T> (what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined && v !== null && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(25)
  }
}

/** True while a process with this pid exists (signal 0 checks without sending anything). */
export const isAlive = alive

/** Like isAlive, but a zombie (exited, not yet reaped by a parent that is not the test) counts as gone. */
export function isRunning (pid: number): boolean {
  if (!isAlive(pid)) return false
  try {
    return statOf(pid).state !== 'Z'
  } catch {
    return false
  }
}

function statOf (pid: number): { state: string, ppid: number } {
  // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { state, ppid: Number(ppid) }
}

/** Every process below `pid` (children, their children, …), from /proc. */
export function descendants (pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const { ppid } = statOf(Number(name))
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)])
    } catch { /* gone meanwhile */ }
  }
  const out: number[] = []
  const walk = (p: number): void => { for (const c of children.get(p) ?? []) { out.push(c); walk(c) } }
  walk(pid)
  return out
}
