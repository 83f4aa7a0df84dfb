/** What every part of the domain shares: store, gateway, settings, the mutation runner, routing and views. */
import type { Logger } from 'pino'
import type { Db } from '../store/db.js'
import { QUEUE_CHANNEL, clientChannel, operatorChannel } from './channels.js'
import type { DomainConfig } from './config.js'
import { DomainError } from './errors.js'
import type { ChatSession } from './events.js'
import { Mutator, type Outbox } from './outbox.js'
import type { LiveGateway } from './ports.js'
import { Router } from './routing.js'
import { sessionViews, type SessionRow } from './views.js'

export class DomainContext {
  readonly mutator: Mutator
  readonly router: Router

  constructor(
    readonly db: Db,
    readonly live: LiveGateway,
    readonly config: DomainConfig,
    readonly log: Logger,
  ) {
    this.mutator = new Mutator(db, live, log)
    this.router = new Router(live)
  }

  async sessions(tx: Db, ids: string[]): Promise<ChatSession[]> {
    return sessionViews(tx, ids, { timerFirstAnswerSec: this.config.timerFirstAnswerSec, timerNextAnswersSec: this.config.timerNextAnswersSec })
  }

  async session(tx: Db, id: string): Promise<ChatSession> {
    const [s] = await this.sessions(tx, [id])
    if (!s) throw new DomainError('not_found', `session ${id} not found`)
    return s
  }

  /** Drains the queue, tells each assignee (`chatSessionAdded`) and the queue audience (`chatSessionAssigned`). */
  async drain(tx: Db, out: Outbox, online?: ReadonlySet<string>): Promise<void> {
    const assignments = await this.router.drain(tx, online)
    if (assignments.length === 0) return
    const views = await this.sessions(tx, assignments.map((a) => a.sessionId))
    for (const [i, a] of assignments.entries()) {
      out.publish(operatorChannel(a.operatorId), 'chatSessionAdded', views[i])
      out.publish(QUEUE_CHANNEL, 'chatSessionAssigned', views[i])
    }
  }
}

/** The operators' side of a session's audience: its holder, the queue while queued, nobody while the bot has it. */
export function audience(s: Pick<SessionRow, 'status' | 'operator_id'>): string[] {
  if (s.status === 'assigned' && s.operator_id) return [operatorChannel(s.operator_id)]
  if (s.status === 'queued') return [QUEUE_CHANNEL]
  return []
}

/** The operators' audience plus the client's own channel. */
export function everyone(s: Pick<SessionRow, 'status' | 'operator_id' | 'client_id'>): string[] {
  return [...audience(s), clientChannel(s.client_id)]
}

export async function sessionRow(tx: Db, id: string): Promise<SessionRow> {
  const [row] = await tx.query<SessionRow>(`SELECT * FROM sessions WHERE id = $1`, [id])
  if (!row) throw new DomainError('not_found', `session ${id} not found`)
  return row
}

export async function openSessionOfChat(tx: Db, chatId: string): Promise<SessionRow | undefined> {
  const [row] = await tx.query<SessionRow>(`SELECT * FROM sessions WHERE chat_id = $1 AND status <> 'closed'`, [chatId])
  return row
}
