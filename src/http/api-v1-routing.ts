/**
 * The routes of /api/v1 for issue 15's availability and groups: operators' status (PUT /me/status, PUT
 * /operators/{id}/status, GET /operators/status) and groups (members, fallback, working hours).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { Domain } from '../domain/index.js'
import type { Auth } from './api-v1-auth.js'
import * as S from './api-v1-schemas.js'

const API_KEY = [{ apiKey: [] }]
const OPERATOR = [{ operatorToken: [] }]
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorBody]))
const Closed = { additionalProperties: false } as const
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

export const StatusBody = Type.Object({
  status: Type.Union([Type.Literal('online'), Type.Literal('away'), Type.Literal('offline')], {
    description: 'online takes new chats; away keeps its chats and takes none; offline takes none',
  }),
}, Closed)

export const OperatorStatus = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.String({ description: 'online, away or offline' }),
  auto: Type.Boolean({ description: 'set by the auto-away timers, not by a person' }),
  role: Type.String({ description: 'operator or supervisor' }),
  connected: Type.Boolean({ description: 'a console is connected on some node' }),
  openSessions: Type.Integer(),
  maxChats: Type.Integer(),
  groups: Type.Array(Type.String(), { description: 'ids of its groups' }),
})

const HHMM = Type.String({ pattern: '^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$', description: 'HH:MM (24:00 ends a day)' })
const Intervals = Type.Array(Type.Tuple([HHMM, HHMM]), { maxItems: 24, description: '[start, end) intervals of the day' })
const WorkingHours = Type.Object(
  { mon: Type.Optional(Intervals), tue: Type.Optional(Intervals), wed: Type.Optional(Intervals), thu: Type.Optional(Intervals), fri: Type.Optional(Intervals), sat: Type.Optional(Intervals), sun: Type.Optional(Intervals) },
  { ...Closed, description: 'per weekday, in timeZone; a day left out is closed; null: always open' },
)
const GroupName = Type.String({ minLength: 1, maxLength: 200 })
const TimeZone = Type.String({ minLength: 1, maxLength: 100, description: 'IANA time zone of the working hours (default UTC)' })

export const Group = Type.Object({
  id: Type.String(),
  name: Type.String(),
  fallbackGroupId: Nullable(Type.String()),
  workingHours: Nullable(Type.Record(Type.String(), Type.Array(Type.Array(Type.String())))),
  timeZone: Nullable(Type.String()),
  operatorIds: Type.Array(Type.String()),
  open: Type.Boolean({ description: 'within its working hours now' }),
  createdAt: Type.String({ description: 'ISO 8601 UTC' }),
})
export const NewGroup = Type.Object({
  name: GroupName,
  fallbackGroupId: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
  workingHours: Type.Optional(Nullable(WorkingHours)),
  timeZone: Type.Optional(Nullable(TimeZone)),
}, Closed)
export const GroupPatch = Type.Object({
  name: Type.Optional(GroupName),
  fallbackGroupId: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
  workingHours: Type.Optional(Nullable(WorkingHours)),
  timeZone: Type.Optional(Nullable(TimeZone)),
}, Closed)
export const GroupMembers = Type.Object({ operatorIds: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 1000 }) }, Closed)

/** Registers the routes on the /api/v1 instance, so they share its error handler, body parser and limits. */
export function routingRoutes(app: FastifyInstance, deps: { domain: Domain; auth: Auth }): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  const { domain, auth } = deps

  const apiKeyOrSupervisor = auth.apiKeyOrSupervisor('this endpoint needs the API key or a supervisor')

  // ---- status ------------------------------------------------------------------------------------
  api.put('/me/status', {
    preValidation: auth.operator,
    schema: {
      tags: ['console'],
      summary: 'Set my status: operatorStatusChanged to me and the supervisors; online drains the queue to me',
      security: OPERATOR,
      body: StatusBody,
      response: { 200: OperatorStatus, ...errors(400, 401, 413) },
    },
  }, async (req) => domain.availability.set(auth.operatorOf(req).operatorId, req.body.status))

  // Any operator may read it: the transfer dialog offers colleagues who can take a chat now.
  api.get('/operators/status', {
    preValidation: auth.apiKeyOrOperator,
    schema: {
      tags: ['operators'],
      summary: "Every operator's status, connection, load and groups (API key or any operator)",
      security: [...API_KEY, ...OPERATOR],
      response: { 200: Type.Object({ items: Type.Array(OperatorStatus) }), ...errors(401, 403) },
    },
  }, async () => ({ items: await domain.availability.list() }))

  api.put('/operators/:id/status', {
    preValidation: apiKeyOrSupervisor,
    schema: {
      tags: ['operators'],
      summary: "Set an operator's status (API key or a supervisor)",
      security: [...API_KEY, ...OPERATOR],
      params: S.IdParams,
      body: StatusBody,
      response: { 200: OperatorStatus, ...errors(400, 401, 403, 404, 413) },
    },
  }, async (req) => domain.availability.set(req.params.id, req.body.status))

  // ---- groups ------------------------------------------------------------------------------------
  api.post('/groups', {
    preValidation: auth.apiKey,
    schema: {
      tags: ['groups'],
      summary: 'Create a group (409 when the name is taken)',
      security: API_KEY,
      body: NewGroup,
      response: { 201: Group, ...errors(400, 401, 409, 413) },
    },
  }, async (req, reply) => reply.code(201).send(await domain.groups.create(req.body as never)))

  api.get('/groups', {
    preValidation: auth.apiKeyOrOperator,
    schema: { tags: ['groups'], summary: 'Every group', security: [...API_KEY, ...OPERATOR], response: { 200: Type.Object({ items: Type.Array(Group) }), ...errors(401) } },
  }, async () => ({ items: await domain.groups.list() }))

  api.get('/groups/:id', {
    preValidation: auth.apiKeyOrOperator,
    schema: { tags: ['groups'], summary: 'One group', security: [...API_KEY, ...OPERATOR], params: S.IdParams, response: { 200: Group, ...errors(401, 404) } },
  }, async (req) => domain.groups.get(req.params.id))

  api.patch('/groups/:id', {
    preValidation: auth.apiKey,
    schema: {
      tags: ['groups'],
      summary: 'Rename, set the fallback, working hours or time zone (null clears); sessions waiting for the hours are routed again',
      security: API_KEY,
      params: S.IdParams,
      body: GroupPatch,
      response: { 200: Group, ...errors(400, 401, 404, 409, 413) },
    },
  }, async (req) => domain.groups.update(req.params.id, req.body as never))

  api.put('/groups/:id/operators', {
    preValidation: auth.apiKey,
    schema: {
      tags: ['groups'],
      summary: "Replace the group's members (their consoles follow its queue channel)",
      security: API_KEY,
      params: S.IdParams,
      body: GroupMembers,
      response: { 200: Group, ...errors(400, 401, 404, 413) },
    },
  }, async (req) => domain.groups.setMembers(req.params.id, req.body.operatorIds))
}
