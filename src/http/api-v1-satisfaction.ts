/**
 * The routes of /api/v1 for issue 16's satisfaction: the widget rates its own closed session
 * (POST /widget/sessions/{id}/rating), and the reports (GET /reports: the API key or a supervisor).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { Domain } from '../domain/index.js'
import { RATING_COMMENT_MAX, reportPeriod } from '../domain/satisfaction.js'
import type { Auth } from './api-v1-auth.js'
import * as S from './api-v1-schemas.js'

const API_KEY = [{ apiKey: [] }]
const OPERATOR = [{ operatorToken: [] }]
const CLIENT = [{ clientToken: [] }]
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorBody]))
const Closed = { additionalProperties: false } as const
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
const Seconds = Nullable(Type.Number({ description: 'seconds; null when there is nothing to measure' }))

export const RatingBody = Type.Object({
  score: Type.Integer({ minimum: 1, maximum: 5, description: '1 (bad) to 5 (good)' }),
  comment: Type.Optional(Nullable(Type.String({ maxLength: RATING_COMMENT_MAX }))),
}, Closed)

export const SessionRated = Type.Object({
  sessionId: Type.String(),
  chatId: Type.String(),
  clientId: Type.String(),
  operatorId: Nullable(Type.String({ description: 'who held the session when it was rated' })),
  groupId: Nullable(Type.String()),
  score: Type.Integer(),
  comment: Nullable(Type.String()),
  ratedAt: Type.String({ description: 'ISO 8601 UTC' }),
})

const Durations = Type.Object({ count: Type.Integer(), avgSec: Seconds, p50Sec: Seconds, p90Sec: Seconds })
const Figures = {
  sessions: Type.Integer({ description: 'sessions the operator held at their close (or holds now); a group: its sessions an operator held' }),
  firstResponse: Type.Object(Durations.properties, { description: 'from the moment a session first asked for people to the first operator message (not a note)' }),
  answers: Type.Object(Durations.properties, { description: 'from a client message (the oldest one waiting) to the next operator message' }),
  ratings: Type.Object({
    count: Type.Integer(),
    avg: Nullable(Type.Number()),
    distribution: Type.Object({ 1: Type.Integer(), 2: Type.Integer(), 3: Type.Integer(), 4: Type.Integer(), 5: Type.Integer() }),
  }),
}
export const ReportQuery = Type.Object({
  from: Type.Optional(Type.String({ description: 'ISO 8601 date or date-time with a zone; sessions started at or after it (default: 7 days before to)' })),
  to: Type.Optional(Type.String({ description: 'ISO 8601 date or date-time with a zone; sessions started before it (default: now)' })),
  groupBy: Type.Optional(Type.Union([Type.Literal('operator'), Type.Literal('group')], { default: 'operator' })),
}, Closed)
export const Report = Type.Object({
  from: Type.String(),
  to: Type.String(),
  groupBy: Type.String(),
  items: Type.Array(Type.Object({
    operatorId: Type.Optional(Type.String()),
    groupId: Type.Optional(Nullable(Type.String({ description: 'null: sessions of no group' }))),
    name: Nullable(Type.String()),
    ...Figures,
  })),
  total: Type.Object(Figures),
})

export function satisfactionRoutes(app: FastifyInstance, deps: { domain: Domain; auth: Auth }): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  const { domain, auth } = deps

  const apiKeyOrSupervisor = auth.apiKeyOrSupervisor('reports need the API key or a supervisor')

  api.post('/widget/sessions/:id/rating', {
    preValidation: auth.client,
    schema: {
      tags: ['widget'],
      summary: 'Rate my closed session, once (sessionRated to the operator who held it and the supervisors)',
      security: CLIENT,
      params: S.IdParams,
      body: RatingBody,
      response: { 201: SessionRated, ...errors(400, 401, 404, 409, 413) },
    },
  }, async (req, reply) => reply.code(201).send(await domain.satisfaction.rate(auth.clientOf(req).id, req.params.id, req.body)))

  api.get('/reports', {
    preValidation: apiKeyOrSupervisor,
    schema: {
      tags: ['reports'],
      summary: 'First-response time, answer times and ratings per operator or group, of the sessions started in [from, to)',
      security: [...API_KEY, ...OPERATOR],
      querystring: ReportQuery,
      response: { 200: Report, ...errors(400, 401, 403) },
    },
  }, async (req) => {
    const { from, to } = reportPeriod(req.query)
    return domain.satisfaction.report(from, to, req.query.groupBy ?? 'operator')
  })
}
