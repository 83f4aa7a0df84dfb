/**
 * Which chat a client, session or message belongs to, known before a change starts, so the change can be
 * ordered with the other changes of its chat on this node (publisher.ts). These never change once written,
 * so a bounded cache answers almost every lookup without the database.
 */
import type { Db } from '../store/db.js'

const MAX_ENTRIES = 100_000

export class ChatKeys {
  private readonly cache = new Map<string, string>()

  constructor(private readonly db: Db) {}

  client(id: string): Promise<string | undefined> {
    return this.lookup(`c:${id}`, `SELECT chat_id FROM clients WHERE id = $1`, id)
  }

  session(id: string): Promise<string | undefined> {
    return this.lookup(`s:${id}`, `SELECT chat_id FROM sessions WHERE id = $1`, id)
  }

  message(id: string): Promise<string | undefined> {
    return this.lookup(`m:${id}`, `SELECT chat_id FROM messages WHERE id = $1`, id)
  }

  private async lookup(key: string, sql: string, id: string): Promise<string | undefined> {
    const hit = this.cache.get(key)
    if (hit !== undefined) return hit
    const [row] = await this.db.query<{ chat_id: string }>(sql, [id])
    if (!row) return undefined
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(key, row.chat_id)
    return row.chat_id
  }
}
