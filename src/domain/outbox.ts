/**
 * How state changes run. A change runs in one transaction (or one statement) that also writes its events to
 * the outbox table (store/outbox.ts); after the commit the node publishes them at once (publisher.ts), and a
 * relay on every node publishes whatever a crash or a broker outage left unpublished.
 *
 * Locks, in the order they are taken: the queue lock (only a change that routes or takes from the queue),
 * then session rows (`FOR UPDATE`: one chat's changes), then operator rows. Client and operator rows are locked
 * `FOR NO KEY UPDATE`: a session row updated twice in one transaction checks its foreign keys again (PostgreSQL
 * does for a row version of its own), and that check's `FOR KEY SHARE` must not wait for a lock that waits for
 * this session (a deadlock between a transfer and the client coming online). Writes in different chats never
 * wait for each other; routing runs one at a time across all nodes, so no session is assigned twice, no
 * operator goes over maxChats and the queue drains in arrival order.
 */
import { randomUUID } from 'node:crypto'
import type { SessionRow } from '../store/chat.js'
import type { Db } from '../store/db.js'
import { lockQueue } from '../store/operators.js'
import { insertEvents } from '../store/outbox.js'
import { channelsOf, type Subject } from './audience.js'
import { ACTION_EVENTS, type EventName, type EventPayloads } from './events.js'
import { QUEUE_KEY, type ChangeToken, type EventPublisher } from './publisher.js'
import { iso } from './views.js'

/** An envelope with a fresh id and time, for events that are not kept (typing). */
export function envelope<E extends EventName>(event: E, data: EventPayloads[E]): Record<string, unknown> {
  return envelopeOf(event, data, randomUUID(), new Date().toISOString())
}

export function envelopeOf(event: string, data: unknown, id: string, at: string): Record<string, unknown> {
  const env: Record<string, unknown> = { event, data, id, at }
  if ((ACTION_EVENTS as readonly string[]).includes(event)) env.action = event
  return env
}

/** An event as written to the outbox: what happened, and who it concerns (its audience is decided at publish). */
export interface OutboxEvent {
  eventId: string
  event: EventName
  chatId: string | null
  data: unknown
  subject: Subject
}

/** An event in the outbox table: `id` orders it, `at` is its envelope's time. */
export interface StoredEvent extends OutboxEvent {
  id: number
  at: string
}

export class Outbox {
  /** Collected during the transaction; written to the outbox table before the commit. */
  readonly pending: OutboxEvent[] = []
  /** Written by the change's own statement (the one-statement path). */
  readonly stored: StoredEvent[] = []
  /** Disconnects run after the commit and are not kept: repeating one later could cut a newer login. */
  readonly disconnects: Array<{ user: string; code: number; reason: string }> = []

  /** One event (one id) to its audience (audience.ts); nothing when it has none. */
  publish<E extends EventName>(event: E, data: EventPayloads[E], given: Subject): void {
    const subject = withGroupOf(given, data)
    if (channelsOf(event, subject).length === 0) return
    this.pending.push({ eventId: randomUUID(), event, chatId: chatOf(data), data, subject: snapshot(subject) })
  }

  /** An event the change wrote to the outbox itself, in the same statement. */
  written(event: StoredEvent): void {
    this.stored.push(event)
  }

  disconnect(user: string, code: number, reason: string): void {
    this.disconnects.push({ user, code, reason })
  }

  /** Forgets what a rolled-back attempt collected. */
  clear(): void {
    this.pending.length = 0
    this.stored.length = 0
    this.disconnects.length = 0
  }
}

/** Attempts of a transaction PostgreSQL aborted to break a deadlock (40P01) or a serialization conflict (40001). */
const TRANSACTION_ATTEMPTS = 3
const RETRYABLE_CODES = new Set(['40P01', '40001'])
const retryable = (err: unknown) => RETRYABLE_CODES.has(String((err as { code?: unknown } | null)?.code))

export type Mutation<T> = (tx: Db, out: Outbox) => Promise<T>

export interface ChangeOptions {
  routes?: boolean
  chat?: string
}

export class Mutator {
  constructor(
    private readonly db: Db,
    private readonly publisher: EventPublisher,
    /** How long an answer waits for its events to reach the broker. */
    private readonly publishWaitMs: number,
    /** Written on each event: this node publishes it, or a relay once this node is gone. */
    private readonly nodeId: string,
    /** Whether events are owed to webhooks in their statement (false only while there is none: webhooks.ts). */
    private readonly oweWebhooks: () => boolean = () => true,
  ) {}

  /**
   * `fn` in one transaction. `routes`: it may route or take from the queue, so it holds the queue lock first.
   * `chat`: the chat it changes, so that its events keep the chat's commit order. A transaction the database
   * aborted to break a deadlock or a serialization conflict changed nothing: `fn` runs again (it does database
   * work only), up to TRANSACTION_ATTEMPTS times, rather than the request failing.
   */
  async run<T>(fn: Mutation<T>, opts: ChangeOptions = {}): Promise<T> {
    return this.track(opts, async (out) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.db.transaction(async (tx) => {
            if (opts.routes) await lockQueue(tx)
            const result = await fn(tx, out)
            const rows = await insertEvents(tx, out.pending, this.nodeId, this.oweWebhooks())
            rows.forEach((row, i) => out.written({ ...out.pending[i], id: Number(row.id), at: iso(row.created_at)! }))
            return result
          })
        } catch (err) {
          if (attempt >= TRANSACTION_ATTEMPTS || !retryable(err)) throw err
          out.clear()
        }
      }
    })
  }

  /** `fn` makes exactly one statement, atomic on its own, that writes its events itself (`out.written`). */
  async once<T>(fn: Mutation<T>, opts: { chat?: string } = {}): Promise<T> {
    return this.track(opts, (out) => fn(this.db, out))
  }

  /**
   * Like `once`, for a statement that may wait before it is sent (a batch, store/batch.ts): `fn` calls `sending()`
   * right before it is. The change counts as in progress for its chat's order from then on: one still waiting to
   * be sent cannot have committed, so finished changes of its chat need not wait for it.
   */
  async onceSent<T>(fn: (db: Db, out: Outbox, sending: () => void) => Promise<T>, opts: { chat?: string } = {}): Promise<T> {
    return this.track(opts, (out, sending) => fn(this.db, out, sending), true)
  }

  /** Runs a change and then its events, in this node's commit order (publisher.ts). */
  private async track<T>(opts: ChangeOptions, change: (out: Outbox, begin: () => void) => Promise<T>, beginLater = false): Promise<T> {
    const keys: string[] = []
    if (opts.chat) keys.push(opts.chat)
    if (opts.routes) keys.push(QUEUE_KEY)
    let token: ChangeToken | undefined
    const begin = () => void (token ??= this.publisher.begin(keys))
    if (!beginLater) begin()
    const out = new Outbox()
    let result: T
    try {
      result = await change(out, begin)
    } catch (err) {
      if (token) void this.publisher.end(token)
      throw err
    }
    begin()
    // The answer waits for the events to be out, but not for a broker that is away: they stay queued (publisher.ts).
    await atMost(this.publisher.end(token!, out), this.publishWaitMs)
    return result
  }
}

/** Waits for `p`, or `ms` at most. */
export function atMost(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, ms)))
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** Events of a chat carry its id: the chat's events publish in order. */
function chatOf(data: unknown): string | null {
  const chatId = (data as { chatId?: unknown } | null)?.chatId
  return typeof chatId === 'string' ? chatId : null
}

/**
 * A session payload of a grouped session names its group: its queue events go to the group's queue when the caller
 * gave no session (or one without `group_id`); a session row given as the subject decides by its own `group_id`.
 */
function withGroupOf(subject: Subject, data: unknown): Subject {
  const groupId = (data as { groupId?: unknown } | null)?.groupId
  if (typeof groupId !== 'string' || (subject.session && 'group_id' in subject.session)) return subject
  // a ChatSession payload (events.md): its status, holder and client
  const d = data as { status: SessionRow['status']; operatorId?: string | null; clientId: string }
  const session = subject.session ?? { status: d.status, operator_id: d.operatorId == null ? null : String(d.operatorId), client_id: d.clientId }
  return { ...subject, session: { ...session, group_id: groupId } }
}

/** What audience.ts needs of a subject, and nothing more (it is stored with the event). */
function snapshot(subject: Subject): Subject {
  const out: Subject = {}
  if (subject.session) out.session = { status: subject.session.status, operator_id: subject.session.operator_id, client_id: subject.session.client_id }
  if (subject.session?.group_id) out.session!.group_id = subject.session.group_id
  if (subject.operatorId) out.operatorId = subject.operatorId
  if (subject.by) out.by = subject.by
  if (subject.internal) out.internal = true
  return out
}
