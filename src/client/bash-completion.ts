// The bash completion function `hotswap autocomplete bash` installs (written into oclif's cache
// by src/hooks/bash-completion.ts over the one @oclif/plugin-autocomplete makes, which completes
// commands and flag names but nothing else: `hotswap cp new<Tab>` completed no file and
// `--log-format <Tab>` no value). This one completes, from the commands' own definitions:
//   hotswap <Tab>                 the commands
//   hotswap serve --<Tab>         that command's flags
//   --log-format <Tab>, --log-format=<Tab>   a flag's options (json pretty)
//   autocomplete <Tab>, help <Tab>            an argument's options, the commands
//   anything else                 file names (dirs get their slash), as bash does by default

/** What a command's definition says about completion (oclif's Command.Cached, narrowed). */
export interface CompletableCommand {
  id: string
  hidden?: boolean
  flags: Record<string, { type: string, char?: string, options?: readonly string[], hidden?: boolean, allowNo?: boolean }>
  args: Record<string, { options?: readonly string[] }>
}

// Only plain words reach the script: nothing a shell would expand.
const WORD = /^[A-Za-z0-9_.:@%+,-]+$/

function words (list: readonly string[]): string {
  return list.filter((w) => WORD.test(w)).join(' ')
}

function caseArm (patterns: string[], body: string): string {
  return patterns.length === 0 ? '' : `    ${patterns.map((p) => `"${p}"`).join('|')}) ${body} ;;\n`
}

export function bashCompletion (bin: string, all: readonly CompletableCommand[]): string {
  const fn = `_${bin.replace(/[^A-Za-z0-9_]/g, '_')}_autocomplete`
  const commands = all.filter((c) => c.hidden !== true && WORD.test(c.id.replaceAll(':', ' ').split(' ').join('')))
  const names = commands.map((c) => c.id.replaceAll(':', ' '))
  let flagLists = ''
  let valueArms = ''
  const fileFlags: string[] = []
  let argArms = ''
  for (const c of commands) {
    const name = c.id.replaceAll(':', ' ')
    const flags = Object.entries(c.flags).filter(([, f]) => f.hidden !== true)
    const spelled = flags.flatMap(([n, f]) => f.type === 'boolean' && f.allowNo === true ? [`--${n}`, `--no-${n}`] : [`--${n}`])
    flagLists += caseArm([name], `flags="${words([...spelled, '--help'])}"`)
    for (const [n, f] of flags) {
      if (f.type === 'boolean') continue
      const spellings = [`${name} --${n}`, ...(f.char === undefined ? [] : [`${name} -${f.char}`])].filter((s) => WORD.test(s.replaceAll(' ', '')))
      if (f.options !== undefined && f.options.length > 0) valueArms += caseArm(spellings, `COMPREPLY=($(compgen -W "${words(f.options)}" -- "$cur")); return 0`)
      else fileFlags.push(...spellings)
    }
    const argOptions = Object.values(c.args).flatMap((a) => a.options ?? [])
    if (argOptions.length > 0) argArms += caseArm([name], `COMPREPLY=($(compgen -W "${words(argOptions)}" -- "$cur")); return 0`)
  }
  return `#!/usr/bin/env bash
# ${bin}'s bash completion, made by \`${bin} autocomplete\` from its commands' definitions.

${fn}()
{
  local IFS=$' \\t\\n' cur="\${COMP_WORDS[COMP_CWORD]}" prev="" cmd="\${COMP_WORDS[1]}" flags=""
  COMPREPLY=()
  if (( COMP_CWORD <= 1 )); then
    COMPREPLY=($(compgen -W "${words(names.filter((n) => !n.includes(' ')))} --help --version" -- "$cur"))
    return 0
  fi
  # The flag whose value is being typed: \`--flag VALUE\`, or \`--flag=VALUE\` (bash splits at =).
  if [[ "$cur" == "=" ]]; then
    prev="\${COMP_WORDS[COMP_CWORD-1]}"; cur=""
  elif [[ "\${COMP_WORDS[COMP_CWORD-1]}" == "=" ]] && (( COMP_CWORD >= 3 )); then
    prev="\${COMP_WORDS[COMP_CWORD-2]}"
  else
    prev="\${COMP_WORDS[COMP_CWORD-1]}"
  fi
  case "$cmd $prev" in
${valueArms}${caseArm(fileFlags, `${fn}_files; return 0`)}  esac
  if [[ "$cur" == -* ]]; then
    case "$cmd" in
${flagLists}    esac
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return 0
  fi
  case "$cmd" in
${argArms}    "help") COMPREPLY=($(compgen -W "${words(names.filter((n) => !n.includes(' ')))}" -- "$cur")); return 0 ;;
  esac
  ${fn}_files
}

# File names, one per line (a name may hold spaces); -o filenames quotes them and marks dirs.
${fn}_files()
{
  local IFS=$'\\n'
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -f -- "$cur"))
}

complete -F ${fn} ${bin}
`
}
