/**
 * Publishing committed events, at least once and in per-chat order. The node that committed an event publishes
 * it at once and marks it published in batches; a relay on every node leases and publishes events still
 * unpublished after `outboxRelayAfterMs` (their node died, the broker was down), oldest first. Each publication
 * carries the event id as the broker's idempotency key, so an event published twice (fast path and relay)
 * appears once in a channel's stream.
 *
 * On a node, a chat's events go out one after another in outbox id order, each after the one before it was
 * accepted by the broker; one that fails is retried (every `outboxRelayIntervalMs`) and holds the chat's later
 * events back, so a broker outage never reorders a chat. Other chats do not wait.
 */
import type { Logger } from 'pino'
import type { Db } from '../store/db.js'
import { claimRelay, leaseUnpublished, releaseRelay, markPublished, messagesByIds, prunePublished, type OutboxRow } from '../store/outbox.js'
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
/** Events held in memory waiting for their turn or for the broker; past this, the relay takes over (order is then best effort). */
const MAX_QUEUED = 50_000

/** A chat's events waiting on this node, oldest id first; the head is being published. */
interface ChatQueue {
  events: Array<{ event: StoredEvent; done: () => void }>
  running: boolean
}

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
  private readonly queues = new Map<string, ChatQueue>()
  /** Event ids queued on this node, so a relay pass does not queue one twice. */
  private readonly queued = new Set<string>()
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
    private readonly nodeId: string,
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
    const waitingOn = new Set<ChangeToken>()
    if (keys.length > 0) {
      for (const [other, otherKeys] of this.inProgress) if (otherKeys.some((k) => keys.includes(k))) waitingOn.add(other)
    }
    // Who waited for this change now waits for what it waits for: a later change of the chat never overtakes it.
    for (const f of this.finished) {
      if (!f.waitingOn.delete(token)) continue
      for (const t of waitingOn) f.waitingOn.add(t)
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

  /** Queues events for publishing in their chats' order; resolves when all are out (or left to the relay). */
  publish(events: StoredEvent[]): Promise<void> {
    return Promise.all(events.map((e) => this.enqueue(e))).then(() => {})
  }

  private enqueue(event: StoredEvent): Promise<void> {
    if (this.queued.has(event.eventId)) return Promise.resolve()
    if (this.queued.size >= MAX_QUEUED || this.closed) return Promise.resolve()
    const key = event.chatId ?? `~${event.event}:${event.subject.operatorId ?? ''}`
    let queue = this.queues.get(key)
    if (!queue) this.queues.set(key, (queue = { events: [], running: false }))
    this.queued.add(event.eventId)
    const done = new Promise<void>((resolve) => {
      // In id order: a relayed older event goes before newer ones not yet out.
      let at = queue.events.length
      while (at > (queue.running ? 1 : 0) && queue.events[at - 1]!.event.id > event.id) at--
      queue.events.splice(at, 0, { event, done: resolve })
    })
    if (!queue.running) void this.pump(key, queue)
    return done
  }

  /** Publishes a chat's queue head by head; a failure waits and tries the same head again. */
  private async pump(key: string, queue: ChatQueue): Promise<void> {
    queue.running = true
    while (queue.events.length > 0 && !this.closed) {
      const head = queue.events[0]!
      if (await this.publishOne(head.event)) {
        queue.events.shift()
        this.queued.delete(head.event.eventId)
        this.mark(head.event.id)
        head.done()
      } else {
        await new Promise((r) => setTimeout(r, this.config.outboxRelayIntervalMs).unref())
      }
    }
    queue.running = false
    if (queue.events.length === 0) this.queues.delete(key)
    // Closing: what is left stays unpublished in the outbox, for a relay; nobody waits for it here.
    for (const e of queue.events.splice(0)) {
      this.queued.delete(e.event.eventId)
      e.done()
    }
  }

  /** One event to every channel of its audience; true when the broker took all of them. */
  private async publishOne(e: StoredEvent): Promise<boolean> {
    const channels = channelsOf(e.event, e.subject)
    const env = envelopeOf(e.event, e.data, e.eventId, e.at)
    const results = await Promise.allSettled(channels.map((channel) => this.live.publish(channel, env, { idempotencyKey: e.eventId })))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (!failed) return true
    this.log.warn({ err: failed.reason, event: e.event, id: e.id }, 'publish failed; retrying, later events of its chat wait')
    return false
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

  /**
   * One relay pass. This node's own overdue events that are not queued here any more (left over when its queue
   * was full); then, if this node is the relay of the moment (one at a time), the events of nodes that are gone,
   * oldest first. Now and then prunes old published events.
   */
  async relayOnce(): Promise<number> {
    const overdue = this.config.outboxRelayAfterMs
    let total = await this.relayPass({ own: this.nodeId, olderThanMs: overdue })
    // Held while this node keeps heartbeating; another takes over when it is gone as long as a node counts as gone.
    if (await claimRelay(this.db, this.nodeId, this.config.nodeTtlMs)) {
      total += await this.relayPass({ gone: { nodeTtlMs: this.config.nodeTtlMs }, olderThanMs: overdue })
    }
    if (++this.ticks % 60 === 0) await prunePublished(this.db, this.config.outboxRetentionMs)
    return total
  }

  private async relayPass(which: { own?: string; gone?: { nodeTtlMs: number }; chatId?: string; olderThanMs: number }): Promise<number> {
    let total = 0
    for (;;) {
      const rows = await leaseUnpublished(this.db, { ...which, leaseMs: LEASE_MS, limit: RELAY_BATCH })
      const fresh = rows.filter((r) => !this.queued.has(r.event_id))
      if (fresh.length > 0) {
        this.log.info({ events: fresh.length, ...which }, 'outbox relay publishes overdue events')
        await this.publish(await this.storedOf(fresh))
        await this.flushMarks()
      }
      total += fresh.length
      if (rows.length < RELAY_BATCH || this.closed) break
    }
    return total
  }

  /** Outbox rows as events; a message reference is read again (its current text). */
  private async storedOf(rows: OutboxRow[]): Promise<StoredEvent[]> {
    const messages = await messagesByIds(this.db, rows.filter((r) => r.form === 'message_ref').map((r) => r.data.id as string))
    return rows.map((row) => storedOf(row, messages))
  }

  /** Publishes a chat's unpublished events now, oldest first (a retried request completes what its first try began). */
  async publishChat(chatId: string): Promise<void> {
    await this.relayPass({ chatId, olderThanMs: 0 })
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.relayTimer)
    await this.relaying
    await this.flushMarks()
    await releaseRelay(this.db, this.nodeId).catch(() => {})
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

function storedOf(row: OutboxRow, messages: Map<string, any>): StoredEvent {
  const ref = row.form === 'message_ref' ? messages.get(row.data.id) : undefined
  return {
    id: Number(row.id),
    eventId: row.event_id,
    event: row.event as EventName,
    chatId: row.chat_id,
    data: ref ? messageView(ref) : row.data,
    subject: row.subject,
    at: new Date(row.created_at).toISOString(),
  }
}
