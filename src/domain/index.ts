/**
 * The operator-chat domain: operators, clients, sessions, messages, routing and the queue. It produces the
 * events of events.ts and reaches the gateway only through `LiveGateway` (ports.ts).
 */
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { Db } from '../store/db.js'
import { clientById, typingTarget } from '../store/chat.js'
import { sessionFigures, type SessionFigures } from '../store/figures.js'
import type { ConnectionCredentials } from '../store/credentials.js'
import { clientChannel, clientUser, operatorUser } from './channels.js'
import { channelsOf } from './audience.js'
import { ClientPresence, Clients } from './clients.js'
import { DEFAULT_DOMAIN_CONFIG, type DomainConfig } from './config.js'
import { DomainContext, openSessionOfChat } from './context.js'
import { assertOperatorCredentials, connectionCredentials, RevocationSweep } from './credentials.js'
import { DomainError } from './errors.js'
import { IdempotentRequests } from './idempotency.js'
import { OperatorPresence } from './operator-presence.js'
import { Availability } from './availability.js'
import { consoleChannels, Groups } from './groups.js'
import { CannedReplies } from './canned.js'
import { Satisfaction } from './satisfaction.js'
import { History } from './history.js'
import { ClientTypingRpc, OperatorTypingRpc, rpcPayload } from './rpc-input.js'
import { Operators } from './operators.js'
import type { LiveGateway } from './ports.js'
import { Reassignment } from './reassignment.js'
import { Sessions } from './sessions.js'
import { TimerSweeper } from './timers.js'
import { Transfers } from './transfers.js'
import { Typing } from './typing.js'
import { Webhooks } from './webhooks.js'

export { DEFAULT_DOMAIN_CONFIG, type DomainConfig } from './config.js'
export { DomainError } from './errors.js'
export type * from './events.js'

export interface ConnectionIdentity {
  user: string
  channels: string[]
  info?: unknown
  expireAt?: number
  meta: unknown
}

/** What a connection is to the domain; kept by the gateway as the connection's `meta`. */
export type ConnectionMeta =
  | { kind: 'operator'; operatorId: string; credentials?: ConnectionCredentials }
  | { kind: 'client'; clientId: string }

export interface Domain {
  /** Connect of an SDK: `application` 'notifications' (operator) or 'widget' (client); throws DomainError('unauthorized'). */
  authenticate(input: { application?: unknown; token?: unknown; remoteAddress?: string; userAgent?: string }): Promise<ConnectionIdentity>
  /**
   * A `refresh` of connection `client` with a new token of the same operator or client: its new expiry (unix
   * seconds; absent: none). Throws DomainError (token_expired, unauthorized).
   */
  refresh(meta: unknown, client: string, token: unknown): Promise<{ expireAt?: number }>
  /** RPCs over the socket: `typing` — operators with `{ chatId }`, the widget with `{ text? }`. Throws DomainError. */
  rpc(meta: unknown, method: string, data: unknown): Promise<unknown>
  /**
   * A connection authenticated by `authenticate` is live / has closed (drives presence, routing, typing stop).
   * The promise settles when the domain has recorded it; it never rejects (failures are logged).
   */
  connectionOpened(meta: unknown, client: string): Promise<void>
  connectionClosed(meta: unknown, client: string): Promise<void>
  close(): Promise<void>
  /** The services behind the HTTP API. */
  readonly operators: Operators
  readonly clients: Clients
  readonly sessions: Sessions
  /** Operators' status (online/away/offline) and the supervisors' overview. */
  readonly availability: Availability
  /** Groups of operators: members, fallback, working hours. */
  readonly groups: Groups
  /** Canned replies: shared and each operator's own (issue 16). */
  readonly canned: CannedReplies
  /** Ratings of closed sessions by their clients, and the reports (issue 16). */
  readonly satisfaction: Satisfaction
  /** Clients' earlier sessions and message search (issue 16). */
  readonly history: History
  /** Moving a session to an operator, a group or the queue (POST /sessions/{id}/transfer). */
  readonly transfers: Transfers
  /** Idempotency-Key of requests that create clients and operators. */
  readonly requests: IdempotentRequests
  /** Outbound webhooks: endpoints, their delivery log, and the sender (issue 16). */
  readonly webhooks: Webhooks
  /** Client typing (HTTP or widget RPC): to the operator holding the session. */
  clientTyping(clientId: string, text?: string | null): Promise<{ until: string | null }>
  /** Open sessions by state and busy operators, across every node (the admin page's figures). */
  figures(): Promise<SessionFigures>
}

export async function createDomain(deps: { db: Db; live: LiveGateway; config: DomainConfig; log: Logger; nodeId: string }): Promise<Domain> {
  // Unique per process: a node restarted under the same NODE_ID never mistakes its predecessor's connections for its own.
  const presenceId = `${deps.nodeId}/${randomBytes(4).toString('hex')}`
  const ctx = new DomainContext(deps.db, deps.live, { ...DEFAULT_DOMAIN_CONFIG, ...deps.config }, deps.log, presenceId)
  const typing = new Typing(ctx)
  const operators = new Operators(ctx)
  const clients = new Clients(ctx)
  const sessions = new Sessions(ctx, typing)
  const presence = new ClientPresence(ctx, clients)
  const timers = new TimerSweeper(ctx, typing, clients)
  timers.start()
  const reassignment = new Reassignment(ctx)
  reassignment.start()
  const groups = new Groups(ctx)
  const availability = new Availability(ctx, groups)
  availability.start()
  const operatorPresence = new OperatorPresence(ctx)
  await operatorPresence.start()
  const revocations = new RevocationSweep(ctx)
  revocations.start()
  ctx.publisher.start()
  const webhooks = new Webhooks(ctx)
  await webhooks.start()
  const background = new Set<Promise<unknown>>()
  let closed = false

  /** Fire-and-forget work tied to connection life; errors are logged, close() waits for it. */
  const track = (what: string, p: Promise<unknown>): Promise<void> => {
    const done = p.then(() => {}, (err) => ctx.log.error({ err }, `${what} failed`)).finally(() => background.delete(done))
    background.add(done)
    return done
  }

  async function clientTyping(clientId: string, text?: string | null): Promise<{ until: string | null }> {
    const client = await clientById(ctx.db, clientId)
    if (!client) throw new DomainError('not_found', `client ${clientId} not found`)
    const session = await openSessionOfChat(ctx.db, client.chat_id)
    if (!session) throw new DomainError('conflict', 'the client has no open session')
    const author = { type: 'client' as const, id: clientId, name: client.name }
    const channels = channelsOf('typing', { session, by: 'client' })
    const until = await typing.start(channels, {
      chatId: client.chat_id,
      sessionId: session.id,
      clientId,
      text: text ?? null,
      author,
    })
    return { until }
  }

  const operatorTypingPayload = rpcPayload(OperatorTypingRpc)
  const clientTypingPayload = rpcPayload(ClientTypingRpc)

  async function operatorTyping(operatorId: string, data: unknown): Promise<Record<string, never>> {
    const { chatId } = operatorTypingPayload(data)
    const row = await typingTarget(ctx.db, chatId, operatorId)
    if (!row) throw new DomainError('not_found', `chat ${chatId} not found`)
    if (row.status !== 'assigned' || row.operator_id !== operatorId) throw new DomainError('forbidden', 'you may not write to this chat')
    const author = { type: 'operator' as const, id: operatorId, name: row.operator_name as string }
    const channels = channelsOf('typing', { session: { status: row.status, operator_id: row.operator_id, client_id: row.client_id }, by: 'operator' })
    await typing.start(channels, { chatId, sessionId: row.session_id, clientId: row.client_id, text: null, author })
    return {}
  }

  return {
    operators,
    clients,
    sessions,
    availability,
    groups,
    canned: new CannedReplies(ctx),
    satisfaction: new Satisfaction(ctx),
    history: new History(ctx),
    transfers: new Transfers(ctx),
    requests: new IdempotentRequests(ctx),
    webhooks,
    clientTyping,
    figures: () => sessionFigures(ctx.db),

    async authenticate(input) {
      if (input.application === 'notifications') {
        const op = await operators.authenticate(input.token)
        const meta: ConnectionMeta = { kind: 'operator', operatorId: op.operatorId, credentials: connectionCredentials(op) }
        return {
          // The gateway closes the connection at its token's expiry (after its refresh grace).
          expireAt: op.expiresAt.getTime() / 1000,
          user: operatorUser(op.operatorId),
          // Its own, the shared queue, its groups' queues, and the supervisors' for a supervisor.
          channels: await consoleChannels(ctx.db, op.operatorId),
          info: { kind: 'operator', name: op.name },
          meta,
        }
      }
      if (input.application === 'widget') {
        const client = await clients.authenticate(input.token)
        const meta: ConnectionMeta = { kind: 'client', clientId: client.id }
        return { user: clientUser(client.id), channels: [clientChannel(client.id)], info: { kind: 'client', name: client.name }, meta }
      }
      throw new DomainError('unauthorized', "data.application must be 'notifications' or 'widget'")
    },

    async refresh(meta, client, token) {
      const who = meta as ConnectionMeta
      if (who?.kind === 'operator') {
        const op = await operators.authenticate(token)
        if (op.operatorId !== who.operatorId) throw new DomainError('unauthorized', 'the token is of another operator')
        who.credentials = connectionCredentials(op)
        // Routing and the sweep go by the new token from now on.
        await operatorPresence.refreshed(client, who.credentials)
        return { expireAt: op.expiresAt.getTime() / 1000 }
      }
      if (who?.kind === 'client') {
        if ((await clients.authenticate(token)).id !== who.clientId) throw new DomainError('unauthorized', 'the token is of another client')
        return {}
      }
      throw new DomainError('unauthorized', 'this connection cannot be refreshed')
    },

    async rpc(meta, method, data) {
      const who = meta as ConnectionMeta
      // An operator's token that expired or was revoked acts no more, even before its socket is closed.
      if (who?.kind === 'operator') await assertOperatorCredentials(ctx, who.operatorId, who.credentials ?? {})
      if (method !== 'typing') throw new DomainError('not_found', `unknown method ${method}`, 'method')
      if (who?.kind === 'operator') return operatorTyping(who.operatorId, data)
      if (who?.kind === 'client') {
        // No data at all is a typing notice without a draft.
        const { text } = clientTypingPayload(data ?? {})
        await clientTyping(who.clientId, text ?? null)
        return {}
      }
      throw new DomainError('forbidden', 'this connection may not call methods')
    },

    async connectionOpened(meta, client) {
      if (closed) return
      const who = meta as ConnectionMeta
      if (who?.kind === 'operator') await track('operator online', operatorPresence.opened(who.operatorId, client, who.credentials))
      else if (who?.kind === 'client') await track('client online', presence.opened(who.clientId))
    },

    async connectionClosed(meta, client) {
      if (closed) return
      const who = meta as ConnectionMeta
      if (who?.kind === 'operator') {
        await Promise.all([
          track('typing stop', typing.stop({ type: 'operator', id: who.operatorId })),
          track('operator offline', operatorPresence.closed(client)),
        ])
      } else if (who?.kind === 'client') {
        await Promise.all([
          track('client offline grace', presence.closed(who.clientId)),
          track('client token use', clients.tokenUsed(who.clientId)),
          track('typing stop', typing.stop({ type: 'client', id: who.clientId })),
        ])
      }
    },

    async close() {
      closed = true
      await Promise.all([timers.close(), reassignment.close(), availability.close(), revocations.stop(), webhooks.close()])
      await Promise.all([...background])
      const allPublished = await ctx.publisher.close()
      await operatorPresence.close(allPublished).catch((err) => ctx.log.warn({ err }, 'leaving the presence record failed'))
    },
  }
}
