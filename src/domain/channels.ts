/** Users, channels and disconnect codes of the domain on the gateway. Documented in docs/domain.md. */

/** The gateway user of an operator's connections; one per operator, every login. */
export const operatorUser = (operatorId: string) => `operator:${operatorId}`
/** The gateway user of a client's widget connections. */
export const clientUser = (clientId: string) => `client:${clientId}`

/** Personal: every event addressed to this operator. */
export const operatorChannel = (operatorId: string) => `operator:${operatorId}`
/** Shared by all operators: sessions any operator may take (the queue audience). */
export const QUEUE_CHANNEL = 'operators:queue'
/** A group's queue: its sessions waiting for one of its members (each member's console is subscribed server-side). */
export const groupQueueChannel = (groupId: string) => `operators:queue:${groupId}`
/** Supervisors: every session event operators see, and every operatorStatusChanged. */
export const SUPERVISORS_CHANNEL = 'operators:supervisors'
/** The widget's channel: what the client sees of its chat. */
export const clientChannel = (clientId: string) => `client:${clientId}`

/** Terminal disconnect codes (4500–4999: the SDK does not reconnect). */
export const DISCONNECT = {
  blocked: { code: 4501, reason: 'operator blocked' },
  loggedInElsewhere: { code: 4502, reason: 'logged in elsewhere' },
  loggedOut: { code: 4503, reason: 'logged out' },
} as const
