/** `POST /api/v1/sessions/{id}/transfer`: the holder, a supervisor or the API key moves a session (src/domain/transfers.ts). */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type, type TSchema } from 'typebox'
import type { Domain } from '../domain/index.js'
import { MAX_TRANSFER_NOTE, type Transferrer } from '../domain/transfers.js'
import type { Auth } from './api-v1-auth.js'
import * as S from './api-v1-schemas.js'

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorBody]))
const Id = Type.String({ minLength: 1, maxLength: 200 })
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

export const TransferBody = Type.Object({
  operatorId: Type.Optional(Id),
  groupId: Type.Optional(Id),
  queue: Type.Optional(Type.Literal(true)),
  note: Type.Optional(Type.String({ maxLength: MAX_TRANSFER_NOTE, description: 'for operators only; never sent to the client' })),
}, { additionalProperties: false, description: 'exactly one target: operatorId, groupId or queue: true' })

export const SessionTransfer = Type.Object({
  by: Type.Object({ id: Nullable(Type.String()), name: Nullable(Type.String()), type: Type.String({ description: 'operator (the holder), supervisor or api' }) }),
  fromOperatorId: Nullable(Type.String()),
  toOperatorId: Nullable(Type.String({ description: 'who holds it now; null while it waits in the queue' })),
  toGroupId: Nullable(Type.String()),
  note: Nullable(Type.String()),
})

const TransferRecord = Type.Object({ ...SessionTransfer.properties, toQueue: Type.Boolean(), at: Type.String({ format: 'date-time' }) })

const TransferredSession = Type.Object({ ...S.ChatSession.properties, transfer: SessionTransfer })

/** Registers the route on the /api/v1 instance, so it shares its error handler, body parser and limits. */
export function transferRoutes(app: FastifyInstance, deps: { domain: Domain; auth: Auth }): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  const { domain, auth } = deps

  api.get('/sessions/:id/transfers', {
    preValidation: auth.apiKeyOrOperator,
    schema: {
      tags: ['sessions'],
      summary: "A session's transfers with their notes, oldest first (API key, supervisors, its holder or previous holder)",
      security: [{ apiKey: [] }, { operatorToken: [] }],
      params: S.IdParams,
      response: { 200: Type.Object({ items: Type.Array(TransferRecord) }), ...errors(401, 403, 404) },
    },
  }, async (req) => ({ items: await domain.transfers.list(transferrer(auth, req), req.params.id) }))

  api.post('/sessions/:id/transfer', {
    preValidation: auth.apiKeyOrOperator,
    schema: {
      tags: ['sessions'],
      summary:
        'Transfer a session to an operator (who must be online, not blocked, under maxChats: else 409 target_unavailable), ' +
        'to a group or to the queue: chatSessionDeleted to the old holder, chatSessionAdded to the new one, both with transfer',
      security: [{ apiKey: [] }, { operatorToken: [] }],
      params: S.IdParams,
      body: TransferBody,
      response: { 200: TransferredSession, ...errors(400, 401, 403, 404, 409, 413) },
    },
  }, async (req) => domain.transfers.transfer(transferrer(auth, req), req.params.id, req.body))
}

function transferrer(auth: Auth, req: FastifyRequest): Transferrer {
  const p = auth.of(req)
  return p.kind === 'operator' ? { kind: 'operator', operatorId: p.operator.operatorId } : { kind: 'apiKey' }
}
