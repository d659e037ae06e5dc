// Bash completion as a shell user gets it: `hotswap autocomplete bash` builds the cache, the line
// `autocomplete script bash` prints (the one appended to ~/.bashrc) loads it, and the completion
// function, called as bash calls it (COMP_WORDS, COMP_CWORD), fills COMPREPLY with commands,
// flags, a flag's options and, everywhere else, the file names in the working directory. Before
// the fix the plugin's function completed no file (`hotswap cp new<Tab>`: nothing) and no flag
// value (`--log-format <Tab>`: nothing).

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, runProcess, tempDir } from '../support/index.js'

let t: ReturnType<typeof tempDir>
let setupLine = ''
const env = (): Record<string, string> => ({ XDG_CACHE_HOME: join(t.dir, 'xdg-cache') })

before(async () => {
  t = tempDir()
  for (const f of ['new.sqlite3', 'newer.sqlite3', 'new release.sqlite3', 'other.sqlite3']) writeFileSync(join(t.dir, f), '')
  mkdirSync(join(t.dir, 'newdir'))
  const setup = await cli(['autocomplete', 'bash'], { cwd: t.dir, env: env() })
  assert.equal(setup.code, 0, setup.stderr)
  assert.match(setup.stdout.toString(), /hotswap autocomplete script bash\)" >> ~\/\.bashrc/)
  const script = await cli(['autocomplete', 'script', 'bash'], { cwd: t.dir, env: env() })
  assert.equal(script.code, 0, script.stderr)
  setupLine = script.stdout.toString().trim()
  assert.match(setupLine, /^HOTSWAP_AC_BASH_SETUP_PATH=.*xdg-cache\/hotswap\/autocomplete\/bash_setup && test -f/)
})
after(() => t.cleanup())

/** COMPREPLY for each command line; the last word is the one being completed ('' for a new one). */
async function complete (lines: string[][]): Promise<string[][]> {
  const quote = (w: string): string => `'${w.replaceAll("'", "'\\''")}'`
  const calls = lines.map((words) => `COMP_WORDS=(${words.map(quote).join(' ')}); COMP_CWORD=${words.length - 1}; _hotswap_autocomplete; printf '%s\\t' "\${COMPREPLY[@]}"; echo`)
  const res = await runProcess('bash', ['-c', `${setupLine}\n${calls.join('\n')}\n`], { cwd: t.dir, timeoutMs: 15_000 })
  assert.equal(res.code, 0, res.stderr)
  return res.stdout.toString().split('\n').slice(0, lines.length).map((l) => l.split('\t').filter((w) => w !== '').sort())
}

test('bash: commands and each command\'s flags complete', async () => {
  const [commands, cpFlags, noFlag] = await complete([['hotswap', 'stat'], ['hotswap', 'cp', '--sk'], ['hotswap', 'serve', '--no-w']])
  assert.deepEqual(commands, ['status'])
  assert.deepEqual(cpFlags, ['--skip-integrity-check', '--skip-schema-check'])
  assert.deepEqual(noFlag, ['--no-wait-ready', '--no-watch'])
})

test('bash: cp, serve and a path flag complete the file names in the working directory', async () => {
  const news = ['new release.sqlite3', 'new.sqlite3', 'newdir', 'newer.sqlite3']
  const got = await complete([['hotswap', 'cp', 'new'], ['hotswap', 'cp', 'new.sqlite3', 'oth'], ['hotswap', 'cp', '--force', 'new'],
    ['hotswap', 'serve', '--db', 'new'], ['hotswap', 'serve', 'app.js', '--db', 'main', '=', 'new']])
  assert.deepEqual(got, [news, ['other.sqlite3'], news, news, news])
})

test('bash: a flag\'s options complete after --flag and after --flag=', async () => {
  const got = await complete([['hotswap', 'serve', '--log-format', ''], ['hotswap', 'serve', '--log-format', '='], ['hotswap', 'serve', '--log-format', '=', 'p'],
    ['hotswap', 'autocomplete', 'b'], ['hotswap', 'help', 're']])
  assert.deepEqual(got, [['json', 'pretty'], ['json', 'pretty'], ['pretty'], ['bash'], ['reload']])
})
