/**
 * The routes of /api/v1 for issue 16's canned replies: the API key manages the shared ones, an operator its own
 * (a supervisor the shared ones too); an operator lists the shared ones and its own.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { Domain } from '../domain/index.js'
import type { CannedActor } from '../domain/canned.js'
import type { Auth } from './api-v1-auth.js'
import * as S from './api-v1-schemas.js'

const API_KEY = [{ apiKey: [] }]
const OPERATOR = [{ operatorToken: [] }]
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorBody]))
const Closed = { additionalProperties: false } as const

const Shortcut = Type.String({ pattern: '^[a-z0-9_-]{1,32}$', description: 'typed after "/" in the composer; unique per owner' })
const Title = Type.String({ minLength: 1, maxLength: 200 })
const Text = Type.String({ minLength: 1, maxLength: 4000 })

export const CannedReply = Type.Object({
  id: Type.String(),
  shortcut: Type.String(),
  title: Type.String(),
  text: Type.String(),
  shared: Type.Boolean({ description: 'shared by every operator; false: the operator\'s own' }),
  operatorId: Type.Union([Type.String(), Type.Null()], { description: 'the owner of a personal reply' }),
  createdAt: Type.String({ description: 'ISO 8601 UTC' }),
  updatedAt: Type.String({ description: 'ISO 8601 UTC' }),
})
export const NewCannedReply = Type.Object({
  shortcut: Shortcut,
  title: Title,
  text: Text,
  shared: Type.Optional(Type.Boolean({ description: 'default: true with the API key, false for an operator (a supervisor may set true)' })),
}, Closed)
export const CannedReplyPatch = Type.Object({ shortcut: Type.Optional(Shortcut), title: Type.Optional(Title), text: Type.Optional(Text) }, Closed)

export function cannedRoutes(app: FastifyInstance, deps: { domain: Domain; auth: Auth }): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  const { domain, auth } = deps
  const actor = (req: FastifyRequest): CannedActor => {
    const p = auth.of(req)
    return p.kind === 'operator' ? { kind: 'operator', operatorId: p.operator.operatorId } : { kind: 'apiKey' }
  }
  const security = [...API_KEY, ...OPERATOR]

  api.get('/canned-replies', {
    preValidation: auth.apiKeyOrOperator,
    schema: {
      tags: ['canned'],
      summary: 'Canned replies: the shared ones (API key), or the shared ones and my own, my own first on a shortcut clash',
      security,
      response: { 200: Type.Object({ items: Type.Array(CannedReply) }), ...errors(401) },
    },
  }, async (req) => ({ items: await domain.canned.list(actor(req)) }))

  api.post('/canned-replies', {
    preValidation: auth.apiKeyOrOperator,
    schema: {
      tags: ['canned'],
      summary: 'Add a canned reply (shared: API key or a supervisor); 409 when the owner has the shortcut',
      security,
      body: NewCannedReply,
      response: { 201: CannedReply, ...errors(400, 401, 403, 409, 413) },
    },
  }, async (req, reply) => reply.code(201).send(await domain.canned.create(actor(req), req.body)))

  api.patch('/canned-replies/:id', {
    preValidation: auth.apiKeyOrOperator,
    schema: {
      tags: ['canned'],
      summary: 'Change a canned reply (my own; a shared one: API key or a supervisor)',
      security,
      params: S.IdParams,
      body: CannedReplyPatch,
      response: { 200: CannedReply, ...errors(400, 401, 403, 404, 409, 413) },
    },
  }, async (req) => domain.canned.update(actor(req), req.params.id, req.body))

  api.delete('/canned-replies/:id', {
    preValidation: auth.apiKeyOrOperator,
    schema: {
      tags: ['canned'],
      summary: 'Delete a canned reply (my own; a shared one: API key or a supervisor)',
      security,
      params: S.IdParams,
      response: { 204: Type.Null(), ...errors(401, 403, 404) },
    },
  }, async (req, reply) => {
    await domain.canned.remove(actor(req), req.params.id)
    return reply.code(204).send(null)
  })
}
