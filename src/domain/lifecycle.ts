/**
 * The session state machine. Every status change goes through `transition`; the allowed moves are this
 * table and nothing else. (A session is born 'bot' or 'queued' by `insertSession`.)
 */
import type { Db } from '../store/db.js'
import { setSessionStatus, type SessionRow, type SessionStatus } from '../store/chat.js'
import { DomainError } from './errors.js'

export const TRANSITIONS: Readonly<Record<SessionStatus, readonly SessionStatus[]>> = {
  bot: ['queued', 'closed'],
  queued: ['assigned', 'bot', 'closed'],
  assigned: ['queued', 'bot', 'closed'],
  closed: [],
}

export function mayMove(from: SessionStatus, to: SessionStatus): boolean {
  return TRANSITIONS[from].includes(to)
}

/**
 * Moves a session the caller has locked (or loaded) to `to`; a move the table forbids, or one that lost to
 * a concurrent change, is a conflict. `arg`: the operator for 'assigned', who closed for 'closed'.
 */
export async function transition(tx: Db, session: SessionRow, to: SessionStatus, arg: string | null = null): Promise<SessionRow> {
  if (!mayMove(session.status, to)) throw new DomainError('conflict', `the session is ${session.status} and cannot become ${to}`)
  const moved = await setSessionStatus(tx, session.id, session.status, to, arg)
  if (!moved) throw new DomainError('conflict', `the session is no longer ${session.status}`)
  return moved
}
