/** The shapes the pages read: the domain's event types (src/domain/events.ts) plus the HTTP answers they use. */
import type { ChatSession, Message, OperatorStatus, SessionRating, SessionTransfer, TypingData } from '../../../src/domain/events.js'

export type { ChatSession, Message, OperatorStatus, SessionRating, SessionTransfer }
export type Typing = TypingData

export interface Operator {
  id: string
  name: string
  maxChats: number
  blocked: boolean
  online: boolean
  /** Issue 15 (`GET /me`): the chosen or automatic status, the role and the group ids. */
  status?: OperatorStatus
  auto?: boolean
  statusAuto?: boolean
  role?: 'operator' | 'supervisor'
  groups?: string[]
}

/** A row of `GET /operators/status` (supervisors), kept live by `operatorStatusChanged`. */
export interface OperatorStatusRow {
  id: string
  name: string
  status: OperatorStatus
  auto: boolean
  connected?: boolean
  openSessions: number
  maxChats: number
  groups?: string[]
}

/** A row of `GET /groups`: what the console needs of it. */
export interface GroupSummary {
  id: string
  name: string
  open?: boolean
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
  error?: { code?: string; message?: string; field?: string }
}
