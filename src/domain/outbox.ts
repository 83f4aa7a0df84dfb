/**
 * Every state change runs in one transaction under the domain's advisory lock; its events and its
 * disconnects are collected meanwhile and sent only after the commit, in the order they were added.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Db } from '../store/db.js'
import { ACTION_EVENTS, type EventName, type EventPayloads } from './events.js'
import type { LiveGateway } from './ports.js'

/** The advisory lock key of every domain mutation: routing, assignment and session state never race, on any node. */
const DOMAIN_LOCK = 7_362_002

export function envelope<E extends EventName>(event: E, data: EventPayloads[E]): Record<string, unknown> {
  const env: Record<string, unknown> = { event, data, id: randomUUID(), at: new Date().toISOString() }
  if (ACTION_EVENTS.includes(event)) env.action = event
  return env
}

export class Outbox {
  private readonly steps: Array<(live: LiveGateway) => Promise<void>> = []

  /** One event (one id) to each of `channels`. */
  publish<E extends EventName>(channels: string | string[], event: E, data: EventPayloads[E]): void {
    const env = envelope(event, data)
    for (const channel of Array.isArray(channels) ? channels : [channels]) {
      this.steps.push((live) => live.publish(channel, env))
    }
  }

  disconnect(user: string, code: number, reason: string): void {
    this.steps.push((live) => live.disconnectUser(user, code, reason))
  }

  async flush(live: LiveGateway, log: Logger): Promise<void> {
    for (const step of this.steps) {
      try {
        await step(live)
      } catch (err) {
        log.error({ err }, 'live delivery after commit failed')
      }
    }
  }
}

export type Mutation<T> = (tx: Db, out: Outbox) => Promise<T>

export class Mutator {
  /** Flushes run one after another in commit order, so one node's events keep the order they happened in. */
  private flushing: Promise<void> = Promise.resolve()

  constructor(
    private readonly db: Db,
    private readonly live: LiveGateway,
    private readonly log: Logger,
  ) {}

  async run<T>(fn: Mutation<T>): Promise<T> {
    const out = new Outbox()
    const result = await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [DOMAIN_LOCK])
      return fn(tx, out)
    })
    const flushed = this.flushing.then(() => out.flush(this.live, this.log))
    this.flushing = flushed
    await flushed
    return result
  }
}
