/**
 * The live events an operator console (and the client widget) receives, as one discriminated union on
 * `event`. Every publication's `data` is an `EventEnvelope`. Documented fields are never removed or renamed.
 * Contract: docs/domain.md and shared/spec/events.md.
 */

export type AuthorType = 'client' | 'operator' | 'bot' | 'system'

export interface Attachment {
  url: string
  name: string
  mimeType: string
  size: number
}

export interface Message {
  id: string
  chatId: string
  sessionId: string
  text: string
  author: { type: AuthorType; id: string | null; name: string | null }
  createdAt: string
  editedAt: string | null
  readAt: string | null
  attachments: Attachment[]
  /** An internal note: operators and supervisors only, never the client. */
  internal?: true
}

/** `bot`: the bot handles it; `queued`: waiting for people; `assigned`: an operator holds it; `closed`. */
export type SessionStatus = 'bot' | 'queued' | 'assigned' | 'closed'
/** `BOT`: the bot talks; `HELP`: people were asked for and nobody has it yet; `OPERATOR`: an operator holds it. */
export type BotStatus = 'BOT' | 'HELP' | 'OPERATOR'

export interface Coordinates {
  city?: string | null
  latitude?: number | null
  zip_code?: string | null
  longitude?: number | null
  time_zone?: string | null
  region_name?: string | null
  country_code?: string | null
  country_name?: string | null
}

export interface ChatSession {
  id: string
  chatId: string
  clientId: string | null
  name: string
  markedAsSpam: boolean
  operatorId: string | number | null
  operatorType?: string
  channel: string
  botStatus?: BotStatus | string | null
  status: SessionStatus | string
  startedAt: string
  closedAt?: string | null
  clientOnline?: boolean
  clientOnlineAt?: string | null
  clientOfflineAt?: string | null
  lastMessageCreatedAt: string | null
  lastMessage?: Message | null
  clientExternalId?: string | null
  clientBanned?: boolean | null
  referer?: string
  clientIp?: string | null
  coordinates?: Coordinates | null
  unreadClientMessageCount?: number | null
  unreadClientMessageExists?: boolean | null
  messengerType?: string | null
  whatsappPhone?: string | null
  timerFirstAnswer?: number
  timerNextAnswers?: number
  lastOperatorMessage?: Message | null
  firstClientMessageAfterLastOperatorMessage?: Message | null
  operatorAssignedAt: string | null
  previousOperator?: { id?: string | null; name?: string | null } | null
  /** The group it is routed in (only that group's members get it); null: any operator. */
  groupId?: string | null
  /** Queued in a group outside its working hours with no fallback: waits until they open. */
  groupClosed?: boolean
  /** On `chatSessionAdded`/`chatSessionStarted` caused by a transfer (operators only, never the client). */
  transfer?: SessionTransfer
  /** The client's satisfaction rating of the closed session; null until it rates (issue 16). */
  rating?: SessionRating | null
}

/** A client's rating of its closed session: 1 (bad) to 5 (good), and an optional comment. */
export interface SessionRating {
  score: number
  comment: string | null
  ratedAt: string
}

/** `sessionRated`: to the operator who held the session and to the supervisors. */
export interface SessionRatedData extends SessionRating {
  sessionId: string
  chatId: string
  clientId: string
  /** Who held the session when it was rated; null when nobody had taken it. */
  operatorId: string | null
  groupId: string | null
}

/** Who moved a session where, and the note for operators (`POST /sessions/{id}/transfer`). */
export interface SessionTransfer {
  /** `operator`: the holder; `supervisor`; `api`: the API key (id and name null). */
  by: { id: string | null; name: string | null; type: 'operator' | 'supervisor' | 'api' }
  fromOperatorId: string | null
  /** Who holds it after the transfer; null while it waits in the queue. */
  toOperatorId: string | null
  toGroupId: string | null
  note: string | null
}

export interface OperatorNotFoundData {
  botStatus: string
  chatId: string
  operatorType: string
  sessionId: string
  status: string
}

export interface ClientPresenceData {
  /** The client id. */
  id: string
  chatId?: string
  sessionId?: string
  at?: string
}

export interface ChatMessageReadData {
  chatId: string
  sessionId: string
  messageIds: string[]
  readAt: string
}

export interface ChatSessionDeletedData {
  id: string
  chatId: string
  /** Why it left its holder: the bot's hand-off reason, `reassigned` (a timer or the offline grace), `transferred`, or `closed` (by a supervisor). */
  reason?: string
  transfer?: SessionTransfer
}

export interface SessionClosedData {
  id: string
  chatId: string
  closedAt: string
}

export interface OperatorBlockedData {
  id: string
  reason?: string | null
  at: string
}

export interface ChatUserExistsData {
  id: string
  at: string
  userAgent?: string | null
  ip?: string | null
}

export interface TypingData {
  chatId: string
  sessionId: string
  clientId: string
  /** true: show the indicator until `until` unless renewed; false: clear it now. */
  active: boolean
  until: string
  text?: string | null
  /** Who types: the client, or an operator (the widget's view). */
  author: { type: 'client' | 'operator'; id: string; name: string | null }
}

/** `online` takes new chats; `away` keeps its chats and takes none; `offline` takes none. */
export type OperatorStatus = 'online' | 'away' | 'offline'

export interface OperatorStatusChangedData {
  operator: {
    id: string
    name: string
    status: OperatorStatus
    previousStatus: OperatorStatus
    /** Set by the auto-away/auto-offline timer or undone by a console connecting, not by a person. */
    auto: boolean
    openSessions: number
    maxChats: number
  }
}

export interface OperatorLoggedOutData {
  id: string
  at: string
  reason?: string | null
}

/** Event name → payload. */
export interface EventPayloads {
  chatSessionStarted: ChatSession
  operatorNotFound: OperatorNotFoundData
  chatSessionAdded: ChatSession
  chatMessageCreated: Message
  chatMessageEdited: Message
  chatMessageRead: ChatMessageReadData
  chatSessionDeleted: ChatSessionDeletedData
  chatSessionSwitchedFromBotToOperator: ChatSession
  sessionClosedByClient: SessionClosedData
  operatorBlocked: OperatorBlockedData
  chatUserExists: ChatUserExistsData
  typing: TypingData
  operatorLoggedOut: OperatorLoggedOutData
  clientOnline: ClientPresenceData
  clientOffline: ClientPresenceData
  /** Widget only: an operator closed the client's session. */
  sessionClosedByOperator: SessionClosedData
  /** Queue audience: a session left the queue for an operator (routing or accept), so other consoles drop it. */
  chatSessionAssigned: ChatSession
  /** The operator and supervisors: an operator's status changed (by a person, or by the auto-away timer). */
  operatorStatusChanged: OperatorStatusChangedData
  /** The operator who held the session and supervisors: the client rated its closed session. */
  sessionRated: SessionRatedData
}

export type EventName = keyof EventPayloads

/** The seed spells these three with `action`; they carry both keys with the same value. */
export type ActionEventName = 'operatorNotFound' | 'clientOnline' | 'clientOffline'

type EnvelopeOf<E extends EventName> = {
  event: E
  data: EventPayloads[E]
  /** Unique event id, for dropping duplicates. */
  id: string
  /** ISO 8601 UTC time the event happened. */
  at: string
} & (E extends ActionEventName ? { action: E } : {})

/** Every publication's `data`: switch on `event` and TypeScript narrows `data`. */
export type EventEnvelope = { [E in EventName]: EnvelopeOf<E> }[EventName]

export const ACTION_EVENTS: readonly EventName[] = ['operatorNotFound', 'clientOnline', 'clientOffline']

export const EVENT_NAMES: readonly EventName[] = [
  'chatSessionStarted',
  'operatorNotFound',
  'chatSessionAdded',
  'chatMessageCreated',
  'chatMessageEdited',
  'chatMessageRead',
  'chatSessionDeleted',
  'chatSessionSwitchedFromBotToOperator',
  'sessionClosedByClient',
  'operatorBlocked',
  'chatUserExists',
  'typing',
  'operatorLoggedOut',
  'clientOnline',
  'clientOffline',
  'sessionClosedByOperator',
  'chatSessionAssigned',
  'operatorStatusChanged',
  'sessionRated',
]
