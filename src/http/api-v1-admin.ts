/**
 * The routes of /api/v1 the admin page needs beyond the operators' own (all with the API key): logging an
 * operator out from outside, and the domain's figures (the queue's length and who holds sessions).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { Domain } from '../domain/index.js'
import type { Auth } from './api-v1-auth.js'
import * as S from './api-v1-schemas.js'

const API_KEY = [{ apiKey: [] }]
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorBody]))

export const Figures = Type.Object({
  queued: Type.Integer({ description: 'sessions waiting in the queue' }),
  assigned: Type.Integer({ description: 'sessions held by an operator' }),
  bot: Type.Integer({ description: 'sessions the bot answers' }),
  busyOperators: Type.Integer({ description: 'operators holding at least one session' }),
})

/** Registers the routes on the /api/v1 instance, so they share its error handler, body parser and limits. */
export function adminRoutes(app: FastifyInstance, deps: { domain: Domain; auth: Auth }): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  const { domain, auth } = deps

  api.post('/operators/:id/logout', {
    preValidation: auth.apiKey,
    schema: {
      tags: ['operators'],
      summary: 'Log an operator out: operatorLoggedOut to every connection, which then close (4503); its tokens are revoked',
      security: API_KEY,
      params: S.IdParams,
      body: S.Reason,
      response: { 204: Type.Null(), ...errors(400, 401, 404, 413) },
    },
  }, async (req, reply) => {
    // 404 for an operator that does not exist, rather than revoking nothing quietly.
    await domain.operators.get(req.params.id)
    await domain.operators.logout(req.params.id, req.body.reason || 'logged out by an administrator')
    return reply.code(204).send(null)
  })

  api.get('/figures', {
    preValidation: auth.apiKey,
    schema: {
      tags: ['operators'],
      summary: 'Open sessions by state across every node: the queue length, held and bot sessions, busy operators',
      security: API_KEY,
      response: { 200: Figures, ...errors(401) },
    },
  }, async () => domain.figures())
}
