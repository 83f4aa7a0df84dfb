/** Rows of the store turned into the shapes of events.md, for events and HTTP answers alike. */
import type { Db } from '../store/db.js'
import type { ClientRow, MessageJson, MessageRow, RatingColumns } from '../store/chat.js'
import {
  firstClientMessagesAfterOperator,
  lastMessages,
  operatorViewRows,
  sessionViewRows,
  unreadClientMessageCounts,
  type OperatorViewQuery,
} from '../store/views.js'
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

/** A message from its row, or from its row's JSON (history's last message). */
export function messageView(r: MessageRow | MessageJson): Message {
  return {
    id: r.id,
    chatId: r.chat_id,
    sessionId: r.session_id,
    text: r.text,
    author: { type: r.author_type, id: r.author_id ?? null, name: r.author_name ?? null },
    createdAt: iso(r.created_at)!,
    editedAt: iso(r.edited_at),
    readAt: iso(r.read_at),
    // written by attachments.ts's claimForMessage, in the event's shape
    attachments: (r.attachments ?? []) as Message['attachments'],
    // only operators' reads return notes (the widget's history skips them)
    ...(r.internal === true ? { internal: true } : {}),
  }
}

export function clientView(r: ClientRow): Client {
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

/** Operators with their open-session counts: one by id, or a page in creation order; `online` comes from the gateway. */
export async function loadOperators(db: Db, q: OperatorViewQuery): Promise<Array<Omit<Operator, 'online'>>> {
  const rows = await operatorViewRows(db, q)
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
  const rows = await sessionViewRows(db, ids)
  const last = byKey(await lastMessages(db, ids))
  const lastOperator = byKey(await lastMessages(db, ids, 'operator'))
  const firstClientAfter = byKey(await firstClientMessagesAfterOperator(db, ids))
  const unread = await unreadClientMessageCounts(db, ids)
  const byId = new Map(rows.map((r) => [r.id, r]))
  return ids
    .filter((id) => byId.has(id))
    .map((id) => {
      const r = byId.get(id)!
      const lastMessage = last.get(id)
      const lastOperatorMessage = lastOperator.get(id)
      const firstClientMessage = firstClientAfter.get(id)
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
        coordinates: (r.coordinates ?? null) as Coordinates | null,
        unreadClientMessageCount: n,
        unreadClientMessageExists: n > 0,
        messengerType: r.messenger_type ?? null,
        whatsappPhone: r.whatsapp_phone ?? null,
        timerFirstAnswer: timers.timerFirstAnswerSec,
        timerNextAnswers: timers.timerNextAnswersSec,
        lastOperatorMessage: lastOperatorMessage ? messageView(lastOperatorMessage) : null,
        firstClientMessageAfterLastOperatorMessage: firstClientMessage ? messageView(firstClientMessage) : null,
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
export function ratingView(r: RatingColumns): SessionRating | null {
  return r.rating_score === null || r.rating_score === undefined ? null : { score: Number(r.rating_score), comment: r.rating_comment ?? null, ratedAt: iso(r.rated_at)! }
}

function byKey(rows: MessageRow[]): Map<string, MessageRow> {
  return new Map(rows.map((r) => [r.session_id, r]))
}
