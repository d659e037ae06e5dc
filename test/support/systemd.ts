// A systemd unit read back: its [Service] settings, every value of each key in order (the
// shipped unit's test and `hotswap startup systemd`'s).

export function serviceKeys (unit: string): Map<string, string[]> {
  const keys = new Map<string, string[]>()
  let section = ''
  for (const line of unit.split('\n')) {
    const s = /^\[(\w+)\]$/.exec(line)
    if (s !== null) section = s[1] as string
    const kv = /^(\w+)=(.*)$/.exec(line)
    if (kv === null || section !== 'Service') continue
    keys.set(kv[1] as string, [...(keys.get(kv[1] as string) ?? []), kv[2] as string])
  }
  return keys
}
