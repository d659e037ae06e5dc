// Why a remote step failed on a host, as a coded error: the host's own "ERROR [CODE] message"
// line (and its detail lines: a schema diff) when hotswap there said why, else what ssh said.
//
//   timed out ─▶ HOTSWAP_ERR_FLEET_TIMEOUT   exit 255 ─▶ HOTSWAP_ERR_UNREACHABLE (ssh's last line)
//   ERROR [HOTSWAP_ERR_X] … on stderr ─▶ X    anything else (exit 127: no hotswap) ─▶ HOTSWAP_ERR_REMOTE

import { ErrorCodes, HotswapError, type ErrorCode } from '../../shared/errors.js'
import type { RemoteResult } from './ssh.js'

export function failureOf (r: RemoteResult, step: string): HotswapError {
  if (r.timedOut) return new HotswapError('HOTSWAP_ERR_FLEET_TIMEOUT', `${step}: no answer within ${Math.round(r.ms)} ms`)
  const lines = r.stderr.split('\n')
  const at = lines.findIndex((l) => /^ERROR \[HOTSWAP_ERR_[A-Z_]+\] /.test(l))
  if (at >= 0) {
    const m = /^ERROR \[(HOTSWAP_ERR_[A-Z_]+)\] (.*)$/.exec(lines[at] as string) as RegExpExecArray
    const details = lines.slice(at + 1).filter((l) => l.startsWith('  ')).map((l) => l.slice(2))
    const code = (m[1] as string) in ErrorCodes ? m[1] as ErrorCode : 'HOTSWAP_ERR_REMOTE'
    return new HotswapError(code, `${step}: ${code === m[1] ? '' : `${m[1] as string} `}${m[2] as string}`, details)
  }
  const said = lines.map((l) => l.trim()).filter((l) => l !== '').at(-1) ?? ''
  if (r.code === 255) return new HotswapError('HOTSWAP_ERR_UNREACHABLE', `${step}: ssh failed${said === '' ? '' : `: ${said}`}`)
  if (r.code === 127) return new HotswapError('HOTSWAP_ERR_REMOTE', `${step}: hotswap was not found on the host (exit 127${said === '' ? '' : `: ${said}`})`)
  return new HotswapError('HOTSWAP_ERR_REMOTE', `${step}: exit ${r.code === null ? 'by a signal' : r.code}${said === '' ? '' : `: ${said}`}`)
}

/** "host2: HOTSWAP_ERR_X message" and its detail lines, indented under it. */
export function hostLines (host: string, err: HotswapError): string[] {
  return [`${host}: ${err.code} ${err.message}`, ...err.details.map((d) => `  ${d}`)]
}
