/** Rows of the store turned into the shapes of events.md, for events and HTTP answers alike. */
import type { Db } from '../store/db.js'
import type { ChatSession, Coordinates, Message, SessionRating, SessionStatus } from './events.js'

export function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null
  return (v instanceof Date ? v : new Date(String(v))).toISOString()
}

/** A page of a list; `nextCursor` is passed back as `cursor` (or `before` for messages). */
export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

export interface Operator {
  id: string
  name: string
  maxChats: number
  blocked: boolean
  blockedReason: string | null
  online: boolean
  openSessions: number
  createdAt: string
  /** `online` takes new chats, `away` keeps its chats, `offline` takes none (availability.ts). */
  status: 'online' | 'away' | 'offline'
  /** The status was set by the auto-away timers (or undone by a console connecting), not by a person. */
  statusAuto: boolean
  role: 'operator' | 'supervisor'
  /** Ids of the groups the operator is a member of. */
  groups: string[]
}

export interface Client {
  id: string
  chatId: string
  name: string
  externalId: string | null
  channel: string
  messengerType: string | null
  whatsappPhone: string | null
  ip: string | null
  referer: string | null
  coordinates: Coordinates | null
  banned: boolean
  online: boolean
  onlineAt: string | null
  offlineAt: string | null
  createdAt: string
}

export type { SessionRow } from '../store/chat.js'

export function messageView(r: any): Message {
  return {
    id: r.id,
    chatId: r.chat_id,
    sessionId: r.session_id,
    text: r.text,
    author: { type: r.author_type, id: r.author_id ?? null, name: r.author_name ?? null },
    createdAt: iso(r.created_at)!,
    editedAt: iso(r.edited_at),
    readAt: iso(r.read_at),
    attachments: r.attachments ?? [],
    // only operators' reads return notes (the widget's history skips them)
    ...(r.internal === true ? { internal: true } : {}),
  }
}

export function clientView(r: any): Client {
  return {
    id: r.id,
    chatId: r.chat_id,
    name: r.name,
    externalId: r.external_id ?? null,
    channel: r.channel,
    messengerType: r.messenger_type ?? null,
    whatsappPhone: r.whatsapp_phone ?? null,
    ip: r.ip ?? null,
    referer: r.referer ?? null,
    coordinates: r.coordinates ?? null,
    banned: r.banned,
    online: r.online,
    onlineAt: iso(r.online_at),
    offlineAt: iso(r.offline_at),
    createdAt: iso(r.created_at)!,
  }
}

/** Operator rows with their open-session counts; `online` comes from the gateway. */
export async function loadOperators(db: Db, where: string, params: unknown[], tail = ''): Promise<Array<Omit<Operator, 'online'>>> {
  const rows = await db.query<any>(
    `SELECT o.*, (SELECT count(*)::int FROM sessions s WHERE s.operator_id = o.id AND s.status = 'assigned') AS open_sessions,
            COALESCE((SELECT array_agg(og.group_id ORDER BY og.group_id) FROM operator_groups og WHERE og.operator_id = o.id), '{}') AS group_ids
       FROM operators o WHERE ${where} ORDER BY o.created_at, o.id ${tail}`,
    params,
  )
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    maxChats: r.max_chats,
    blocked: r.blocked,
    blockedReason: r.blocked_reason ?? null,
    openSessions: r.open_sessions,
    createdAt: iso(r.created_at)!,
    status: r.status,
    statusAuto: r.status_auto,
    role: r.role,
    groups: r.group_ids ?? [],
  }))
}

export interface Timers {
  timerFirstAnswerSec: number
  timerNextAnswersSec: number
}

/** Full `ChatSession`s for `ids`, in the order of `ids`; five queries whatever the count. */
export async function sessionViews(db: Db, ids: string[], timers: Timers): Promise<ChatSession[]> {
  if (ids.length === 0) return []
  const rows = await db.query<any>(
    `SELECT s.*, c.name AS client_name, c.external_id, c.channel AS client_channel, c.messenger_type, c.whatsapp_phone,
            c.ip, c.referer, c.coordinates, c.banned, c.online AS client_online, c.online_at, c.offline_at,
            po.name AS previous_operator_name, sr.score AS rating_score, sr.comment AS rating_comment, sr.created_at AS rated_at
       FROM sessions s JOIN clients c ON c.id = s.client_id LEFT JOIN operators po ON po.id = s.previous_operator_id
            LEFT JOIN session_ratings sr ON sr.session_id = s.id
      WHERE s.id = ANY($1)`,
    [ids],
  )
  const last = byKey(
    await db.query<any>(`SELECT DISTINCT ON (session_id) * FROM messages WHERE session_id = ANY($1) AND NOT internal ORDER BY session_id, seq DESC`, [ids]),
  )
  const lastOperator = byKey(
    await db.query<any>(
      `SELECT DISTINCT ON (session_id) * FROM messages WHERE session_id = ANY($1) AND author_type = 'operator' AND NOT internal ORDER BY session_id, seq DESC`,
      [ids],
    ),
  )
  const firstClientAfter = byKey(
    await db.query<any>(
      `SELECT DISTINCT ON (m.session_id) m.* FROM messages m
        WHERE m.session_id = ANY($1) AND m.author_type = 'client'
          AND m.seq > COALESCE((SELECT max(o.seq) FROM messages o WHERE o.session_id = m.session_id AND o.author_type = 'operator' AND NOT o.internal), 0)
        ORDER BY m.session_id, m.seq`,
      [ids],
    ),
  )
  const unread = new Map(
    (
      await db.query<any>(
        `SELECT session_id, count(*)::int AS n FROM messages
          WHERE session_id = ANY($1) AND author_type = 'client' AND read_at IS NULL GROUP BY session_id`,
        [ids],
      )
    ).map((r) => [r.session_id as string, r.n as number]),
  )
  const byId = new Map(rows.map((r) => [r.id as string, r]))
  return ids
    .filter((id) => byId.has(id))
    .map((id) => {
      const r = byId.get(id)
      const lastMessage = last.get(id)
      const n = unread.get(id) ?? 0
      const session: ChatSession = {
        id: r.id,
        chatId: r.chat_id,
        clientId: r.client_id,
        name: r.client_name,
        markedAsSpam: r.marked_as_spam,
        operatorId: r.operator_id ?? null,
        operatorType: r.status === 'bot' ? 'bot' : 'operator',
        channel: r.client_channel,
        botStatus: r.bot_status ?? null,
        status: r.status,
        startedAt: iso(r.started_at)!,
        closedAt: iso(r.closed_at),
        clientOnline: r.client_online,
        clientOnlineAt: iso(r.online_at),
        clientOfflineAt: iso(r.offline_at),
        lastMessageCreatedAt: lastMessage ? iso(lastMessage.created_at) : null,
        lastMessage: lastMessage ? messageView(lastMessage) : null,
        clientExternalId: r.external_id ?? null,
        clientBanned: r.banned,
        clientIp: r.ip ?? null,
        coordinates: r.coordinates ?? null,
        unreadClientMessageCount: n,
        unreadClientMessageExists: n > 0,
        messengerType: r.messenger_type ?? null,
        whatsappPhone: r.whatsapp_phone ?? null,
        timerFirstAnswer: timers.timerFirstAnswerSec,
        timerNextAnswers: timers.timerNextAnswersSec,
        lastOperatorMessage: lastOperator.has(id) ? messageView(lastOperator.get(id)) : null,
        firstClientMessageAfterLastOperatorMessage: firstClientAfter.has(id) ? messageView(firstClientAfter.get(id)) : null,
        operatorAssignedAt: iso(r.operator_assigned_at),
        previousOperator: r.previous_operator_id ? { id: r.previous_operator_id, name: r.previous_operator_name ?? null } : null,
        groupId: r.group_id ?? null,
        groupClosed: r.group_closed === true,
        rating: ratingView(r),
      }
      if (r.referer) session.referer = r.referer
      return session
    })
}

/** The rating columns of a session row (`rating_score`, `rating_comment`, `rated_at`), or null while unrated. */
export function ratingView(r: any): SessionRating | null {
  return r.rating_score === null || r.rating_score === undefined ? null : { score: Number(r.rating_score), comment: r.rating_comment ?? null, ratedAt: iso(r.rated_at)! }
}

function byKey(rows: any[]): Map<string, any> {
  return new Map(rows.map((r) => [r.session_id as string, r]))
}
