/**
 * Publishing committed events, at least once and in per-chat order. The node that committed an event
 * publishes it at once (no added latency) and marks it published in batches; a relay on every node leases and
 * publishes events still unpublished after `outboxRelayAfterMs` (their node died, the broker was down),
 * oldest first. Each publication carries the event id as the broker's idempotency key, so an event published
 * twice (fast path and relay) appears once in a channel's stream.
 */
import type { Logger } from 'pino'
import type { Db } from '../store/db.js'
import { leaseUnpublished, markPublished, prunePublished, type OutboxRow } from '../store/outbox.js'
import { channelsOf } from './audience.js'
import type { DomainConfig } from './config.js'
import type { EventName } from './events.js'
import { envelopeOf, type Outbox, type StoredEvent } from './outbox.js'
import type { LiveGateway } from './ports.js'
import { messageView } from './views.js'

/** How long a relay keeps events it leased before another relay may take them. */
const LEASE_MS = 30_000
const RELAY_BATCH = 500
const MARK_DELAY_MS = 20

/** A change in progress on this node, from its first statement to the end of its transaction. */
export type ChangeToken = symbol

/** A finished change's work, held until the changes of its keys that were in progress when it finished have finished too. */
interface Finished {
  out?: Outbox
  waitingOn: Set<ChangeToken>
  done: () => void
}

/** Changes that route share this key: the queue's events keep the routing order. */
export const QUEUE_KEY = 'queue'

export class EventPublisher {
  /**
   * Commit order per chat, kept on this node. Two changes of one chat commit in lock order, but their answers
   * may reach this process in either order; the one that committed first was still in progress when the other
   * finished. So a finished change's events wait for the changes of the same chat (key) in progress at that
   * moment (about one transaction's time under load, nothing when idle), and those released together go out by
   * outbox id. Changes of other chats never wait for each other.
   */
  private readonly inProgress = new Map<ChangeToken, readonly string[]>()
  private finished: Finished[] = []
  private readonly toMark: number[] = []
  private markTimer?: NodeJS.Timeout
  private relayTimer?: NodeJS.Timeout
  private relaying?: Promise<void>
  private ticks = 0
  private closed = false

  constructor(
    private readonly db: Db,
    private readonly live: LiveGateway,
    private readonly config: DomainConfig,
    private readonly log: Logger,
  ) {}

  /** `keys`: the chat the change is about, QUEUE_KEY when it routes; none for changes of no chat. */
  begin(keys: readonly string[]): ChangeToken {
    const token = Symbol('change')
    this.inProgress.set(token, keys)
    return token
  }

  /** The change ended (committed with `out`, or failed without): its work runs once commit order allows. Never throws. */
  end(token: ChangeToken, out?: Outbox): Promise<void> {
    const keys = this.inProgress.get(token) ?? []
    this.inProgress.delete(token)
    for (const f of this.finished) f.waitingOn.delete(token)
    const waitingOn = new Set<ChangeToken>()
    if (keys.length > 0) {
      for (const [other, otherKeys] of this.inProgress) if (otherKeys.some((k) => keys.includes(k))) waitingOn.add(other)
    }
    const released = new Promise<void>((resolve) => {
      this.finished.push({ out, waitingOn, done: resolve })
    })
    const ready = this.finished.filter((f) => f.waitingOn.size === 0)
    if (ready.length > 0) {
      this.finished = this.finished.filter((f) => f.waitingOn.size > 0)
      const events = ready.flatMap((f) => f.out?.stored ?? []).sort((a, b) => a.id - b.id)
      // Events first: a blocked operator's consoles hear why before they are cut.
      const work = (async () => {
        if (events.length > 0) await this.publish(events)
        await Promise.all(ready.map((f) => (f.out ? this.disconnect(f.out) : undefined)))
      })()
      void work.then(() => ready.forEach((f) => f.done()))
    }
    return released
  }

  private async disconnect(out: Outbox): Promise<void> {
    await Promise.all(
      out.disconnects.map((d) =>
        this.live.disconnectUser(d.user, d.code, d.reason).catch((err) => this.log.error({ err }, 'disconnect after commit failed')),
      ),
    )
  }

  /** Every event to every channel of its audience, started in order; those that fully succeeded are marked. */
  async publish(events: StoredEvent[]): Promise<void> {
    const sent = events.map(async (e) => {
      const channels = channelsOf(e.event, e.subject)
      const env = envelopeOf(e.event, e.data, e.eventId, e.at)
      const results = await Promise.allSettled(channels.map((channel) => this.live.publish(channel, env, { idempotencyKey: e.eventId })))
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) this.log.warn({ err: failed.reason, event: e.event, id: e.id }, 'publish failed; the outbox relay will retry')
      else this.mark(e.id)
    })
    await Promise.all(sent)
  }

  /** Starts the relay on this node. */
  start(): void {
    const tick = () => {
      this.relaying = this.relayOnce()
        .then(() => {}, (err) => this.log.warn({ err }, 'outbox relay failed'))
        .finally(() => {
          if (!this.closed) this.relayTimer = setTimeout(tick, this.config.outboxRelayIntervalMs).unref()
        })
    }
    this.relayTimer = setTimeout(tick, this.config.outboxRelayIntervalMs).unref()
  }

  /** One relay pass: leased batches of overdue events, oldest first; now and then prunes old published ones. */
  async relayOnce(opts: { chatId?: string; olderThanMs?: number } = {}): Promise<number> {
    let total = 0
    for (;;) {
      const rows = await leaseUnpublished(this.db, {
        olderThanMs: opts.olderThanMs ?? this.config.outboxRelayAfterMs,
        leaseMs: LEASE_MS,
        limit: RELAY_BATCH,
        chatId: opts.chatId,
      })
      if (rows.length > 0) {
        this.log.info({ events: rows.length, chatId: opts.chatId }, 'outbox relay publishes overdue events')
        await this.publish(rows.map(storedOf))
        await this.flushMarks()
      }
      total += rows.length
      if (rows.length < RELAY_BATCH || this.closed) break
    }
    if (!opts.chatId && ++this.ticks % 60 === 0) await prunePublished(this.db, this.config.outboxRetentionMs)
    return total
  }

  /** Publishes a chat's unpublished events now, oldest first (a retried request completes what its first try began). */
  async publishChat(chatId: string): Promise<void> {
    await this.relayOnce({ chatId, olderThanMs: 0 })
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.relayTimer)
    await this.relaying
    await this.flushMarks()
  }

  private mark(id: number): void {
    this.toMark.push(id)
    this.markTimer ??= setTimeout(() => void this.flushMarks(), MARK_DELAY_MS)
  }

  /** One statement for every event published since the last flush; a failure only means the relay repeats them. */
  private async flushMarks(): Promise<void> {
    clearTimeout(this.markTimer)
    this.markTimer = undefined
    const ids = this.toMark.splice(0)
    await markPublished(this.db, ids).catch((err) => this.log.warn({ err, events: ids.length }, 'marking events published failed'))
  }
}

function storedOf(row: OutboxRow): StoredEvent {
  return {
    id: Number(row.id),
    eventId: row.event_id,
    event: row.event as EventName,
    chatId: row.chat_id,
    data: row.form === 'message_row' ? messageView(row.data) : row.data,
    subject: row.subject,
    at: new Date(row.created_at).toISOString(),
  }
}
