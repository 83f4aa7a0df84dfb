/**
 * Publishing committed events, at least once and in per-chat order. The node that committed an event publishes
 * it at once and writes nothing more for it (its heartbeated watermark says it is out). A chat's events go out one after
 * another in outbox id order, each once the broker took the one before; one that fails is retried (every
 * `outboxRelayIntervalMs`) and holds its chat's later events back, so a broker outage never reorders a chat.
 * Other chats do not wait. Every event carries its id as the broker's idempotency key, so publishing it twice
 * leaves it once in a channel's stream.
 *
 * A node heartbeats the moment before which all its events are out (`unpublishedSince`, its watermark). When a
 * node is gone (no heartbeat for `nodeTtlMs`), the relay of the moment (one node at a time) publishes its events
 * from that moment on, oldest first, then forgets the node. Some of them were out already: the broker drops the
 * repeats by idempotency key within its window (5 min). So that this stays within the window, an event published
 * and not passed by the stored watermark within `nodeTtlMs` + CLOCK_MARGIN_MS (a chat held back keeps the
 * watermark behind) is marked published in the outbox, and relays skip it (migration 016).
 */
import type { Logger } from 'pino'
import type { Db } from '../store/db.js'
import {
  claimRelay, markPublished, messagesByIds, oldestUnpublishedSince, prunePublished, releaseRelay, unpublishedAfter, type OutboxRow,
} from '../store/outbox.js'
import { goneNodes, removeNode } from '../store/operators.js'
import { channelsOf } from './audience.js'
import type { DomainConfig } from './config.js'
import type { EventName } from './events.js'
import { envelopeOf, type Outbox, type StoredEvent } from './outbox.js'
import type { LiveGateway } from './ports.js'
import { Periodic } from './periodic.js'
import { messageView } from './views.js'

const RELAY_BATCH = 500
/** Events held in memory waiting for their turn or for the broker; past this, the relay takes over (order is then best effort). */
const MAX_QUEUED = 50_000
/** How far this node's clock may be from the database's, for the heartbeated `unpublishedSince`. */
const CLOCK_MARGIN_MS = 2_000

/** A chat's events waiting on this node, oldest id first; the head is being published. */
interface ChatQueue {
  events: Array<{ event: StoredEvent; done: () => void }>
  running: boolean
}

/** A change in progress on this node, from its first statement to the end of its transaction. */
export type ChangeToken = symbol

/** A finished change's work, held until the changes of its keys that were in progress when it finished have finished too. */
interface Finished {
  token: ChangeToken
  keys: readonly string[]
  out?: Outbox
  /** Changes of the same keys that were in progress, or finished but not yet released, when this one finished. */
  waitingOn: Set<ChangeToken>
  done: () => void
}

/** Changes that route share this key: the queue's events keep the routing order. */
export const QUEUE_KEY = 'queue'

export class EventPublisher {
  /**
   * Commit order per chat, kept on this node. Two changes of one chat commit in lock order, but their answers
   * may reach this process in either order; the one that committed first was still in progress when the other
   * finished. So a finished change's events wait for the changes of the same keys (chat, queue) in progress or
   * held back at that moment (about one transaction's time under load, nothing when idle); those released
   * together go out by outbox id. Changes of other chats never wait for each other.
   */
  private readonly inProgress = new Map<ChangeToken, { keys: readonly string[]; startedAt: number }>()
  /** The same changes by key: a finished change finds the ones it waits for without a pass over all of them. */
  private readonly inProgressByKey = new Map<string, Set<ChangeToken>>()
  /** The oldest event this node dropped from a full queue: its own relay publishes from there. */
  private ownFloor?: Date
  private finished: Finished[] = []
  private readonly queues = new Map<string, ChatQueue>()
  /**
   * Event ids queued on this node, with the promise that resolves once each is out: a relay pass does not queue one
   * twice, and a change whose event a relay queued first still waits for it (its disconnects go after it).
   */
  private readonly queued = new Map<string, Promise<void>>()
  /**
   * Events this node published that its stored watermark may not have passed yet, in publish order from `recentHead`:
   * outbox id, commit time and publish time (ms), in three number arrays, so that the thousands held for nodeTtlMs
   * are no objects for the garbage collector to visit.
   */
  private recent = { ids: [] as number[], at: [] as number[], publishedAt: [] as number[] }
  private recentHead = 0
  /** The watermark last stored by a heartbeat (ms): every event of this node created before it is out. */
  private stored = -Infinity
  private readonly relay: Periodic
  private ticks = 0
  private closed = false

  constructor(
    private readonly db: Db,
    private readonly live: LiveGateway,
    private readonly config: DomainConfig,
    private readonly log: Logger,
    private readonly nodeId: string,
  ) {
    this.relay = new Periodic(() => this.relayOnce(), config.outboxRelayIntervalMs, (err) => log.warn({ err }, 'outbox relay failed'))
  }

  /** `keys`: the chat the change is about, QUEUE_KEY when it routes; none for changes of no chat. */
  begin(keys: readonly string[]): ChangeToken {
    const token = Symbol('change')
    this.inProgress.set(token, { keys, startedAt: Date.now() })
    for (const key of keys) {
      let changes = this.inProgressByKey.get(key)
      if (!changes) this.inProgressByKey.set(key, (changes = new Set()))
      changes.add(token)
    }
    return token
  }

  /** The change ended (committed with `out`, or failed without): its work runs once commit order allows. Never throws. */
  end(token: ChangeToken, out?: Outbox): Promise<void> {
    const keys = this.inProgress.get(token)?.keys ?? []
    this.inProgress.delete(token)
    for (const key of keys) {
      const changes = this.inProgressByKey.get(key)
      changes?.delete(token)
      if (changes?.size === 0) this.inProgressByKey.delete(key)
    }
    // A routing change may assign any chat's session, so every change also waits for the routing ones.
    const related = (other: readonly string[]) => other.includes(QUEUE_KEY) || other.some((k) => keys.includes(k))
    const waitingOn = new Set<ChangeToken>()
    if (keys.length > 0) {
      for (const key of keys.includes(QUEUE_KEY) ? keys : [QUEUE_KEY, ...keys]) for (const other of this.inProgressByKey.get(key) ?? []) waitingOn.add(other)
      for (const f of this.finished) if (related(f.keys)) waitingOn.add(f.token)
    }
    const released = new Promise<void>((resolve) => {
      this.finished.push({ token, keys, out, waitingOn, done: resolve })
    })
    // Held back: whatever waits, directly or through other held changes, on a change still in progress. The rest
    // have all they wait for finished: they go out together, by outbox id.
    const held = new Set<ChangeToken>()
    for (let grew = true; grew; ) {
      grew = false
      for (const f of this.finished) {
        if (held.has(f.token)) continue
        for (const t of f.waitingOn) {
          if (this.inProgress.has(t) || held.has(t)) {
            held.add(f.token)
            grew = true
            break
          }
        }
      }
    }
    const ready = this.finished.filter((f) => !held.has(f.token))
    if (ready.length > 0) {
      this.finished = this.finished.filter((f) => held.has(f.token))
      const gone = new Set(ready.map((f) => f.token))
      for (const f of this.finished) for (const t of gone) f.waitingOn.delete(t)
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
    const pending = this.queued.get(event.eventId)
    if (pending) return pending
    if (this.closed) return Promise.resolve()
    if (this.queued.size >= MAX_QUEUED) {
      // Left in the outbox: this node's relay takes it from there once the queue has room (order is then best effort).
      const at = new Date(event.at)
      if (!this.ownFloor || at < this.ownFloor) this.ownFloor = at
      return Promise.resolve()
    }
    const key = event.chatId ?? `~${event.event}:${event.subject.operatorId ?? ''}`
    let queue = this.queues.get(key)
    if (!queue) this.queues.set(key, (queue = { events: [], running: false }))
    const done = new Promise<void>((resolve) => {
      // In id order: a relayed older event goes before newer ones not yet out.
      let at = queue.events.length
      while (at > (queue.running ? 1 : 0) && queue.events[at - 1]!.event.id > event.id) at--
      queue.events.splice(at, 0, { event, done: resolve })
    })
    this.queued.set(event.eventId, done)
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
        this.recent.ids.push(head.event.id)
        this.recent.at.push(Date.parse(head.event.at))
        this.recent.publishedAt.push(Date.now())
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
    // Keyed by outbox id: the same for every node that may publish the event, and a key a broker can keep as a number.
    const idempotencyKey = String(e.id)
    const results = await Promise.allSettled(channels.map((channel) => this.live.publish(channel, env, { idempotencyKey })))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (!failed) return true
    this.log.warn({ err: failed.reason, event: e.event, id: e.id }, 'publish failed; retrying, later events of its chat wait')
    return false
  }

  /** Starts the relay on this node. */
  start(): void {
    this.relay.start()
  }

  /**
   * Every event this node wrote before this moment is published (heartbeated, so that a relay of this node, once
   * it is gone, starts there): the oldest of its queued events and of its changes in progress, less a margin for
   * the distance between this clock and the database's.
   */
  unpublishedSince(): Date {
    let oldest = Date.now()
    for (const change of this.inProgress.values()) oldest = Math.min(oldest, change.startedAt)
    for (const f of this.finished) for (const e of f.out?.stored ?? []) oldest = Math.min(oldest, Date.parse(e.at))
    for (const queue of this.queues.values()) if (queue.events[0]) oldest = Math.min(oldest, Date.parse(queue.events[0].event.at))
    if (this.ownFloor) oldest = Math.min(oldest, this.ownFloor.getTime())
    return new Date(oldest - CLOCK_MARGIN_MS)
  }

  /** A heartbeat stored `watermark` (a value of `unpublishedSince()`). */
  watermarkStored(watermark: Date): void {
    this.stored = Math.max(this.stored, watermark.getTime())
  }

  /**
   * One relay pass: this node's own events dropped from a full queue, once there is room; then, if this node is
   * the relay of the moment (one at a time), the unpublished events of nodes that are gone, oldest first, after
   * which those nodes leave the record. Now and then prunes old published events.
   */
  async relayOnce(): Promise<number> {
    let total = 0
    if (this.ownFloor && this.queued.size < MAX_QUEUED / 2) {
      const floor = this.ownFloor
      this.ownFloor = undefined
      total += await this.relayPass({ nodeId: this.nodeId, since: floor })
    }
    // Held while this node keeps heartbeating; another takes over when it is gone for as long as a node counts as gone.
    if (await claimRelay(this.db, this.nodeId, this.config.nodeTtlMs)) {
      for (const gone of await goneNodes(this.db, this.config.nodeTtlMs)) {
        if (gone.node_id === this.nodeId) continue
        total += await this.relayPass({ nodeId: gone.node_id, since: new Date(gone.unpublished_since) })
        if (!this.closed) await removeNode(this.db, gone.node_id)
      }
    }
    await this.markLate()
    if (++this.ticks % 60 === 0) await prunePublished(this.db, this.config.outboxRetentionMs)
    return total
  }

  private async relayPass(which: { nodeId?: string; chatId?: string; since: Date }): Promise<number> {
    let total = 0
    for (let after = 0; ; ) {
      const rows = await unpublishedAfter(this.db, { ...which, after, limit: RELAY_BATCH })
      if (rows.length > 0) after = Number(rows[rows.length - 1]!.id)
      const fresh = rows.filter((r) => !this.queued.has(r.event_id))
      if (fresh.length > 0) {
        this.log.info({ events: fresh.length, nodeId: which.nodeId, chatId: which.chatId }, 'outbox relay publishes events that may be unpublished')
        await this.publish(await this.storedOf(fresh))
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
    await this.relayPass({ chatId, since: await oldestUnpublishedSince(this.db) })
  }

  /** Stops; true when every event this node wrote is out (else a relay takes them once this node counts as gone). */
  async close(): Promise<boolean> {
    const idle = this.queued.size === 0 && this.finished.length === 0 && this.inProgress.size === 0 && !this.ownFloor
    this.closed = true
    await this.relay.stop()
    await this.markLate(true)
    await releaseRelay(this.db, this.nodeId).catch(() => {})
    return idle
  }

  /**
   * Forgets the events published more than `nodeTtlMs` + CLOCK_MARGIN_MS ago (all of them when `all`), marking those
   * the stored watermark has not passed. Nothing to write while the watermark keeps up, the usual case. A failure
   * only means a relay may publish them again.
   */
  private async markLate(all = false): Promise<void> {
    const before = Date.now() - this.config.nodeTtlMs - CLOCK_MARGIN_MS
    const late: number[] = []
    const { ids, at, publishedAt } = this.recent
    for (; this.recentHead < ids.length; this.recentHead++) {
      if (!all && publishedAt[this.recentHead]! > before) break
      if (at[this.recentHead]! >= this.stored) late.push(ids[this.recentHead]!)
    }
    if (this.recentHead > 1024 && this.recentHead * 2 > ids.length) {
      const from = this.recentHead
      this.recent = { ids: ids.slice(from), at: at.slice(from), publishedAt: publishedAt.slice(from) }
      this.recentHead = 0
    }
    if (late.length > 0) await markPublished(this.db, late).catch((err) => this.log.warn({ err, events: late.length }, 'marking events published failed'))
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
