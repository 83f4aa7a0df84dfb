/** `GET /api/v1/clients/{id}/sessions` and `GET /api/v1/search/messages`: client history and search (src/domain/history.ts). */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type, type TSchema } from 'typebox'
import type { Domain } from '../domain/index.js'
import { MAX_SEARCH_QUERY, type HistoryViewer } from '../domain/history.js'
import type { Auth } from './api-v1-auth.js'
import * as S from './api-v1-schemas.js'

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorBody]))
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])
const Id = Type.String({ minLength: 1, maxLength: 200 })
const Time = Type.String({ description: 'ISO 8601 UTC' })
const Status = Type.String({ description: 'bot, queued, assigned or closed' })
const Closed = { additionalProperties: false } as const

export const ClientSession = Type.Object({
  id: Type.String(),
  chatId: Type.String(),
  status: Status,
  startedAt: Time,
  operatorAssignedAt: Nullable(Time),
  closedAt: Nullable(Time),
  operator: Nullable(Type.Object({ id: Type.String(), name: Nullable(Type.String()) }, { description: 'who holds it, or held it when it closed' })),
  groupId: Nullable(Type.String()),
  messageCount: Type.Integer({ description: 'messages of the client, operators and bot; internal notes not counted' }),
  lastMessage: Nullable(S.Message),
  rating: Nullable(S.SessionRating),
})

export const SearchHit = Type.Object({
  message: S.Message,
  snippet: Type.String({ description: 'plain text: the part of the message around the matches (a short message whole)' }),
  highlights: Type.Array(Type.Tuple([Type.Integer(), Type.Integer()]), { description: '[start, end) of each match in snippet, in UTF-16 code units' }),
  rank: Type.Number({ description: 'ts_rank: higher is better' }),
  session: Type.Object({ id: Type.String(), status: Status, startedAt: Time, closedAt: Nullable(Time), operatorId: Nullable(Type.String()) }),
  client: Type.Object({ id: Type.String(), name: Type.String() }),
})

const HistoryQuery = Type.Object({ cursor: Type.Optional(Id), ...S.Paging }, Closed)
const SearchQuery = Type.Object(
  {
    q: Type.String({ minLength: 1, maxLength: MAX_SEARCH_QUERY, description: 'words (any language), "a phrase", or, -word (websearch_to_tsquery)' }),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    ...S.Paging,
  },
  Closed,
)

/** Registers the routes on the /api/v1 instance, so they share its error handler and limits. */
export function historyRoutes(app: FastifyInstance, deps: { domain: Domain; auth: Auth }): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  const { domain, auth } = deps

  api.get('/clients/:id/sessions', {
    preValidation: auth.apiKeyOrOperator,
    schema: {
      tags: ['clients'],
      summary:
        "The client's sessions, newest first, with status, times, operator, message count and last message (API key, supervisors, " +
        'or an operator holding its open session or seeing it in a queue; others 403)',
      security: [{ apiKey: [] }, { operatorToken: [] }],
      params: S.IdParams,
      querystring: HistoryQuery,
      response: { 200: S.Page(ClientSession), ...errors(400, 401, 403, 404) },
    },
  }, async (req) => domain.history.clientSessions(viewer(auth, req), req.params.id, { limit: req.query.limit ?? 50, cursor: req.query.cursor }))

  api.get('/search/messages', {
    preValidation: auth.apiKeyOrOperator,
    schema: {
      tags: ['sessions'],
      summary:
        'Full-text search of messages, best match first, with snippets: an operator finds the sessions it has held (and their notes), ' +
        'a supervisor every session, the API key every session without internal notes',
      security: [{ apiKey: [] }, { operatorToken: [] }],
      querystring: SearchQuery,
      response: { 200: S.Page(SearchHit), ...errors(400, 401) },
    },
  }, async (req) => domain.history.search(viewer(auth, req), req.query.q, { limit: req.query.limit ?? 50, cursor: req.query.cursor }))
}

function viewer(auth: Auth, req: FastifyRequest): HistoryViewer {
  const p = auth.of(req)
  return p.kind === 'operator' ? { kind: 'operator', operatorId: p.operator.operatorId } : { kind: 'apiKey' }
}
