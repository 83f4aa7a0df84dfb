/**
 * Typing indicators. Each notice carries `until`; the server sends the stop itself when the TTL passes
 * without a renewal, when the typist sends a message, or when the typist disconnects, so none stays stuck.
 * Timers live on the node that received the notice.
 */
import type { DomainContext } from './context.js'
import { DomainError } from './errors.js'
import { envelope } from './outbox.js'
import type { TypingData } from './events.js'

type Typist = TypingData['author']

interface Active {
  timer: NodeJS.Timeout
  channels: string[]
  data: Omit<TypingData, 'active' | 'until'>
}

const keyOf = (author: Typist, chatId: string) => `${author.type}:${author.id}|${chatId}`

export class Typing {
  private readonly active = new Map<string, Active>()
  private readonly lastNotice = new Map<string, number>()

  constructor(private readonly ctx: DomainContext) {}

  /** Refuses notices of one typist in one chat closer together than typingMinIntervalMs. */
  checkRate(author: Typist, chatId: string): void {
    const key = keyOf(author, chatId)
    const now = Date.now()
    const min = this.ctx.config.typingMinIntervalMs
    const prev = this.lastNotice.get(key)
    if (prev !== undefined && now - prev < min) throw new DomainError('rate_limited', `typing at most every ${min} ms`)
    if (this.lastNotice.size > 10_000) {
      for (const [k, t] of this.lastNotice) if (now - t >= min) this.lastNotice.delete(k)
    }
    this.lastNotice.set(key, now)
  }

  /** Shows (or renews) the indicator on `channels` until the TTL passes. */
  async start(channels: string[], data: Omit<TypingData, 'active' | 'until'>): Promise<string> {
    const key = keyOf(data.author, data.chatId)
    const existing = this.active.get(key)
    if (existing) clearTimeout(existing.timer)
    const ttl = this.ctx.config.typingTtlMs
    const until = new Date(Date.now() + ttl).toISOString()
    const timer = setTimeout(() => void this.stop(data.author, data.chatId), ttl)
    timer.unref()
    this.active.set(key, { timer, channels, data })
    await this.send(channels, { ...data, active: true, until })
    return until
  }

  async stop(author: Typist, chatId: string): Promise<void> {
    const key = keyOf(author, chatId)
    const entry = this.active.get(key)
    if (!entry) return
    clearTimeout(entry.timer)
    this.active.delete(key)
    await this.send(entry.channels, { ...entry.data, active: false, until: new Date().toISOString() })
  }

  /** Stops every indicator of this typist (it disconnected). */
  async stopAll(type: Typist['type'], id: string): Promise<void> {
    const prefix = `${type}:${id}|`
    const stops = [...this.active.entries()].filter(([k]) => k.startsWith(prefix)).map(([, a]) => this.stop(a.data.author, a.data.chatId))
    await Promise.all(stops)
  }

  private async send(channels: string[], data: TypingData): Promise<void> {
    const env = envelope('typing', data)
    for (const channel of channels) {
      await this.ctx.live.publish(channel, env).catch((err) => this.ctx.log.error({ err, channel }, 'typing publish failed'))
    }
  }

  close(): void {
    for (const a of this.active.values()) clearTimeout(a.timer)
    this.active.clear()
  }
}
