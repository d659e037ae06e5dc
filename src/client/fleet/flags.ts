// The flags every fleet command shares (they win over the config file's "fleet" section).

import { Flags } from '@oclif/core'
import { reportError } from '../output.js'
import { fleetSettings, type FleetFlags, type FleetSettings } from './config.js'

export const fleetFlags = {
  hosts: Flags.string({ description: 'the hosts, by their ssh names: web1,web2,… [default: "fleet.hosts" of hotswap.config.json]' }),
  remote: Flags.string({ description: 'the command line that runs hotswap on every host [default: "fleet.remote", else hotswap]' }),
  'ssh-config': Flags.string({ description: 'ssh -F FILE [default: "fleet.sshConfig", else your own ssh configuration]' }),
  timeout: Flags.integer({ description: 'the longest one remote step may take, in ms [default: "fleet.timeout", else 60000]', min: 1 }),
  config: Flags.string({ description: 'the config file [default: hotswap.config.json (.mjs, .js) in the current directory]' }),
}

/** The flags of a fleet report (status, history). */
export const fleetReportFlags = { ...fleetFlags, json: Flags.boolean({ description: 'print JSON' }) }

export function fleetFlagsOf (f: { hosts?: string, remote?: string, 'ssh-config'?: string, timeout?: number, config?: string, hold?: number }): FleetFlags {
  return { hosts: f.hosts, remote: f.remote, sshConfig: f['ssh-config'], timeout: f.timeout, config: f.config, hold: f.hold }
}

/** A fleet command's body: its settings from the flags and the config file; any failure is the one coded error line. */
export async function runOnFleet (flags: Parameters<typeof fleetFlagsOf>[0], run: (settings: FleetSettings) => Promise<number>): Promise<void> {
  try {
    process.exitCode = await run(await fleetSettings(process.cwd(), fleetFlagsOf(flags)))
  } catch (err) {
    process.exitCode = reportError(err)
  }
}
