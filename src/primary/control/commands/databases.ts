// What the generation commands (undo, history) share: databases named by the client, by name
// or path, and each one's generation store.

import { HotswapError } from '../../../shared/errors.js'
import { findManaged, managedList } from '../../../shared/managed.js'
import type { DatabaseInfo } from '../../../shared/messages.js'
import type { GenerationStore } from '../../generations/store.js'
import { shown, type ServerContext } from '../session.js'

export function databasesNamed (names: string[], cwd: string, ctx: ServerContext): DatabaseInfo[] {
  const out: DatabaseInfo[] = []
  for (const n of names) {
    const db = findManaged(n, cwd, ctx.databases)
    if (db === undefined) throw new HotswapError('HOTSWAP_ERR_NOT_MANAGED', `${shown(n)} is not a managed database (managed: ${managedList(ctx.databases)})`)
    if (out.includes(db)) throw new HotswapError('HOTSWAP_ERR_USAGE', `${db.name} is named twice`)
    out.push(db)
  }
  return out
}

export function storeOf (ctx: ServerContext, db: DatabaseInfo): GenerationStore {
  const store = ctx.coordinator.stores.get(db.name)
  if (store === undefined) throw new HotswapError('HOTSWAP_ERR_INTERNAL', `no generation store for ${db.name}`)
  return store
}
