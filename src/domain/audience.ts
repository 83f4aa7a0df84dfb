/**
 * Who receives each event, decided here and nowhere else. A session's operators' side is its holder while
 * assigned, the queue while queued, nobody while the bot has it; the client is its own widget channel.
 */
import type { SessionRow } from '../store/chat.js'
import { QUEUE_CHANNEL, clientChannel, operatorChannel } from './channels.js'
import type { EventName } from './events.js'

/** What an event is about: the session as its audience sees it, the operator it concerns, who acted. */
export interface Subject {
  session?: Pick<SessionRow, 'status' | 'operator_id' | 'client_id'>
  operatorId?: string
  /** Read receipts and typing go to the other side of the chat. */
  by?: 'client' | 'operator'
}

const operatorsOf = (s: Subject['session']): string[] => {
  if (s?.status === 'assigned' && s.operator_id) return [operatorChannel(s.operator_id)]
  if (s?.status === 'queued') return [QUEUE_CHANNEL]
  return []
}
const clientOf = (s: Subject['session']): string[] => (s ? [clientChannel(s.client_id)] : [])
const holderOf = (s: Subject['session']): string[] => (s?.status === 'assigned' && s.operator_id ? [operatorChannel(s.operator_id)] : [])
const everyone = ({ session }: Subject) => [...operatorsOf(session), ...clientOf(session)]
const operators = ({ session }: Subject) => operatorsOf(session)
const queue = () => [QUEUE_CHANNEL]
const operator = ({ operatorId }: Subject) => (operatorId ? [operatorChannel(operatorId)] : [])
const otherSide = ({ session, by }: Subject) => (by === 'client' ? operatorsOf(session) : clientOf(session))

export const AUDIENCE: Record<EventName, (subject: Subject) => string[]> = {
  chatMessageCreated: everyone,
  chatMessageEdited: everyone,
  chatMessageRead: otherSide,
  // Only the holder sees the client typing; in the queue or with the bot nobody does.
  typing: ({ session, by }) => (by === 'client' ? holderOf(session) : clientOf(session)),
  clientOnline: operators,
  clientOffline: operators,
  sessionClosedByClient: everyone,
  sessionClosedByOperator: ({ session }) => clientOf(session),
  /** With the session as it was before it left its operators. */
  chatSessionDeleted: operators,
  chatSessionStarted: queue,
  chatSessionSwitchedFromBotToOperator: queue,
  chatSessionAssigned: queue,
  operatorNotFound: queue,
  chatSessionAdded: operator,
  chatUserExists: operator,
  operatorBlocked: operator,
  operatorLoggedOut: operator,
}

export function channelsOf(event: EventName, subject: Subject): string[] {
  return AUDIENCE[event](subject)
}
