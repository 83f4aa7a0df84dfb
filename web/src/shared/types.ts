/** The shapes the pages read: the domain's event types (src/domain/events.ts) plus the HTTP answers they use. */
import type { ChatSession, Message, TypingData } from '../../../src/domain/events.js'

export type { ChatSession, Message }
export type Typing = TypingData

export interface Operator {
  id: string
  name: string
  maxChats: number
  blocked: boolean
  online: boolean
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
