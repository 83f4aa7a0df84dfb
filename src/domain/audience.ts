/**
 * Who receives each event, decided here and nowhere else. A session's operators' side is its holder while
 * assigned, the queue while queued (its group's queue when it has a group), nobody while the bot has it; the client
 * is its own widget channel. Supervisors see every session event operators see, and every status change.
 */
import type { SessionRow } from '../store/chat.js'
import { QUEUE_CHANNEL, SUPERVISORS_CHANNEL, clientChannel, groupQueueChannel, operatorChannel } from './channels.js'
import type { EventName } from './events.js'

/** What an event is about: the session as its audience sees it, the operator it concerns, who acted. */
export interface Subject {
  session?: Pick<SessionRow, 'status' | 'operator_id' | 'client_id'> & { group_id?: string | null }
  operatorId?: string
  /** Read receipts and typing go to the other side of the chat. */
  by?: 'client' | 'operator'
  /** An internal note: its operators' side and supervisors, never the client. */
  internal?: boolean
}

const queueOf = (s: Subject['session']): string[] => [s?.group_id ? groupQueueChannel(s.group_id) : QUEUE_CHANNEL]
const operatorsOf = (s: Subject['session']): string[] => {
  if (s?.status === 'assigned' && s.operator_id) return [operatorChannel(s.operator_id)]
  if (s?.status === 'queued') return queueOf(s)
  return []
}
const clientOf = (s: Subject['session']): string[] => (s ? [clientChannel(s.client_id)] : [])
const holderOf = (s: Subject['session']): string[] => (s?.status === 'assigned' && s.operator_id ? [operatorChannel(s.operator_id)] : [])
const everyone = ({ session }: Subject) => [...operatorsOf(session), ...clientOf(session)]
const operators = ({ session }: Subject) => operatorsOf(session)
const queue = ({ session }: Subject) => queueOf(session)
const operator = ({ operatorId }: Subject) => (operatorId ? [operatorChannel(operatorId)] : [])
const otherSide = ({ session, by }: Subject) => (by === 'client' ? operatorsOf(session) : clientOf(session))
/** The same audience, plus the supervisors' channel. */
const andSupervisors = (of: (subject: Subject) => string[]) => (subject: Subject) => [...of(subject), SUPERVISORS_CHANNEL]
/** Supervisors see what operators see of a session: queued or assigned, not the bot's (nor closed ones). */
const andSupervisorsIfOperators = (of: (subject: Subject) => string[]) => (subject: Subject) =>
  operatorsOf(subject.session).length > 0 ? [...of(subject), SUPERVISORS_CHANNEL] : of(subject)

/** Notes: the session's operators' side and supervisors; the client's channel never. */
const noteAudience = andSupervisors(operators)

export const AUDIENCE: Record<EventName, (subject: Subject) => string[]> = {
  chatMessageCreated: (subject) => (subject.internal ? noteAudience(subject) : andSupervisorsIfOperators(everyone)(subject)),
  chatMessageEdited: (subject) => (subject.internal ? noteAudience(subject) : andSupervisorsIfOperators(everyone)(subject)),
  chatMessageRead: otherSide,
  // Only the holder sees the client typing; in the queue or with the bot nobody does.
  typing: ({ session, by }) => (by === 'client' ? holderOf(session) : clientOf(session)),
  clientOnline: operators,
  clientOffline: operators,
  sessionClosedByClient: andSupervisorsIfOperators(everyone),
  // Supervisors drop the session from their view (operators learn nothing: the closer knows).
  sessionClosedByOperator: andSupervisors(({ session }) => clientOf(session)),
  /** With the session as it was before it left its operators. */
  chatSessionDeleted: andSupervisors(operators),
  chatSessionStarted: andSupervisors(queue),
  chatSessionSwitchedFromBotToOperator: andSupervisors(queue),
  chatSessionAssigned: andSupervisors(queue),
  operatorNotFound: andSupervisors(queue),
  chatSessionAdded: andSupervisors(operator),
  chatUserExists: operator,
  operatorBlocked: operator,
  operatorLoggedOut: operator,
  operatorStatusChanged: andSupervisors(operator),
  // `operatorId`: who held the session when it was rated (a closed session has no operators' side of its own).
  sessionRated: andSupervisors(operator),
}

export function channelsOf(event: EventName, subject: Subject): string[] {
  return AUDIENCE[event](subject)
}
