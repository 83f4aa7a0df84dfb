/** Operators: creation, logins (single login), block, logout, and who a token belongs to. */
import { jwtVerify } from 'jose'
import { DISCONNECT, QUEUE_CHANNEL, operatorChannel, operatorUser } from './channels.js'
import type { DomainContext } from './context.js'
import { DomainError } from './errors.js'
import { hashToken, newId, newToken } from './tokens.js'
import { loadOperators, type Operator, type Page } from './views.js'
import type { Db } from '../store/db.js'

export interface OperatorAuth {
  operatorId: string
  name: string
}

export class Operators {
  constructor(private readonly ctx: DomainContext) {}

  private async withOnline(ops: Array<Omit<Operator, 'online'>>): Promise<Operator[]> {
    return Promise.all(
      ops.map(async (o) => ({ ...o, online: (await this.ctx.live.connectionCount(operatorChannel(o.id))) > 0 })),
    )
  }

  async get(id: string, db: Db = this.ctx.db): Promise<Operator> {
    const [op] = await loadOperators(db, 'o.id = $1', [id])
    if (!op) throw new DomainError('not_found', `operator ${id} not found`)
    return (await this.withOnline([op]))[0]
  }

  async list(opts: { limit: number; cursor?: string }): Promise<Page<Operator>> {
    const params: unknown[] = [opts.limit + 1]
    let where = 'true'
    if (opts.cursor) {
      const [c] = await this.ctx.db.query<any>(`SELECT created_at FROM operators WHERE id = $1`, [opts.cursor])
      if (!c) throw new DomainError('bad_request', 'unknown cursor', 'cursor')
      params.push(c.created_at, opts.cursor)
      where = '(o.created_at, o.id) > ($2, $3)'
    }
    const rows = await loadOperators(this.ctx.db, where, params, 'LIMIT $1')
    const more = rows.length > opts.limit
    const items = await this.withOnline(rows.slice(0, opts.limit))
    return { items, nextCursor: more ? items[items.length - 1].id : null }
  }

  async create(input: { name: string; maxChats?: number }): Promise<Operator> {
    const id = newId()
    await this.ctx.db.query(`INSERT INTO operators (id, name, max_chats) VALUES ($1, $2, $3)`, [
      id,
      input.name,
      input.maxChats ?? this.ctx.config.defaultMaxChats,
    ])
    return this.get(id)
  }

  /** A higher maxChats frees room, so the queue drains. */
  async update(id: string, input: { name?: string; maxChats?: number }): Promise<Operator> {
    await this.ctx.mutator.run(async (tx, out) => {
      const [row] = await tx.query<any>(
        `UPDATE operators SET name = COALESCE($2, name), max_chats = COALESCE($3, max_chats) WHERE id = $1 RETURNING id`,
        [id, input.name ?? null, input.maxChats ?? null],
      )
      if (!row) throw new DomainError('not_found', `operator ${id} not found`)
      await this.ctx.drain(tx, out)
    })
    return this.get(id)
  }

  /** A new login: earlier logins get `chatUserExists`, then are revoked and disconnected. */
  async issueToken(id: string, login: { userAgent?: string; ip?: string } = {}): Promise<{ token: string; expiresAt: string }> {
    const token = newToken('op')
    const expiresAt = new Date(Date.now() + this.ctx.config.tokenTtlMs)
    await this.ctx.mutator.run(async (tx, out) => {
      const [op] = await tx.query<any>(`SELECT blocked FROM operators WHERE id = $1`, [id])
      if (!op) throw new DomainError('not_found', `operator ${id} not found`)
      if (op.blocked) throw new DomainError('conflict', 'operator is blocked')
      const revoked = await tx.query(
        `UPDATE operator_tokens SET revoked_at = now() WHERE operator_id = $1 AND revoked_at IS NULL AND expires_at > now() RETURNING token_hash`,
        [id],
      )
      await tx.query(
        `INSERT INTO operator_tokens (token_hash, operator_id, expires_at, user_agent, ip) VALUES ($1, $2, $3, $4, $5)`,
        [hashToken(token), id, expiresAt, login.userAgent ?? null, login.ip ?? null],
      )
      await tx.query(`UPDATE operators SET tokens_valid_after = now() WHERE id = $1`, [id])
      const connected = (await this.ctx.live.connectionCount(operatorChannel(id))) > 0
      if (revoked.length > 0 || connected) {
        // The new login has not connected yet: everyone on the personal channel now is an earlier login.
        out.publish(operatorChannel(id), 'chatUserExists', {
          id,
          at: new Date().toISOString(),
          userAgent: login.userAgent ?? null,
          ip: login.ip ?? null,
        })
        out.disconnect(operatorUser(id), DISCONNECT.loggedInElsewhere.code, DISCONNECT.loggedInElsewhere.reason)
      }
    })
    return { token, expiresAt: expiresAt.toISOString() }
  }

  /** `operatorBlocked` to every connection, then a terminal disconnect; held sessions go back to the queue. */
  async block(id: string, reason?: string): Promise<Operator> {
    await this.ctx.mutator.run(async (tx, out) => {
      const [row] = await tx.query<any>(`UPDATE operators SET blocked = true, blocked_reason = $2 WHERE id = $1 RETURNING id`, [
        id,
        reason ?? null,
      ])
      if (!row) throw new DomainError('not_found', `operator ${id} not found`)
      out.publish(operatorChannel(id), 'operatorBlocked', { id, reason: reason ?? null, at: new Date().toISOString() })
      out.disconnect(operatorUser(id), DISCONNECT.blocked.code, DISCONNECT.blocked.reason)
      const requeued = await tx.query<any>(
        `UPDATE sessions SET status = 'queued', bot_status = 'HELP', previous_operator_id = operator_id, operator_id = NULL,
                queue_seq = COALESCE(queue_seq, nextval('session_queue_seq'))
          WHERE operator_id = $1 AND status = 'assigned' RETURNING id, chat_id`,
        [id],
      )
      for (const s of requeued) {
        out.publish(QUEUE_CHANNEL, 'operatorNotFound', {
          botStatus: 'HELP',
          chatId: s.chat_id,
          operatorType: 'operator',
          sessionId: s.id,
          status: 'queued',
        })
      }
      await this.ctx.drain(tx, out)
    })
    return this.get(id)
  }

  async unblock(id: string): Promise<Operator> {
    const [row] = await this.ctx.db.query<any>(`UPDATE operators SET blocked = false, blocked_reason = NULL WHERE id = $1 RETURNING id`, [id])
    if (!row) throw new DomainError('not_found', `operator ${id} not found`)
    return this.get(id)
  }

  /** Every token of the operator is revoked; `operatorLoggedOut` to every connection, then they close. */
  async logout(id: string, reason = 'logged out'): Promise<void> {
    await this.ctx.mutator.run(async (tx, out) => {
      await tx.query(`UPDATE operator_tokens SET revoked_at = now() WHERE operator_id = $1 AND revoked_at IS NULL`, [id])
      await tx.query(`UPDATE operators SET tokens_valid_after = now() WHERE id = $1`, [id])
      out.publish(operatorChannel(id), 'operatorLoggedOut', { id, at: new Date().toISOString(), reason })
      out.disconnect(operatorUser(id), DISCONNECT.loggedOut.code, DISCONNECT.loggedOut.reason)
    })
  }

  /** The operator a bearer token belongs to; unauthorized when wrong, revoked, expired or blocked. */
  async authenticate(token: unknown): Promise<OperatorAuth> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      throw new DomainError('unauthorized', 'missing or malformed operator token')
    }
    let row: any
    if (this.ctx.config.operatorJwtSecret && token.split('.').length === 3) {
      row = await this.fromJwt(token)
    } else {
      ;[row] = await this.ctx.db.query<any>(
        `SELECT o.id, o.name, o.blocked FROM operator_tokens t JOIN operators o ON o.id = t.operator_id
          WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()`,
        [hashToken(token)],
      )
    }
    if (!row) throw new DomainError('unauthorized', 'invalid, expired or revoked operator token')
    if (row.blocked) throw new DomainError('unauthorized', 'operator is blocked')
    return { operatorId: row.id, name: row.name }
  }

  /** JWTs cannot be revoked one by one: a logout or a new login refuses every JWT issued before it. */
  private async fromJwt(token: string): Promise<any> {
    let claims
    try {
      ;({ payload: claims } = await jwtVerify(token, new TextEncoder().encode(this.ctx.config.operatorJwtSecret), {
        algorithms: ['HS256'],
      }))
    } catch {
      return undefined
    }
    if (typeof claims.sub !== 'string') return undefined
    const [row] = await this.ctx.db.query<any>(
      `SELECT o.id, o.name, o.blocked, o.tokens_valid_after FROM operators o WHERE o.id = $1`,
      [claims.sub],
    )
    if (!row) return undefined
    // `iat` has whole seconds: a JWT issued in the same second as a logout, before it, still passes.
    if (row.tokens_valid_after && (claims.iat ?? 0) * 1000 < new Date(row.tokens_valid_after).getTime() - 999) return undefined
    return row
  }
}
