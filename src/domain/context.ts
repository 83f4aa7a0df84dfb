/** What every part of the domain shares: store, gateway, settings, the mutation runner, routing and views. */
import type { Logger } from 'pino'
import type { Db } from '../store/db.js'
import { openSessionOfChat, sessionById, type SessionRow } from '../store/chat.js'
import { ChatKeys } from './chat-keys.js'
import type { DomainConfig } from './config.js'
import { DomainError } from './errors.js'
import type { ChatSession } from './events.js'
import { transition } from './lifecycle.js'
import { Mutator, type Outbox } from './outbox.js'
import type { LiveGateway } from './ports.js'
import { EventPublisher } from './publisher.js'
import { placeInGroup } from './groups.js'
import { Router } from './routing.js'
import { sessionViews } from './views.js'

export class DomainContext {
  readonly mutator: Mutator
  readonly router: Router
  readonly publisher: EventPublisher
  readonly chatKeys: ChatKeys
  /** False only while this node knows of no webhook: its events' statements then skip owing them (webhooks.ts). */
  webhooksOwed = true

  constructor(
    readonly db: Db,
    readonly live: LiveGateway,
    readonly config: DomainConfig,
    readonly log: Logger,
    /** This node's name in the shared presence record. */
    readonly nodeId: string,
  ) {
    this.publisher = new EventPublisher(db, live, config, log, nodeId)
    this.chatKeys = new ChatKeys(db)
    this.mutator = new Mutator(db, this.publisher, config.publishWaitMs, nodeId, () => this.webhooksOwed)
    this.router = new Router(config.nodeTtlMs)
  }

  async sessions(tx: Db, ids: string[]): Promise<ChatSession[]> {
    // A live answer timer (reassignment.ts) is what the payload shows; otherwise the configured display value.
    const { firstAnswerTimeoutSec: first, nextAnswerTimeoutSec: next } = this.config
    return sessionViews(tx, ids, {
      timerFirstAnswerSec: first > 0 ? Math.ceil(first) : this.config.timerFirstAnswerSec,
      timerNextAnswersSec: next > 0 ? Math.ceil(next) : this.config.timerNextAnswersSec,
    })
  }

  async session(tx: Db, id: string): Promise<ChatSession> {
    const [s] = await this.sessions(tx, [id])
    if (!s) throw new DomainError('not_found', `session ${id} not found`)
    return s
  }

  /** Drains the queue (caller holds the queue lock), telling each assignee and the queue audience. */
  async drain(tx: Db, out: Outbox): Promise<void> {
    const assignments = await this.router.drain(tx)
    if (assignments.length === 0) return
    const views = await this.sessions(tx, assignments.map((a) => a.session.id))
    for (const [i, a] of assignments.entries()) {
      out.publish('chatSessionAdded', views[i], { operatorId: a.operatorId })
      out.publish('chatSessionAssigned', views[i], {})
    }
  }

  /**
   * Puts a session in the queue and drains it (caller holds the queue lock). Events: `first` (the session as
   * routing left it) to the queue, `chatSessionAdded` to each assignee, `chatSessionAssigned` for the others
   * that left the queue, and `operatorNotFound` when this session stays queued.
   */
  async route(tx: Db, out: Outbox, session: SessionRow, first: 'chatSessionStarted' | 'chatSessionSwitchedFromBotToOperator'): Promise<void> {
    if (session.status !== 'queued') await transition(tx, session, 'queued')
    await placeInGroup(tx, session.id, this.config.nodeTtlMs)
    const assignments = await this.router.drain(tx)
    const ids = [session.id, ...assignments.map((a) => a.session.id).filter((id) => id !== session.id)]
    const views = new Map((await this.sessions(tx, ids)).map((v) => [v.id, v]))
    const view = views.get(session.id)!
    out.publish(first, view, {})
    for (const a of assignments) {
      out.publish('chatSessionAdded', views.get(a.session.id)!, { operatorId: a.operatorId })
      // The session just started was shown assigned already; the others leave the queue now.
      if (a.session.id !== session.id) out.publish('chatSessionAssigned', views.get(a.session.id)!, {})
    }
    if (view.status === 'queued') {
      const subject = { session: { status: 'queued' as const, operator_id: null, client_id: view.clientId!, group_id: view.groupId ?? null } }
      out.publish('operatorNotFound', { botStatus: 'HELP', chatId: view.chatId, operatorType: 'operator', sessionId: view.id, status: 'queued' }, subject)
    }
  }
}

/** The session, locked for the rest of the transaction; not_found otherwise. */
export async function lockedSession(tx: Db, id: string): Promise<SessionRow> {
  const row = await sessionById(tx, id, true)
  if (!row) throw new DomainError('not_found', `session ${id} not found`)
  return row
}

export async function sessionRow(tx: Db, id: string): Promise<SessionRow> {
  const row = await sessionById(tx, id)
  if (!row) throw new DomainError('not_found', `session ${id} not found`)
  return row
}

export { openSessionOfChat }
