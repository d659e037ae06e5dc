// A client's stdin frames as the Readable a command reads (session.stdin): the socket's own
// slices, never joined, with the socket paused while the reader is full and resumed when it
// reads. An empty frame is end-of-input; after it, an abort no longer applies.

import type net from 'node:net'
import { Readable } from 'node:stream'

export class StdinFrames {
  // Object mode: a reader gets each slice as it came, where a byte stream would join whatever
  // is buffered into a new buffer at every read. Up to 64 slices (~4 MiB) wait here.
  readonly stream: Readable
  /** The empty frame (end-of-input) came: an abort no longer applies. */
  #ended = false

  constructor (socket: net.Socket) {
    this.stream = new Readable({
      objectMode: true,
      highWaterMark: 64,
      read: () => { socket.resume() },
    })
    this.stream.on('error', () => {}) // Errors reach the command through its pipeline.
  }

  /** One stdin frame; false when the reader is full (the caller then pauses the socket). */
  push (payload: Buffer): boolean {
    if (this.#ended) return true
    if (payload.length === 0) {
      this.#ended = true
      this.stream.push(null)
      return true
    }
    return this.stream.push(payload)
  }

  /** The upload cannot complete: its reader fails with `err`, unless end-of-input came. */
  abort (err: Error): void {
    if (!this.#ended) this.stream.destroy(err)
  }
}
