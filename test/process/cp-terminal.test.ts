// `hotswap cp LIVE -` with stdout on a terminal, and `hotswap cp - LIVE` with stdin on one, are
// refused before the socket is dialled (as curl refuses binary output to a terminal): one usage
// line with the redirect to use, exit 2, and the server never hears of it (no command logged,
// the live database as it was). On the fast path (plain arguments) and through oclif (`--`).
// Run on a real pseudo-terminal (util-linux `script`) against a real serve.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { HOTSWAP, labelOf, onTerminal, seed, type Served, serveLiveForFile, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let served: Served
let live: string

serveLiveForFile({ workers: 1, prepare: (s) => { seed(join(s.t.dir, 'v1.sqlite3'), { label: 'v1' }) } }, (s) => { ({ t, served, live } = s) })

const commandsLogged = (): string[] => served.logs().map((l) => String(l.message)).filter((m) => m.startsWith('command:'))

test('a pull to stdout on a terminal is refused with a hint; the server hears nothing', async () => {
  const before = commandsLogged().length
  for (const args of [`cp live - --socket '${served.socket}'`, `cp --socket '${served.socket}' -- live -`]) {
    const { code, output } = await onTerminal(`${HOTSWAP} ${args}`, { cwd: t.dir })
    assert.equal(code, 2, output)
    assert.equal(output, 'ERROR [HOTSWAP_ERR_USAGE] will not write a database to a terminal: redirect stdout (hotswap cp live - > FILE) or pull into a file (hotswap cp live FILE)\r\n')
  }
  assert.deepEqual(commandsLogged().slice(before), [])
})

test('a push from stdin on a terminal is refused with a hint; the live database is as it was', async () => {
  const before = commandsLogged().length
  for (const args of [`cp - live --socket '${served.socket}'`, `cp --socket '${served.socket}' -- - live`]) {
    const { code, output } = await onTerminal(`${HOTSWAP} ${args}`, { cwd: t.dir })
    assert.equal(code, 2, output)
    assert.equal(output, 'ERROR [HOTSWAP_ERR_USAGE] will not read a database from a terminal: redirect stdin (hotswap cp - live < FILE) or push the file (hotswap cp FILE live)\r\n')
  }
  assert.deepEqual(commandsLogged().slice(before), [])
  assert.equal(labelOf(live), 'v0')
})

test('redirected, the same commands run: a terminal on the other side does not matter', async () => {
  const pushed = await onTerminal(`${HOTSWAP} cp - live --socket '${served.socket}' < v1.sqlite3`, { cwd: t.dir })
  assert.equal(pushed.code, 0, pushed.output)
  assert.equal(labelOf(live), 'v1')
  const pulled = await onTerminal(`${HOTSWAP} cp live - --socket '${served.socket}' > pulled.sqlite3`, { cwd: t.dir })
  assert.equal(pulled.code, 0, pulled.output)
  assert.equal(labelOf(join(t.dir, 'pulled.sqlite3')), 'v1')
})
