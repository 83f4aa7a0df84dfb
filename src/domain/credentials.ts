/**
 * Credentials over time. An operator token (minted, or a JWT) has an expiry the gateway enforces on the live
 * connection, and is refused after a logout, a new login or a block: at HTTP auth, at connect, at refresh, on each
 * RPC, and by each node's sweep of its own connections (which also catches a revocation whose disconnect was lost,
 * or a connect that raced it). Routing counts a connection only while its credentials hold (store/credentials.ts).
 */
import { errors, jwtVerify } from 'jose'
import {
  mintedToken, operatorCredentialsHold, operatorForJwt, revokedConnections, type ConnectionCredentials, type Revocation,
} from '../store/credentials.js'
import { DISCONNECT } from './channels.js'
import type { DomainContext } from './context.js'
import { DomainError } from './errors.js'
import { Periodic } from './periodic.js'
import { hashToken } from './tokens.js'

/** An operator as a token proves it, with what the token was (kept with its connections). */
export interface OperatorCredential {
  operatorId: string
  name: string
  expiresAt: Date
  /** A minted token: its hash (its row says whether it is revoked). */
  tokenHash?: string
  /** A JWT: its `iat` less the clock leeway; revoked once the operator's tokens_valid_after reaches it. */
  tokenIssuedAt?: Date
}

/** The operator of a minted token; unauthorized when unknown, revoked or blocked, token_expired when expired. */
export async function operatorOfMintedToken(ctx: DomainContext, token: string): Promise<OperatorCredential> {
  const tokenHash = hashToken(token)
  const row = await mintedToken(ctx.db, tokenHash)
  if (!row || row.revoked) throw new DomainError('unauthorized', 'invalid or revoked operator token')
  if (row.blocked) throw new DomainError('unauthorized', 'operator is blocked')
  if (row.expired) throw new DomainError('token_expired', 'operator token expired')
  return { operatorId: row.id, name: row.name, expiresAt: new Date(row.expires_at), tokenHash }
}

/**
 * The operator of a JWT (HS256, `sub` = operator id). It must carry `exp` and `iat`, live at most `tokenTtlMs`
 * from `iat` to `exp`, have an `iat` at most the leeway ahead of our clock, and (after a logout, a new login or a
 * block) an `iat` more than the leeway after that revocation: a JWT minted before it is refused whatever `iat` it
 * carries within the leeway.
 */
export async function operatorOfJwt(ctx: DomainContext, token: string): Promise<OperatorCredential> {
  const { config } = ctx
  let claims
  try {
    ;({ payload: claims } = await jwtVerify(token, new TextEncoder().encode(config.operatorJwtSecret), { algorithms: ['HS256'] }))
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new DomainError('token_expired', 'operator JWT expired')
    throw new DomainError('unauthorized', 'invalid operator JWT')
  }
  if (typeof claims.sub !== 'string') throw new DomainError('unauthorized', 'operator JWT must carry sub (the operator id)')
  if (typeof claims.exp !== 'number') throw new DomainError('unauthorized', 'operator JWT must carry exp')
  if (typeof claims.iat !== 'number') throw new DomainError('unauthorized', 'operator JWT must carry iat')
  const maxSec = config.tokenTtlMs / 1000
  if (claims.exp - claims.iat > maxSec) throw new DomainError('unauthorized', `operator JWT lives longer than ${maxSec} s (exp - iat)`)
  const leewaySec = config.operatorJwtLeewayMs / 1000
  if (claims.iat > Date.now() / 1000 + leewaySec) throw new DomainError('unauthorized', 'operator JWT iat is in the future')
  const row = await operatorForJwt(ctx.db, claims.sub)
  if (!row) throw new DomainError('unauthorized', 'invalid operator JWT')
  if (row.blocked) throw new DomainError('unauthorized', 'operator is blocked')
  const tokenIssuedAt = new Date((claims.iat - leewaySec) * 1000)
  if (row.tokens_valid_after && tokenIssuedAt.getTime() <= new Date(row.tokens_valid_after).getTime()) {
    throw new DomainError('unauthorized', 'operator JWT revoked by a later logout, login or block')
  }
  return { operatorId: row.id, name: row.name, expiresAt: new Date(claims.exp * 1000), tokenIssuedAt }
}

/** What a connection keeps of its credential (in its meta and its store row). */
export function connectionCredentials(c: OperatorCredential): ConnectionCredentials {
  return { expiresAt: c.expiresAt, tokenHash: c.tokenHash, tokenIssuedAt: c.tokenIssuedAt }
}

/** The terminal disconnect for a connection that outlived a revocation. */
export function revocationDisconnect(blocked: boolean, by: Revocation | null): { code: number; reason: string } {
  if (blocked || by === 'block') return DISCONNECT.blocked
  if (by === 'login') return DISCONNECT.loggedInElsewhere
  return DISCONNECT.loggedOut
}

/**
 * Refuses an action of an operator connection whose token expired (token_expired) or was revoked (unauthorized),
 * before its socket is closed (the gateway's refresh grace, or until the disconnect or the sweep reaches it).
 */
export async function assertOperatorCredentials(ctx: DomainContext, operatorId: string, c: ConnectionCredentials): Promise<void> {
  if (c.expiresAt && new Date(c.expiresAt).getTime() <= Date.now()) throw new DomainError('token_expired', 'operator token expired')
  const { holds } = await operatorCredentialsHold(ctx.db, operatorId, c)
  if (!holds) throw new DomainError('unauthorized', 'operator token revoked or operator blocked')
}

/**
 * Each node closes, every `revocationCheckMs`, its own operator connections whose credentials were revoked at least
 * `revocationGraceMs` ago. The revoking change's events and disconnect (through the broker, after its commit)
 * normally got there first; a sweep that came before them would cut a console before it heard why (operatorBlocked).
 */
export class RevocationSweep {
  private readonly periodic: Periodic

  constructor(private readonly ctx: DomainContext) {
    this.periodic = new Periodic(() => this.sweep(), ctx.config.revocationCheckMs, (err) => ctx.log.warn({ err }, 'revocation sweep failed'))
  }

  start(): void {
    if (this.ctx.live.closeConnection) this.periodic.start()
  }

  async sweep(): Promise<number> {
    const rows = await revokedConnections(this.ctx.db, this.ctx.nodeId, this.ctx.config.revocationGraceMs)
    for (const row of rows) {
      const d = revocationDisconnect(row.blocked, row.tokens_revoked_by)
      this.ctx.live.closeConnection?.(row.connection_id, d.code, d.reason)
    }
    return rows.length
  }

  stop(): Promise<void> {
    return this.periodic.stop()
  }
}
