/**
 * Which chat a client, session or message belongs to, known before a change starts, so the change can be
 * ordered with the other changes of its chat on this node (publisher.ts). These never change once written,
 * so a bounded cache answers almost every lookup without the database.
 */
import { chatOf } from '../store/chat.js'
import type { Db } from '../store/db.js'

const MAX_ENTRIES = 100_000

export class ChatKeys {
  private readonly cache = new Map<string, string>()

  constructor(private readonly db: Db) {}

  client(id: string): Promise<string | undefined> {
    return this.lookup(`c:${id}`, 'clients', id)
  }

  session(id: string): Promise<string | undefined> {
    return this.lookup(`s:${id}`, 'sessions', id)
  }

  message(id: string): Promise<string | undefined> {
    return this.lookup(`m:${id}`, 'messages', id)
  }

  private async lookup(key: string, table: 'clients' | 'sessions' | 'messages', id: string): Promise<string | undefined> {
    const hit = this.cache.get(key)
    if (hit !== undefined) return hit
    const chatId = await chatOf(this.db, table, id)
    if (chatId === undefined) return undefined
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(key, chatId)
    return chatId
  }
}
