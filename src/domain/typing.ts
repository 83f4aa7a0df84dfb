/**
 * Typing indicators. Each notice carries `until`; the server sends the stop itself when the TTL passes
 * without a renewal, when the typist sends a message, or when the typist disconnects, so none stays stuck.
 * The state lives in the store (store/timers.ts): a renewal through another node extends the same indicator,
 * the notice rate holds across nodes, and whichever node's sweeper (timers.ts) sees it due sends the stop, once.
 */
import { startTyping, stopTyping, type TypingRow } from '../store/timers.js'
import type { DomainContext } from './context.js'
import { DomainError } from './errors.js'
import { envelope } from './outbox.js'
import type { TypingData } from './events.js'

type Typist = TypingData['author']

export const typistOf = (author: Pick<Typist, 'type' | 'id'>) => `${author.type}:${author.id}`

export class Typing {
  constructor(private readonly ctx: DomainContext) {}

  /**
   * Shows (or renews) the indicator on `channels` until the TTL passes; rate_limited when the typist's last
   * notice in this chat is younger than typingMinIntervalMs. With no channels nothing is shown (the rate still counts).
   */
  async start(channels: string[], data: Omit<TypingData, 'active' | 'until'>): Promise<string | null> {
    const { typingTtlMs, typingMinIntervalMs } = this.ctx.config
    const started = await startTyping(this.ctx.db, {
      chatId: data.chatId,
      typist: typistOf(data.author),
      channels,
      data,
      ttlMs: typingTtlMs,
      minIntervalMs: typingMinIntervalMs,
    })
    if (!started) throw new DomainError('rate_limited', `typing at most every ${typingMinIntervalMs} ms`)
    if (channels.length === 0) return null
    const until = new Date(started.until).toISOString()
    await this.send(channels, { ...data, active: true, until })
    return until
  }

  /** The typist sent a message or left: the indicator stops now (in one chat, or in all). */
  async stop(author: Pick<Typist, 'type' | 'id'>, chatId?: string): Promise<void> {
    await this.stopped(await stopTyping(this.ctx.db, typistOf(author), chatId))
  }

  /** Sends the stop of indicators the store has just ended. */
  async stopped(rows: TypingRow[]): Promise<void> {
    const now = new Date().toISOString()
    await Promise.all(rows.filter((r) => r.channels.length > 0).map((r) => this.send(r.channels, { ...r.data, active: false, until: now })))
  }

  private async send(channels: string[], data: TypingData): Promise<void> {
    const env = envelope('typing', data)
    await Promise.all(
      channels.map((channel) => this.ctx.live.publish(channel, env).catch((err) => this.ctx.log.error({ err, channel }, 'typing publish failed'))),
    )
  }
}
