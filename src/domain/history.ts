/**
 * Client history and message search (issue 16 item 4). Who sees what:
 * - a client's sessions (`GET /clients/{id}/sessions`): the API key, supervisors, and an operator whose console
 *   lists the client's open session now (it holds it, or it waits in a queue the operator sees);
 * - a session's messages: besides the rule of sessions.ts (holder, previous holder, anyone while queued), an operator
 *   who has held it at any time, or who may see its client's history as above (`mayReadEarlier`);
 * - search: the API key and supervisors every session, an operator the sessions it has held (now or before);
 *   internal notes are found by operators and supervisors, never with the API key.
 */
import type { Db } from '../store/db.js'
import type { SessionRow } from '../store/chat.js'
import { clientById, sessionSeq } from '../store/chat.js'
import { roleOf } from '../store/availability.js'
import {
  clientOpenSessionVisibleTo,
  clientSessions,
  hasHeld,
  HIT_START,
  HIT_STOP,
  searchMessages,
  type ClientSessionRow,
  type SearchHitRow,
} from '../store/history.js'
import type { DomainContext } from './context.js'
import { DomainError } from './errors.js'
import type { Message, SessionRating, SessionStatus } from './events.js'
import { iso, messageView, ratingView, type Page } from './views.js'

/** Longest search query, in characters; longer is a 400 naming `q`. */
export const MAX_SEARCH_QUERY = 200

/** Who asks: the API key, or an operator (a supervisor sees everything). */
export type HistoryViewer = { kind: 'apiKey' } | { kind: 'operator'; operatorId: string }

/** One session of a client's history. */
export interface ClientSession {
  id: string
  chatId: string
  status: SessionStatus
  startedAt: string
  operatorAssignedAt: string | null
  closedAt: string | null
  /** Who holds it, or held it when it closed; null when no operator had it. */
  operator: { id: string; name: string | null } | null
  groupId: string | null
  /** Messages the client and operators exchanged (internal notes not counted). */
  messageCount: number
  lastMessage: Message | null
  rating: SessionRating | null
}

/** A message that matches a search, with where it was said. */
export interface SearchHit {
  message: Message
  /** The matching part of the text (whole short texts), plain text; `highlights` are the matches in it. */
  snippet: string
  /** `[start, end)` offsets (UTF-16 code units, as JavaScript strings count) of each match in `snippet`. */
  highlights: Array<[number, number]>
  rank: number
  session: { id: string; status: SessionStatus; startedAt: string; closedAt: string | null; operatorId: string | null }
  client: { id: string; name: string }
}

export class History {
  constructor(private readonly ctx: DomainContext) {}

  /** The client's sessions, newest first (its open one, if any, comes first); `cursor` is the last session seen. */
  async clientSessions(viewer: HistoryViewer, clientId: string, page: { limit: number; cursor?: string }): Promise<Page<ClientSession>> {
    const db = this.ctx.db
    if (!(await clientById(db, clientId))) throw new DomainError('not_found', `client ${clientId} not found`)
    if (viewer.kind === 'operator' && !(await mayReadClientHistory(db, viewer.operatorId, clientId))) {
      throw new DomainError('forbidden', "the client's history is open to the operator of its current session, its queue, and supervisors")
    }
    let beforeSeq: number | undefined
    if (page.cursor !== undefined) {
      beforeSeq = await sessionSeq(db, page.cursor, clientId)
      if (beforeSeq === undefined) throw new DomainError('bad_request', 'cursor is not a session of this client', 'cursor')
    }
    const rows = await clientSessions(db, clientId, { limit: page.limit + 1, beforeSeq })
    const items = rows.slice(0, page.limit).map(clientSessionView)
    return { items, nextCursor: rows.length > page.limit ? items[items.length - 1]!.id : null }
  }

  /** Messages matching `q` (websearch syntax), best first, limited to what the viewer may see. */
  async search(viewer: HistoryViewer, q: string, page: { limit: number; cursor?: string }): Promise<Page<SearchHit>> {
    const query = checkQuery(q)
    const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor)
    const db = this.ctx.db
    const everything = viewer.kind === 'apiKey' || (await roleOf(db, viewer.operatorId)) === 'supervisor'
    const scope = { heldBy: viewer.kind === 'operator' && !everything ? viewer.operatorId : undefined, notes: viewer.kind === 'operator' }
    const rows = await searchMessages(db, query, scope, { limit: page.limit + 1, after })
    const items = rows.slice(0, page.limit).map(hitView)
    const last = rows.length > page.limit ? rows[page.limit - 1]! : undefined
    return { items, nextCursor: last ? encodeCursor(last) : null }
  }
}

/** Supervisors, and an operator whose console lists the client's open session now. */
async function mayReadClientHistory(db: Db, operatorId: string, clientId: string): Promise<boolean> {
  return (await roleOf(db, operatorId)) === 'supervisor' || (await clientOpenSessionVisibleTo(db, clientId, operatorId))
}

/**
 * The wider read rule of issue 16 for a session the rule of sessions.ts refuses: an operator who has held it, or who
 * may see its client's history (the client's current session is its own or waits in its queue).
 */
export async function mayReadEarlier(db: Db, operatorId: string, session: SessionRow): Promise<boolean> {
  return (await hasHeld(db, operatorId, session.id)) || (await clientOpenSessionVisibleTo(db, session.client_id, operatorId))
}

function checkQuery(q: string | undefined): string {
  const text = (q ?? '').trim()
  if (text === '') throw new DomainError('bad_request', 'q must name something to search for', 'q')
  if (text.length > MAX_SEARCH_QUERY) throw new DomainError('bad_request', `q is longer than ${MAX_SEARCH_QUERY} characters`, 'q')
  // Punctuation alone makes an empty text search query, which matches nothing: say so instead.
  if (!/[\p{L}\p{N}]/u.test(text)) throw new DomainError('bad_request', 'q must contain a letter or a digit', 'q')
  return text
}

/** The position after the last hit of a page: its rank (a float4, exact as text) and message seq. */
function encodeCursor(r: SearchHitRow): string {
  return Buffer.from(JSON.stringify([r.rank, r.seq])).toString('base64url')
}

function decodeCursor(cursor: string): { rank: number; seq: number } {
  try {
    const [rank, seq] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[]
    if (typeof rank === 'number' && Number.isFinite(rank) && Number.isSafeInteger(seq) && (seq as number) > 0) return { rank, seq: seq as number }
  } catch {
    // falls through to the error below
  }
  throw new DomainError('bad_request', 'cursor is not a nextCursor of this search', 'cursor')
}

function clientSessionView(r: ClientSessionRow): ClientSession {
  return {
    id: r.id,
    chatId: r.chat_id,
    status: r.status,
    startedAt: iso(r.started_at)!,
    operatorAssignedAt: iso(r.operator_assigned_at),
    closedAt: iso(r.closed_at),
    operator: r.operator_id ? { id: r.operator_id, name: r.operator_name } : null,
    groupId: r.group_id ?? null,
    messageCount: r.message_count,
    lastMessage: r.last_message ? messageView(r.last_message) : null,
    rating: ratingView(r),
  }
}

function hitView(r: SearchHitRow): SearchHit {
  const { snippet, highlights } = splitHeadline(r.headline)
  return {
    message: messageView(r),
    snippet,
    highlights,
    rank: r.rank,
    session: { id: r.session_id, status: r.session_status as SessionStatus, startedAt: iso(r.session_started_at)!, closedAt: iso(r.session_closed_at), operatorId: r.session_operator_id },
    client: { id: r.client_id, name: r.client_name },
  }
}

/** ts_headline's text with its marks taken out, and where they were. */
export function splitHeadline(headline: string): { snippet: string; highlights: Array<[number, number]> } {
  let snippet = ''
  const highlights: Array<[number, number]> = []
  let start = -1
  for (const ch of headline) {
    if (ch === HIT_START) start = snippet.length
    else if (ch === HIT_STOP) {
      if (start >= 0 && snippet.length > start) {
        // adjacent matches ("big order") read as one highlight
        const prev = highlights[highlights.length - 1]
        if (prev && /^\s*$/.test(snippet.slice(prev[1], start))) prev[1] = snippet.length
        else highlights.push([start, snippet.length])
      }
      start = -1
    } else snippet += ch
  }
  return { snippet, highlights }
}
