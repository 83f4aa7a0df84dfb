/**
 * How state changes run. A change runs in one transaction (or one statement); its events and disconnects are
 * collected meanwhile and sent only after the commit, in the order they were added.
 *
 * Locks, in the order they are taken: the queue lock (only a change that routes or takes from the queue),
 * then session rows (`FOR UPDATE`: one chat's changes), then operator rows. Writes in different chats never
 * wait for each other; routing runs one at a time across all nodes, so no session is assigned twice, no
 * operator goes over maxChats and the queue drains in arrival order.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Db } from '../store/db.js'
import { channelsOf, type Subject } from './audience.js'
import { ACTION_EVENTS, type EventName, type EventPayloads } from './events.js'
import type { LiveGateway } from './ports.js'

/** The advisory lock key of routing: taking from the queue and filling operators' capacity. */
const QUEUE_LOCK = 7_362_002

export function envelope<E extends EventName>(event: E, data: EventPayloads[E]): Record<string, unknown> {
  const env: Record<string, unknown> = { event, data, id: randomUUID(), at: new Date().toISOString() }
  if (ACTION_EVENTS.includes(event)) env.action = event
  return env
}

export class Outbox {
  private readonly steps: Array<(live: LiveGateway) => Promise<void>> = []

  /** One event (one id) to its audience (audience.ts). */
  publish<E extends EventName>(event: E, data: EventPayloads[E], subject: Subject): void {
    const channels = channelsOf(event, subject)
    if (channels.length === 0) return
    const env = envelope(event, data)
    for (const channel of channels) this.steps.push((live) => live.publish(channel, env))
  }

  disconnect(user: string, code: number, reason: string): void {
    this.steps.push((live) => live.disconnectUser(user, code, reason))
  }

  /** Starts every step at once, in order (brokers keep one caller's order), and waits for all. */
  async flush(live: LiveGateway, log: Logger): Promise<void> {
    const sent = this.steps.map((step) => step(live).catch((err) => log.error({ err }, 'live delivery after commit failed')))
    await Promise.all(sent)
  }
}

export type Mutation<T> = (tx: Db, out: Outbox) => Promise<T>

export class Mutator {
  constructor(
    private readonly db: Db,
    private readonly live: LiveGateway,
    private readonly log: Logger,
  ) {}

  /** `fn` in one transaction; `routes`: it may route or take from the queue, so it holds the queue lock first. */
  async run<T>(fn: Mutation<T>, opts: { routes?: boolean } = {}): Promise<T> {
    const out = new Outbox()
    const result = await this.db.transaction(async (tx) => {
      if (opts.routes) await tx.query('SELECT pg_advisory_xact_lock($1)', [QUEUE_LOCK])
      return fn(tx, out)
    })
    await out.flush(this.live, this.log)
    return result
  }

  /** `fn` makes exactly one statement, atomic on its own: no BEGIN and COMMIT around it. */
  async once<T>(fn: Mutation<T>): Promise<T> {
    const out = new Outbox()
    const result = await fn(this.db, out)
    await out.flush(this.live, this.log)
    return result
  }
}
