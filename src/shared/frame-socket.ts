// Frames onto a socket, for the client's upload and the server's replies alike.

import type { Socket } from 'node:net'
import { encodeFrame, encodeHeader, type ChannelNumber } from './frames.js'

/** Below this a payload is copied into its frame; above, it goes out behind its header as is. */
const COPY_BELOW = 64 * 1024

/** Writes one frame (a large payload with its header in one writev, not copied); write()'s result. */
export function writeFrame (socket: Socket, channel: ChannelNumber, data: Buffer | string): boolean {
  if (typeof data === 'string' || data.length < COPY_BELOW) return socket.write(encodeFrame(channel, data))
  socket.cork()
  socket.write(encodeHeader(channel, data.length))
  const ok = socket.write(data)
  socket.uncork()
  return ok
}

/**
 * Resolves once at most `maxQueued` bytes wait in the socket's buffer, or it is gone. Waiting
 * whenever write() returns false (past 16 KiB) made a stream stop-and-wait, once per frame.
 */
export async function roomFor (socket: Socket, maxQueued: number): Promise<void> {
  if (socket.destroyed || socket.writableLength <= maxQueued) return
  await new Promise<void>((resolve) => {
    const go = (): void => { socket.off('drain', go); socket.off('close', go); resolve() }
    socket.on('drain', go)
    socket.on('close', go)
  })
}
