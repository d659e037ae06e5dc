// Request/reply over an IPC channel, matched by `seq` (as node's cluster does in utils.js),
// never "the next message that arrives". Every request has a timeout.

import { HotswapError, toHotswapError, type ErrorCode } from './errors.js'
import type { Reply, WireError } from './messages.js'

type Pending = {
  resolve: (value: unknown) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

type Distributive<T> = T extends unknown ? Omit<T, 'seq'> : never

export class Rpc<Req extends { cmd: string, seq: number }> {
  #seq = 0
  readonly #pending = new Map<number, Pending>()
  readonly #send: (msg: Req) => boolean

  constructor (send: (msg: Req) => boolean) {
    this.#send = send
  }

  request<T> (msg: Distributive<Req>, timeoutMs: number, timeoutCode: ErrorCode = 'HOTSWAP_ERR_WORKER_FAILED'): Promise<T> {
    const seq = ++this.#seq
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq)
        reject(new HotswapError(timeoutCode, `no reply to ${msg.cmd} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, timer })
      let sent = false
      try {
        sent = this.#send({ ...msg, seq } as unknown as Req)
      } catch {
        sent = false
      }
      if (!sent) {
        clearTimeout(timer)
        this.#pending.delete(seq)
        reject(new HotswapError(timeoutCode, `could not send ${msg.cmd}: the IPC channel is closed`))
      }
    })
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
}

export function toWireError (err: unknown): WireError {
  const e = toHotswapError(err)
  return { code: e.code, message: e.message, details: e.details }
}
