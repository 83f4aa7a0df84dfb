/**
 * The SQL of client history and message search (issue 16 item 4, migration 014). Search uses the `simple` text
 * search configuration in every expression, the one the GIN index `messages_search` is built on, so the index
 * serves `@@`; ranking (`ts_rank`) and snippets (`ts_headline`) are computed for the matches and the page only.
 */
import type { Db } from './db.js'
import { readAtOf, type MessageJson, type MessageRow, type SessionRow } from './chat.js'

/** The text search configuration of the index; a query with another one would not use it. */
export const SEARCH_CONFIG = 'simple'

/** Marks ts_headline puts around a match; the text is cleared of them first, so they cannot be forged. */
export const HIT_START = '\u0001'
export const HIT_STOP = '\u0002'

/** Messages up to this many characters are their own snippet. */
const WHOLE_SNIPPET_MAX = 280

/** What a session of the client's history shows, with its message count and last message (notes excluded). */
export interface ClientSessionRow extends SessionRow {
  operator_name: string | null
  message_count: number
  last_message: MessageJson | null
  rating_score: number | null
  rating_comment: string | null
  rated_at: Date | null
}

/** The client's sessions, newest first, after the session `beforeSeq` when given. */
export async function clientSessions(db: Db, clientId: string, page: { limit: number; beforeSeq?: number }): Promise<ClientSessionRow[]> {
  const params: unknown[] = [clientId, page.limit]
  if (page.beforeSeq !== undefined) params.push(page.beforeSeq)
  const rows = await db.query<ClientSessionRow>(
    `SELECT s.*, o.name AS operator_name, sr.score AS rating_score, sr.comment AS rating_comment, sr.created_at AS rated_at,
            (SELECT count(*)::int FROM messages m WHERE m.session_id = s.id AND NOT m.internal) AS message_count,
            (SELECT to_jsonb(l) FROM (SELECT m.*, ${readAtOf('m')} FROM messages m WHERE m.session_id = s.id AND NOT m.internal ORDER BY m.seq DESC LIMIT 1) l) AS last_message
       FROM sessions s LEFT JOIN operators o ON o.id = s.operator_id LEFT JOIN session_ratings sr ON sr.session_id = s.id
      WHERE s.client_id = $1${page.beforeSeq !== undefined ? ' AND s.seq < $3' : ''}
      ORDER BY s.seq DESC LIMIT $2`,
    params,
  )
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }))
}

/**
 * True when the client's open session is one operator `operatorId`'s console lists now: it holds it, or it waits in
 * a queue the operator sees (the shared queue or one of its groups').
 */
export async function clientOpenSessionVisibleTo(db: Db, clientId: string, operatorId: string): Promise<boolean> {
  const [row] = await db.query(
    `SELECT 1 FROM sessions s
      WHERE s.client_id = $1 AND s.status <> 'closed'
        AND ((s.status = 'assigned' AND s.operator_id = $2)
          OR (s.status = 'queued' AND (s.group_id IS NULL OR s.group_id IN (SELECT og.group_id FROM operator_groups og WHERE og.operator_id = $2))))`,
    [clientId, operatorId],
  )
  return row !== undefined
}

/** True when the operator has held the session at some time (now or before). */
export async function hasHeld(db: Db, operatorId: string, sessionId: string): Promise<boolean> {
  const [row] = await db.query(`SELECT 1 FROM session_operators WHERE operator_id = $1 AND session_id = $2`, [operatorId, sessionId])
  return row !== undefined
}

/** Whose messages a search may find: everything, or the sessions an operator has held; notes or not. */
export interface SearchScope {
  /** Only sessions this operator has held (session_operators); undefined: every session. */
  heldBy?: string
  /** Internal notes are found too (operators and supervisors). */
  notes: boolean
}

/** A matching message with its rank, snippet, client and session. */
export interface SearchHitRow extends MessageRow {
  /** ts_rank as a float4; with `seq`, the position a cursor resumes after. */
  rank: number
  /** ts_headline of the text, matches between HIT_START and HIT_STOP. */
  headline: string
  client_id: string
  client_name: string
  session_status: string
  session_started_at: Date
  session_closed_at: Date | null
  session_operator_id: string | null
}

/**
 * A page of messages matching `query` (websearch syntax: words, "phrases", or, -not), best ranked first, ties newest
 * first; `after` resumes after the last hit of the previous page.
 */
export async function searchMessages(
  db: Db,
  query: string,
  scope: SearchScope,
  page: { limit: number; after?: { rank: number; seq: number } },
): Promise<SearchHitRow[]> {
  const params: unknown[] = [query, page.limit]
  const where: string[] = [`to_tsvector('${SEARCH_CONFIG}', m.text) @@ q`]
  if (!scope.notes) where.push('NOT m.internal')
  if (scope.heldBy !== undefined) {
    params.push(scope.heldBy)
    where.push(`m.session_id IN (SELECT so.session_id FROM session_operators so WHERE so.operator_id = $${params.length})`)
  }
  let resume = ''
  if (page.after) {
    params.push(page.after.rank, page.after.seq)
    resume = `WHERE (hit.rank, hit.seq) < ($${params.length - 1}::real, $${params.length}::bigint)`
  }
  const rows = await db.query<SearchHitRow>(
    `WITH q AS (SELECT websearch_to_tsquery('${SEARCH_CONFIG}', $1) AS q),
     hit AS (
       SELECT m.*, ts_rank(to_tsvector('${SEARCH_CONFIG}', m.text), q.q) AS rank FROM messages m, q WHERE ${where.join(' AND ')}),
     page AS (SELECT * FROM hit ${resume} ORDER BY hit.rank DESC, hit.seq DESC LIMIT $2)
     SELECT page.*, ${readAtOf('page')},
            -- a short message whole, a long one as up to two fragments around the matches
            ts_headline('${SEARCH_CONFIG}', translate(page.text, E'\\x01\\x02', ''), q.q,
                        'StartSel=${HIT_START}, StopSel=${HIT_STOP}, ' ||
                        CASE WHEN length(page.text) <= ${WHOLE_SNIPPET_MAX} THEN 'HighlightAll=true'
                             ELSE 'MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "' END) AS headline,
            s.client_id, c.name AS client_name, s.status AS session_status, s.started_at AS session_started_at,
            s.closed_at AS session_closed_at, s.operator_id AS session_operator_id
       FROM page, q, sessions s, clients c
      WHERE s.id = page.session_id AND c.id = s.client_id
      ORDER BY page.rank DESC, page.seq DESC`,
    params,
  )
  return rows.map((r) => ({ ...r, seq: Number(r.seq), rank: Number(r.rank) }))
}
