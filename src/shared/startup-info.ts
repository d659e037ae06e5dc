// What the socket's `startup` command answers: how the running server was started, for
// `hotswap startup systemd` to write a unit that starts it the same way (client/startup/).
// One JSON line.

export interface StartupInfo {
  pid: number
  /** node, by its full path (systemd runs no shell profile: no nvm, no PATH of yours). */
  execPath: string
  /** node's own flags the primary was started with. */
  execArgv: string[]
  /** The CLI the primary runs (process.argv[1], through its symlinks as given). */
  script: string
  /** The primary's arguments after the script: `serve APP --db …`. */
  args: string[]
  /** The working directory as named (through a release symlink), and what it is now. */
  cwd: string
  realCwd: string
  user: string
  uid: number
  /** The user's group name, when /etc/group names it. */
  group: string | null
  /** The server's HOTSWAP_* and NODE_ENV variables (serve's settings may come from them). */
  env: Record<string, string>
  killTimeoutMs: number
}
