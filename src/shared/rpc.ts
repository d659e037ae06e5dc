// Request/reply over an IPC channel, matched by `seq` (as node's cluster does in utils.js),
// never "the next message that arrives". Every request has a timeout. One Rpc is one end of a
// channel: it sends the requests of one call map (`Out`) and answers those of the other (`In`)
// through a handler table whose type makes a missing handler a compile error.
//
//   request(msg) ── { cmd, seq, ...fields } ──▶ receive(): handlers[cmd](msg) ──▶ reply()/fail()
//   pending[seq] ◀──────────── { cmd: 'hotswap:reply', seq, ok, value | error } ◀─┘

import { HotswapError, toHotswapError, type ErrorCode } from './errors.js'
import { isHotswapMessage, type Calls, type Reply, type RequestIn, type RequestOf, type ValueOf, type WireError } from './messages.js'

type Pending = {
  resolve: (value: unknown) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

/** How one end answers each request of `M`: a value, or a promise of one; a throw fails it. */
export type Handlers<M extends Calls<M>> = {
  [K in keyof M]: (msg: RequestOf<M, K>) => ValueOf<M, K> | Promise<ValueOf<M, K>>
}

export class Rpc<Out extends Calls<Out>, In extends Calls<In>> {
  #seq = 0
  readonly #pending = new Map<number, Pending>()
  readonly #send: (msg: RequestIn<Out> | Reply) => boolean
  readonly #handlers: Handlers<In>

  constructor (send: (msg: RequestIn<Out> | Reply) => boolean, handlers: Handlers<In>) {
    this.#send = send
    this.#handlers = handlers
  }

  /** Sends request `msg.cmd`; settles with its reply's value, or fails (error reply, timeout, closed channel). */
  request<K extends keyof Out & string> (msg: { cmd: K } & Out[K]['fields'], timeoutMs: number, timeoutCode: ErrorCode = 'HOTSWAP_ERR_WORKER_FAILED'): Promise<ValueOf<Out, K>> {
    const seq = ++this.#seq
    return new Promise<ValueOf<Out, K>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq)
        reject(new HotswapError(timeoutCode, `no reply to ${msg.cmd} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, timer })
      if (!this.#trySend({ ...msg, seq } as unknown as RequestIn<Out>)) {
        clearTimeout(timer)
        this.#pending.delete(seq)
        reject(new HotswapError(timeoutCode, `could not send ${msg.cmd}: the IPC channel is closed`))
      }
    })
  }

  /**
   * Takes any message that arrived on the channel: a reply settles its pending request, a
   * request of `In` runs its handler and is answered with the same seq. Returns false for a
   * message that is not ours (the app's own IPC), which is left alone.
   */
  receive (msg: unknown): boolean {
    if (!isHotswapMessage(msg)) return false
    if (msg.cmd === 'hotswap:reply') {
      this.handleReply(msg as Reply)
      return true
    }
    // Own keys only: "hotswap:" plus anything must not find a handler on Object.prototype. The
    // other side's requests (and unknown ones) have no handler here and are left unanswered.
    if (!Object.hasOwn(this.#handlers, msg.cmd)) return true
    const handler = this.#handlers[msg.cmd as keyof In] as (m: unknown) => unknown
    const seq = msg.seq
    let result: unknown
    try {
      result = handler(msg)
    } catch (err) {
      this.#trySend(fail(seq, err))
      return true
    }
    Promise.resolve(result).then(
      (value) => this.#trySend(reply(seq, value)),
      (err: unknown) => this.#trySend(fail(seq, err)),
    )
    return true
  }

  /** Feeds a reply in; returns false if it answered nothing pending (late or foreign). */
  handleReply (reply: Reply): boolean {
    const pending = this.#pending.get(reply.seq)
    if (pending === undefined) return false
    this.#pending.delete(reply.seq)
    clearTimeout(pending.timer)
    if (reply.ok) pending.resolve(reply.value)
    else pending.reject(new HotswapError(reply.error.code as ErrorCode, reply.error.message, reply.error.details))
    return true
  }

  /** Fails everything pending, e.g. when the other side exits. */
  failAll (err: Error): void {
    for (const [seq, pending] of this.#pending) {
      clearTimeout(pending.timer)
      this.#pending.delete(seq)
      pending.reject(err)
    }
  }

  get pending (): number {
    return this.#pending.size
  }

  #trySend (msg: RequestIn<Out> | Reply): boolean {
    try {
      return this.#send(msg)
    } catch {
      return false
    }
  }
}

/** The reply that answers request `seq` with `value` (undefined travels as null). */
export function reply (seq: number, value: unknown): Reply {
  return { cmd: 'hotswap:reply', seq, ok: true, value: value ?? null }
}

/** The reply that fails request `seq` with `err`, its code and details kept. */
export function fail (seq: number, err: unknown): Reply {
  return { cmd: 'hotswap:reply', seq, ok: false, error: toWireError(err) }
}

export function toWireError (err: unknown): WireError {
  const e = toHotswapError(err)
  return { code: e.code, message: e.message, details: e.details }
}
