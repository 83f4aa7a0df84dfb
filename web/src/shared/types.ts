/** The shapes of /work/shared/spec/events.md and http-api.md as the pages read them (fields may be added). */

export interface Author {
  type: 'client' | 'operator' | 'bot' | 'system'
  id: string | null
  name: string | null
}

export interface Message {
  id: string
  chatId: string
  sessionId: string
  text: string
  author: Author
  createdAt: string
  editedAt: string | null
  readAt: string | null
  attachments?: Array<{ url: string; name: string; mimeType: string; size: number }>
}

export interface ChatSession {
  id: string
  chatId: string
  clientId: string | null
  name: string
  operatorId: string | number | null
  channel: string
  botStatus?: string | null
  status: string
  startedAt: string
  clientOnlineAt?: string | null
  clientOfflineAt?: string | null
  lastMessageCreatedAt: string | null
  lastMessage?: Message | null
  unreadClientMessageCount?: number | null
  unreadClientMessageExists?: boolean | null
  timerFirstAnswer?: number
  timerNextAnswers?: number
  lastOperatorMessage?: Message | null
  firstClientMessageAfterLastOperatorMessage?: Message | null
  operatorAssignedAt: string | null
  /** Whether the client is online now, when the server says so directly. */
  clientOnline?: boolean | null
}

export interface Operator {
  id: string
  name: string
  maxChats: number
  blocked: boolean
  online: boolean
}

export interface Typing {
  chatId: string
  sessionId: string
  clientId?: string | null
  active: boolean
  until: string
  text?: string | null
}

/** Every publication's data: `{ event, data, id, at }`; a few seed events also carry `action`. */
export interface Envelope {
  event?: string
  action?: string
  data: any
  id?: string
  at?: string
}

export interface ApiErrorBody {
  error?: { code?: string; message?: string }
}
