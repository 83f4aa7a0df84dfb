/** Credentials of /api/v1: the API key, operator tokens and client tokens, all as `Authorization: Bearer`. */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Domain } from '../domain/index.js'
import { DomainError } from '../domain/errors.js'
import type { OperatorAuth } from '../domain/operators.js'
import type { Client } from '../domain/views.js'

export type Principal = { kind: 'apiKey' } | { kind: 'operator'; operator: OperatorAuth } | { kind: 'client'; client: Client }

const digest = (s: string) => createHash('sha256').update(s).digest()

export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization
  if (typeof h !== 'string') return undefined
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h)
  return m?.[1]
}

export class Auth {
  private readonly principals = new WeakMap<FastifyRequest, Principal>()
  private readonly keyDigest: Buffer

  constructor(
    private readonly domain: Domain,
    apiKey: string,
  ) {
    this.keyDigest = digest(apiKey)
  }

  /** Constant time whatever the length of the guess. */
  isApiKey(token: string | undefined): boolean {
    return token !== undefined && timingSafeEqual(digest(token), this.keyDigest)
  }

  /** preValidation hooks: credentials are checked before the body, so a stranger learns nothing from 400s. */
  apiKey = async (req: FastifyRequest) => {
    if (!this.isApiKey(bearer(req))) throw new DomainError('unauthorized', 'this endpoint needs the API key as Authorization: Bearer')
    this.principals.set(req, { kind: 'apiKey' })
  }

  operator = async (req: FastifyRequest) => {
    const token = bearer(req)
    if (!token) throw new DomainError('unauthorized', 'this endpoint needs an operator token as Authorization: Bearer')
    this.principals.set(req, { kind: 'operator', operator: await this.domain.operators.authenticate(token) })
  }

  client = async (req: FastifyRequest) => {
    const token = bearer(req)
    if (!token) throw new DomainError('unauthorized', 'this endpoint needs a client token as Authorization: Bearer')
    this.principals.set(req, { kind: 'client', client: await this.domain.clients.authenticate(token) })
  }

  apiKeyOrOperator = async (req: FastifyRequest) => {
    if (this.isApiKey(bearer(req))) this.principals.set(req, { kind: 'apiKey' })
    else await this.operator(req)
  }

  /** A preValidation hook: the API key, or an operator token of a supervisor; another operator gets 403 `refusal`. */
  apiKeyOrSupervisor(refusal: string): (req: FastifyRequest) => Promise<void> {
    return async (req) => {
      await this.apiKeyOrOperator(req)
      const p = this.of(req)
      if (p.kind === 'operator' && (await this.domain.availability.get(p.operator.operatorId)).role !== 'supervisor') {
        throw new DomainError('forbidden', refusal)
      }
    }
  }

  of(req: FastifyRequest): Principal {
    const p = this.principals.get(req)
    if (!p) throw new DomainError('unauthorized', 'not authenticated')
    return p
  }

  operatorOf(req: FastifyRequest): OperatorAuth {
    const p = this.of(req)
    if (p.kind !== 'operator') throw new DomainError('unauthorized', 'operator token required')
    return p.operator
  }

  clientOf(req: FastifyRequest): Client {
    const p = this.of(req)
    if (p.kind !== 'client') throw new DomainError('unauthorized', 'client token required')
    return p.client
  }
}
