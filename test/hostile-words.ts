// Words a hostile or careless client sends where the control socket expects a command or a flag
// (issue 10, item 1): every name Object.prototype (and Function.prototype) carries, every real
// command and flag, empty and huge strings. A name from outside once indexed a plain object, and
// `{"args":["constructor"]}` took the primary down; random words never drew these.

const prototypeNames = [...new Set([...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Function.prototype)])]

/** Names that are inherited by every plain object (constructor, toString, __proto__, …). */
export const PROTOTYPE_NAMES: readonly string[] = prototypeNames

/** The control socket's commands, as the server knows them. */
export const COMMANDS: readonly string[] = ['cp', 'help', 'status', 'version', 'reload', 'undo', 'history', 'commit', 'abort', 'scale', 'stop', 'monit', 'startup', 'logs', 'lease']

/** Every flag a command takes, in the spellings the server accepts. */
export const FLAGS: readonly string[] = ['--json', '--force', '--skip-integrity-check', '--skip-schema-check', '--skip_integrity_check',
  '--skip_schema_check', '--parallel', '--parallel=2', '--parallel=constructor', '--socket', '--stage', '--to', '--to=1', '--to=constructor',
  '--lines', '--lines=constructor', '--follow', '--worker']

/** The dictionary: prototype names bare and as flags, real commands and flags, odd strings. */
export const HOSTILE_WORDS: readonly string[] = [
  ...PROTOTYPE_NAMES,
  ...PROTOTYPE_NAMES.map((n) => `--${n}`),
  ...COMMANDS,
  ...FLAGS,
  'help', '', '-', '--', '---', ' ', 'x'.repeat(300), 'y'.repeat(100_000), 'é✓', '\u0000', '\ud800', 'database', 'live', 'live.sqlite3',
]

/** `args` values of the wrong type (a missing one is the `undefined`). */
export const WRONG_ARGS: readonly unknown[] = [undefined, null, 'cp', 'constructor', 42, true, {}, { 0: 'cp' }, { constructor: 'cp' },
  [1], [null], [{}], [['cp']], [true], ['cp', 1], ['status', null], [{ toString: 'x' }]]
