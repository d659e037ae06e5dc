// The options of one `hotswap cp`, as the dispatch (cp.ts) and both directions (push.ts,
// pull.ts) take them, and the flags they become in the command sent to the server.

export interface CpOptions {
  src: string
  dst: string
  socketPath: string
  skipIntegrityCheck: boolean
  skipSchemaCheck: boolean
  force: boolean
  /** A push stops after its checks: the server keeps the file as a stage and prints its id. */
  stage: boolean
  /** Where the server's stdout goes (default: this process's stdout). */
  onStdout?: (c: Buffer) => void | Promise<void>
}

/** The checks a push skips, its --force and --stage, as `cp` flags on the socket. */
export function flagsOf (o: CpOptions): string[] {
  return [
    ...(o.skipIntegrityCheck ? ['--skip-integrity-check'] : []),
    ...(o.skipSchemaCheck ? ['--skip-schema-check'] : []),
    ...(o.force ? ['--force'] : []),
    ...(o.stage ? ['--stage'] : []),
  ]
}
