/**
 * Transfers: the holder, a supervisor or the API key hands a session to an operator, to a group or back to the queue,
 * with an optional note for operators. A transfer to an operator needs one who can take it now (`online`, not
 * blocked, under maxChats): otherwise 409 `target_unavailable`. To a group or the queue it is ordinary routing
 * (reassignment.ts `reroute`) that avoids the operator it came from. Runs under the queue lock.
 */
import type { Db } from '../store/db.js'
import { sessionById } from '../store/chat.js'
import { groupExists, insertTransfer, lockedOperator, setSessionGroup, transfersOf } from '../store/transfers.js'
import { roleOf } from '../store/availability.js'
import { operatorIdentity } from '../store/operators.js'
import type { SessionRow } from '../store/chat.js'
import { lockedSession, type DomainContext } from './context.js'
import { placeInGroup } from './groups.js'
import { DomainError } from './errors.js'
import type { ChatSession, SessionTransfer } from './events.js'
import { transition } from './lifecycle.js'
import type { Outbox } from './outbox.js'
import { reroute } from './reassignment.js'
import { assign } from './routing.js'

/** Who asks for the transfer: the API key, or an operator's token (the holder or a supervisor). */
export type Transferrer = { kind: 'apiKey' } | { kind: 'operator'; operatorId: string }

export interface TransferInput {
  operatorId?: string
  groupId?: string
  queue?: true
  /** For operators only; at most 1000 characters. */
  note?: string
}

export const MAX_TRANSFER_NOTE = 1000

export class Transfers {
  constructor(private readonly ctx: DomainContext) {}

  /** Moves the session; answers it as it is after the move, with `transfer`. */
  async transfer(who: Transferrer, sessionId: string, input: TransferInput): Promise<ChatSession & { transfer: SessionTransfer }> {
    const targets = [input.operatorId !== undefined, input.groupId !== undefined, input.queue === true].filter(Boolean).length
    if (targets !== 1) throw new DomainError('bad_request', 'give exactly one target: operatorId, groupId or queue: true', 'operatorId')
    if (input.note !== undefined && input.note.length > MAX_TRANSFER_NOTE) {
      throw new DomainError('bad_request', `note is longer than ${MAX_TRANSFER_NOTE} characters`, 'note')
    }
    const note = input.note?.trim() || null
    const chat = await this.ctx.chatKeys.session(sessionId)
    return this.ctx.mutator.run(
      async (tx, out) => {
        // load
        const session = await lockedSession(tx, sessionId)
        const by = await this.transferrer(tx, who, session.status === 'assigned' ? session.operator_id : null)
        // check
        if (session.status !== 'assigned' && session.status !== 'queued') {
          throw new DomainError('conflict', `the session is ${session.status}: only queued or assigned sessions can be transferred`)
        }
        const from = session.status === 'assigned' ? session.operator_id : null
        let recorded: SessionTransfer | undefined
        const record = async (toOperatorId: string | null): Promise<SessionTransfer> => {
          const toGroupId = input.groupId ?? null
          await insertTransfer(tx, {
            session_id: session.id,
            by_type: by.type,
            by_id: by.id,
            from_operator_id: from,
            to_operator_id: toOperatorId,
            to_group_id: toGroupId,
            to_queue: input.queue === true,
            note,
          })
          recorded = { by, fromOperatorId: from, toOperatorId, toGroupId, note }
          return recorded
        }
        if (input.operatorId !== undefined) {
          await this.toOperator(tx, out, session, input.operatorId, record)
        } else {
          if (input.groupId !== undefined) {
            if (!(await groupExists(tx, input.groupId))) throw new DomainError('not_found', `group ${input.groupId} not found`, 'groupId')
            // change: routing reads the new group; the events about where it was keep the old one
            await setSessionGroup(tx, session.id, input.groupId)
            // outside its hours (or with nobody online, when it has a fallback) it goes where groups.ts says
            await placeInGroup(tx, session.id, this.ctx.config.nodeTtlMs)
          } else if (session.status === 'queued') {
            throw new DomainError('conflict', 'the session is already in the queue', 'queue')
          }
          // `session` as loaded: the events about where it was go to its old holder or old group's queue
          await reroute(this.ctx, tx, out, session, {
            avoid: from,
            reason: 'transferred',
            transfer: record,
          })
        }
        return { ...(await this.ctx.session(tx, sessionId)), transfer: recorded! }
      },
      { routes: true, chat },
    )
  }

  /**
   * A session's transfers, oldest first, with their notes: for the API key, supervisors, and operators who may read
   * the session (its holder and previous holder, or anyone while it is queued).
   */
  async list(who: Transferrer, sessionId: string): Promise<Array<SessionTransfer & { at: string; toQueue: boolean }>> {
    const session = await sessionById(this.ctx.db, sessionId)
    if (!session) throw new DomainError('not_found', `session ${sessionId} not found`)
    if (who.kind === 'operator') {
      const mayRead = session.status === 'queued' || session.operator_id === who.operatorId || session.previous_operator_id === who.operatorId
      const role = await roleOf(this.ctx.db, who.operatorId)
      if (!mayRead && role !== 'supervisor') throw new DomainError('forbidden', 'the session is not yours')
    }
    return (await transfersOf(this.ctx.db, sessionId)).map((t) => ({
      by: { id: t.by_id, name: t.by_name, type: t.by_type },
      fromOperatorId: t.from_operator_id,
      toOperatorId: t.to_operator_id,
      toGroupId: t.to_group_id,
      toQueue: t.to_queue,
      note: t.note,
      at: new Date(t.at).toISOString(),
    }))
  }

  /** The target must be able to take it now; it gets it directly (not through the queue's order). */
  private async toOperator(
    tx: Db,
    out: Outbox,
    session: SessionRow,
    operatorId: string,
    record: (to: string | null) => Promise<SessionTransfer>,
  ): Promise<void> {
    const target = await lockedOperator(tx, operatorId)
    if (!target) throw new DomainError('not_found', `operator ${operatorId} not found`, 'operatorId')
    if (session.status === 'assigned' && session.operator_id === operatorId) {
      throw new DomainError('conflict', 'the session is already with this operator', 'operatorId')
    }
    const why = target.blocked
      ? 'is blocked'
      : target.status !== 'online'
        ? `is ${target.status}`
        : target.open >= target.max_chats
          ? `has maxChats (${target.max_chats}) open sessions`
          : undefined
    if (why) throw new DomainError('target_unavailable', `operator ${operatorId} cannot take the session: it ${why}`, 'operatorId')
    // change: through 'queued', which keeps its place and fills previousOperator
    const queued = session.status === 'assigned' ? await transition(tx, session, 'queued') : session
    await assign(tx, queued, operatorId)
    const transfer = await record(operatorId)
    // events
    const view = { ...(await this.ctx.session(tx, session.id)), transfer }
    if (session.status === 'assigned') {
      out.publish('chatSessionDeleted', { id: session.id, chatId: session.chat_id, reason: 'transferred', transfer }, { session })
    } else {
      out.publish('chatSessionAssigned', view, { session })
    }
    out.publish('chatSessionAdded', view, { operatorId })
    // The old holder has room now.
    await this.ctx.drain(tx, out)
  }

  /** Who may transfer: the API key, the holder, or a supervisor; anyone else is forbidden. */
  private async transferrer(tx: Db, who: Transferrer, holder: string | null): Promise<SessionTransfer['by']> {
    if (who.kind === 'apiKey') return { id: null, name: null, type: 'api' }
    const op = await operatorIdentity(tx, who.operatorId)
    if (!op) throw new DomainError('unauthorized', 'unknown operator')
    if (op.id === holder) return { id: op.id, name: op.name, type: 'operator' }
    if (op.role === 'supervisor') return { id: op.id, name: op.name, type: 'supervisor' }
    throw new DomainError('forbidden', 'only the holder, a supervisor or the API key may transfer this session')
  }
}
