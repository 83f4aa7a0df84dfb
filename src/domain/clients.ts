/** Clients (end users): creation with their widget token, lookup, and presence. */
import { clientById, clientOfToken, insertClient, setClientOnline, setClientToken } from '../store/chat.js'
import { touchClientToken } from '../store/credentials.js'
import { scheduleOffline } from '../store/timers.js'
import { openSessionOfChat, type DomainContext } from './context.js'
import { DomainError } from './errors.js'
import { groupIdOf } from './groups.js'
import type { Coordinates } from './events.js'
import { hashToken, newId, newToken } from './tokens.js'
import { clientView, type Client } from './views.js'

export interface NewClient {
  name?: string
  externalId?: string
  channel?: string
  messengerType?: string
  whatsappPhone?: string
  ip?: string
  referer?: string
  coordinates?: Coordinates
  /** The group (id or name) its sessions start in; unknown: 400 naming `group`. */
  group?: string
}

export class Clients {
  constructor(private readonly ctx: DomainContext) {}

  async create(input: NewClient): Promise<Client & { token: string }> {
    const id = newId()
    const token = newToken('cl')
    const groupId = input.group === undefined ? null : await groupIdOf(this.ctx.db, input.group)
    const row = await insertClient(this.ctx.db, {
      id,
      chat_id: newId(),
      name: input.name ?? `Client ${id.slice(0, 8)}`,
      external_id: input.externalId ?? null,
      channel: input.channel ?? 'widget',
      messenger_type: input.messengerType ?? null,
      whatsapp_phone: input.whatsappPhone ?? null,
      ip: input.ip ?? null,
      referer: input.referer ?? null,
      coordinates: input.coordinates ?? null,
      token_hash: hashToken(token),
      group_id: groupId,
    })
    return { ...clientView(row), token }
  }

  /** A new token for the client; the one before stops working (a retried sign-up whose first answer was lost). */
  async reissueToken(id: string): Promise<string> {
    const token = newToken('cl')
    if (!(await setClientToken(this.ctx.db, id, hashToken(token)))) throw new DomainError('not_found', `client ${id} not found`)
    return token
  }

  async get(id: string): Promise<Client> {
    const row = await clientById(this.ctx.db, id)
    if (!row) throw new DomainError('not_found', `client ${id} not found`)
    return clientView(row)
  }

  /**
   * The client a widget token belongs to; unauthorized otherwise, token_expired when unused for
   * `clientTokenIdleTtlMs`. A use marks the token used (at most once per `tokenUseResolutionMs`).
   */
  async authenticate(token: unknown): Promise<Client> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      throw new DomainError('unauthorized', 'missing or malformed client token')
    }
    const idleTtlMs = this.ctx.config.clientTokenIdleTtlMs
    const row = await clientOfToken(this.ctx.db, hashToken(token), { idleTtlMs, useResolutionMs: tokenUseResolutionMs(idleTtlMs) })
    if (!row) throw new DomainError('unauthorized', 'invalid client token')
    if (row.banned) throw new DomainError('unauthorized', 'client is banned')
    if (row.token_idle_expired) throw new DomainError('token_expired', 'client token expired: unused for too long')
    // Most uses only read: the write comes once the last one is older than the resolution.
    if (row.token_use_stale) await this.tokenUsed(row.id)
    return clientView(row)
  }

  /** Keeps an idle lifetime from running out under a client that uses its token (called when a widget connection closes too). */
  async tokenUsed(id: string): Promise<void> {
    if (this.ctx.config.clientTokenIdleTtlMs > 0) await touchClientToken(this.ctx.db, id, tokenUseResolutionMs(this.ctx.config.clientTokenIdleTtlMs))
  }

  /** Sets presence; a change produces clientOnline/clientOffline for the operators of the client's open session. */
  async setPresence(id: string, online: boolean): Promise<Client> {
    const chat = await this.ctx.chatKeys.client(id)
    return this.ctx.mutator.run(async (tx, out) => {
      const row = await setClientOnline(tx, id, online)
      if (!row) throw new DomainError('not_found', `client ${id} not found`)
      if (row.was_online === online) return clientView(row)
      const client = clientView(row)
      // Locked: the event goes to the session's audience as it is when this commits.
      const session = await openSessionOfChat(tx, client.chatId, true)
      if (session) {
        const data = { id, chatId: client.chatId, sessionId: session.id, at: (online ? client.onlineAt : client.offlineAt)! }
        out.publish(online ? 'clientOnline' : 'clientOffline', data, { session })
      }
      return client
    }, { chat })
  }
}

/**
 * Widget connections drive presence: online at the first; when one closes, offline is due after the grace
 * period (store/timers.ts), and any node's sweeper (timers.ts) sends it unless a connection came back meanwhile.
 */
export class ClientPresence {
  constructor(
    private readonly ctx: DomainContext,
    private readonly clients: Clients,
  ) {}

  async opened(clientId: string): Promise<void> {
    await this.clients.setPresence(clientId, true)
  }

  async closed(clientId: string): Promise<void> {
    await scheduleOffline(this.ctx.db, clientId, this.ctx.config.clientPresenceGraceMs)
  }
}

/** How stale a widget token's last use may be before a use writes it again: a hundredth of the idle lifetime, at most an hour. */
export const tokenUseResolutionMs = (idleTtlMs: number) => Math.min(3_600_000, Math.floor(idleTtlMs / 100))
