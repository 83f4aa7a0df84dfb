/**
 * The SQL of the read models the console and the API show: operators with their open sessions and groups, and
 * sessions with their client, last messages and unread counts. The domain turns these rows into the shapes of
 * events.md (src/domain/views.ts); each query serves any number of ids at once.
 */
import type { Db } from './db.js'
import { readAtOf, receiptOf, type ClientRow, type MessageRow, type RatingColumns, type SessionRow } from './chat.js'
import type { OperatorStatus } from './availability.js'

/** An operator's columns with its open-session count and the ids of its groups, in order. */
export interface OperatorViewRow {
  id: string
  name: string
  max_chats: number
  blocked: boolean
  blocked_reason: string | null
  created_at: Date
  last_assigned_at: Date | null
  tokens_valid_after: Date | null
  tokens_revoked_by: 'logout' | 'login' | 'block' | null
  status: OperatorStatus
  status_auto: boolean
  status_changed_at: Date
  role: 'operator' | 'supervisor'
  last_seen_at: Date | null
  open_sessions: number
  group_ids: string[]
}

/** One operator, or a page of them in creation order: up to `limit`, after the operator `after` when given. */
export type OperatorViewQuery = { id: string } | { limit: number; after?: { createdAt: Date; id: string } }

export async function operatorViewRows(db: Db, q: OperatorViewQuery): Promise<OperatorViewRow[]> {
  const [where, params, tail]: [string, unknown[], string] =
    'id' in q
      ? ['o.id = $1', [q.id], '']
      : q.after
        ? ['(o.created_at, o.id) > ($2, $3)', [q.limit, q.after.createdAt, q.after.id], 'LIMIT $1']
        : ['true', [q.limit], 'LIMIT $1']
  return db.query<OperatorViewRow>(
    `SELECT o.*, (SELECT count(*)::int FROM sessions s WHERE s.operator_id = o.id AND s.status = 'assigned') AS open_sessions,
            COALESCE((SELECT array_agg(og.group_id ORDER BY og.group_id) FROM operator_groups og WHERE og.operator_id = o.id), '{}') AS group_ids
       FROM operators o WHERE ${where} ORDER BY o.created_at, o.id ${tail}`,
    params,
  )
}

/** A session with its client's columns (those that would clash renamed `client_*`), its previous operator's name and its rating. */
export interface SessionViewRow
  extends SessionRow,
    RatingColumns,
    Pick<ClientRow, 'external_id' | 'messenger_type' | 'whatsapp_phone' | 'ip' | 'referer' | 'coordinates' | 'banned' | 'online_at' | 'offline_at'> {
  marked_as_spam: boolean
  queued_at: Date | null
  client_name: string
  client_channel: string
  client_online: boolean
  previous_operator_name: string | null
}

/** The sessions of `ids` that exist, in no particular order. */
export async function sessionViewRows(db: Db, ids: string[]): Promise<SessionViewRow[]> {
  return db.query<SessionViewRow>(
    `SELECT s.*, c.name AS client_name, c.external_id, c.channel AS client_channel, c.messenger_type, c.whatsapp_phone,
            c.ip, c.referer, c.coordinates, c.banned, c.online AS client_online, c.online_at, c.offline_at,
            po.name AS previous_operator_name, sr.score AS rating_score, sr.comment AS rating_comment, sr.created_at AS rated_at
       FROM sessions s JOIN clients c ON c.id = s.client_id LEFT JOIN operators po ON po.id = s.previous_operator_id
            LEFT JOIN session_ratings sr ON sr.session_id = s.id
      WHERE s.id = ANY($1)`,
    [ids],
  )
}

/** The latest message of each of the sessions, internal notes left out; with `author`, the latest of that author type. */
export async function lastMessages(db: Db, sessionIds: string[], author?: 'operator'): Promise<MessageRow[]> {
  const by = author === undefined ? '' : ` AND author_type = '${author}'`
  return db.query<MessageRow>(
    `SELECT l.*, ${readAtOf('l')} FROM (
       SELECT DISTINCT ON (session_id) * FROM messages WHERE session_id = ANY($1)${by} AND NOT internal ORDER BY session_id, seq DESC) l`,
    [sessionIds],
  )
}

/** The first client message of each of the sessions after its last operator message (notes aside), if any. */
export async function firstClientMessagesAfterOperator(db: Db, sessionIds: string[]): Promise<MessageRow[]> {
  return db.query<MessageRow>(
    `SELECT f.*, ${readAtOf('f')} FROM (
       SELECT DISTINCT ON (m.session_id) m.* FROM messages m
        WHERE m.session_id = ANY($1) AND m.author_type = 'client'
          AND m.seq > COALESCE((SELECT max(o.seq) FROM messages o WHERE o.session_id = m.session_id AND o.author_type = 'operator' AND NOT o.internal), 0)
        ORDER BY m.session_id, m.seq) f`,
    [sessionIds],
  )
}

/** How many client messages of each of the sessions are unread; a session with none is absent. */
export async function unreadClientMessageCounts(db: Db, sessionIds: string[]): Promise<Map<string, number>> {
  const rows = await db.query<{ session_id: string; n: number }>(
    `SELECT m.session_id, count(*)::int AS n FROM messages m
          WHERE m.session_id = ANY($1) AND m.author_type = 'client' AND ${receiptOf('m')} IS NULL
          GROUP BY m.session_id`,
    [sessionIds],
  )
  return new Map(rows.map((r) => [r.session_id, r.n]))
}
