/** Operators: creation, logins (single login), block, logout, and who a token belongs to. */
import { heldSessions } from '../store/chat.js'
import { recordLogin, revokeOperatorTokens } from '../store/credentials.js'
import {
  blockOperator,
  insertOperator,
  onlineOperators,
  operatorBlocked,
  operatorCreatedAt,
  unblockOperator,
  updateOperator,
} from '../store/operators.js'
import { DISCONNECT, SUPERVISORS_CHANNEL, operatorUser } from './channels.js'
import type { DomainContext } from './context.js'
import { operatorOfJwt, operatorOfMintedToken, type OperatorCredential } from './credentials.js'
import { DomainError } from './errors.js'
import { transition } from './lifecycle.js'
import { hashToken, newId, newToken } from './tokens.js'
import { loadOperators, type Operator, type Page } from './views.js'
import type { Db } from '../store/db.js'

/** Who a token proves, and what the token is (its expiry, and how a revocation is recognised). */
export type OperatorAuth = OperatorCredential

export class Operators {
  constructor(private readonly ctx: DomainContext) {}

  /** Online as routing sees it: a live connection in the domain's presence record. */
  private async withOnline(ops: Array<Omit<Operator, 'online'>>, db: Db = this.ctx.db): Promise<Operator[]> {
    const online = await onlineOperators(db, ops.map((o) => o.id), this.ctx.config.nodeTtlMs)
    return ops.map((o) => ({ ...o, online: online.has(o.id) }))
  }

  async get(id: string, db: Db = this.ctx.db): Promise<Operator> {
    const [op] = await loadOperators(db, { id })
    if (!op) throw new DomainError('not_found', `operator ${id} not found`)
    return (await this.withOnline([op], db))[0]
  }

  async list(opts: { limit: number; cursor?: string }): Promise<Page<Operator>> {
    let after: { createdAt: Date; id: string } | undefined
    if (opts.cursor) {
      const createdAt = await operatorCreatedAt(this.ctx.db, opts.cursor)
      if (!createdAt) throw new DomainError('bad_request', 'unknown cursor', 'cursor')
      after = { createdAt, id: opts.cursor }
    }
    const rows = await loadOperators(this.ctx.db, { limit: opts.limit + 1, after })
    const more = rows.length > opts.limit
    const items = await this.withOnline(rows.slice(0, opts.limit))
    return { items, nextCursor: more ? items[items.length - 1].id : null }
  }

  async create(input: { name: string; maxChats?: number; role?: 'operator' | 'supervisor' }): Promise<Operator> {
    const id = newId()
    await insertOperator(this.ctx.db, {
      id,
      name: input.name,
      maxChats: input.maxChats ?? this.ctx.config.defaultMaxChats,
      role: input.role ?? 'operator',
    })
    return this.get(id)
  }

  /** A higher maxChats frees room, so the queue drains. A new role (re)subscribes live consoles to the supervisors' channel. */
  async update(id: string, input: { name?: string; maxChats?: number; role?: 'operator' | 'supervisor' }): Promise<Operator> {
    await this.ctx.mutator.run(async (tx, out) => {
      if (!(await updateOperator(tx, id, input))) throw new DomainError('not_found', `operator ${id} not found`)
      await this.ctx.drain(tx, out)
    }, { routes: true })
    if (input.role === 'supervisor') await this.ctx.live.subscribeUser?.(operatorUser(id), SUPERVISORS_CHANNEL).catch(() => {})
    if (input.role === 'operator') await this.ctx.live.unsubscribeUser?.(operatorUser(id), SUPERVISORS_CHANNEL).catch(() => {})
    return this.get(id)
  }

  /** A new login: earlier logins get `chatUserExists`, then are revoked and disconnected. */
  async issueToken(id: string, login: { userAgent?: string; ip?: string } = {}): Promise<{ token: string; expiresAt: string }> {
    const token = newToken('op')
    const expiresAt = new Date(Date.now() + this.ctx.config.tokenTtlMs)
    await this.ctx.mutator.run(async (tx, out) => {
      const blocked = await operatorBlocked(tx, id)
      if (blocked === undefined) throw new DomainError('not_found', `operator ${id} not found`)
      if (blocked) throw new DomainError('conflict', 'operator is blocked')
      // Before the revocation below: from it on, the earlier logins' connections no longer count as online.
      const connected = (await onlineOperators(tx, [id], this.ctx.config.nodeTtlMs)).has(id)
      const revoked = await recordLogin(tx, {
        operatorId: id,
        tokenHash: hashToken(token),
        expiresAt,
        userAgent: login.userAgent ?? null,
        ip: login.ip ?? null,
      })
      if (revoked.length > 0 || connected) {
        // The new login has not connected yet: everyone on the personal channel now is an earlier login.
        out.publish('chatUserExists', {
          id,
          at: new Date().toISOString(),
          userAgent: login.userAgent ?? null,
          ip: login.ip ?? null,
        }, { operatorId: id })
        out.disconnect(operatorUser(id), DISCONNECT.loggedInElsewhere.code, DISCONNECT.loggedInElsewhere.reason)
      }
    })
    return { token, expiresAt: expiresAt.toISOString() }
  }

  /** `operatorBlocked` to every connection, then a terminal disconnect; its tokens are revoked; held sessions go back to the queue. */
  async block(id: string, reason?: string): Promise<Operator> {
    await this.ctx.mutator.run(async (tx, out) => {
      if (!(await blockOperator(tx, id, reason ?? null))) throw new DomainError('not_found', `operator ${id} not found`)
      // A block ends every login: after an unblock the operator needs a new token.
      await revokeOperatorTokens(tx, id, 'block')
      out.publish('operatorBlocked', { id, reason: reason ?? null, at: new Date().toISOString() }, { operatorId: id })
      out.disconnect(operatorUser(id), DISCONNECT.blocked.code, DISCONNECT.blocked.reason)
      // Held sessions go back to the queue, keeping their place.
      for (const held of await heldSessions(tx, id)) {
        const s = await transition(tx, held, 'queued')
        out.publish('operatorNotFound', { botStatus: 'HELP', chatId: s.chat_id, operatorType: 'operator', sessionId: s.id, status: 'queued' }, { session: s })
      }
      await this.ctx.drain(tx, out)
    }, { routes: true })
    return this.get(id)
  }

  async unblock(id: string): Promise<Operator> {
    if (!(await unblockOperator(this.ctx.db, id))) throw new DomainError('not_found', `operator ${id} not found`)
    return this.get(id)
  }

  /** Every token of the operator is revoked; `operatorLoggedOut` to every connection, then they close. */
  async logout(id: string, reason = 'logged out'): Promise<void> {
    await this.ctx.mutator.run(async (tx, out) => {
      await revokeOperatorTokens(tx, id, 'logout')
      out.publish('operatorLoggedOut', { id, at: new Date().toISOString(), reason }, { operatorId: id })
      out.disconnect(operatorUser(id), DISCONNECT.loggedOut.code, DISCONNECT.loggedOut.reason)
    })
  }

  /** The operator a bearer token belongs to; unauthorized when wrong, revoked or blocked, token_expired when expired. */
  async authenticate(token: unknown): Promise<OperatorAuth> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      throw new DomainError('unauthorized', 'missing or malformed operator token')
    }
    // Minted tokens have no dots; JWTs are refused unless a secret is configured.
    if (this.ctx.config.operatorJwtSecret && token.split('.').length === 3) return operatorOfJwt(this.ctx, token)
    return operatorOfMintedToken(this.ctx, token)
  }
}
