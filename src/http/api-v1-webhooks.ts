/**
 * The routes of /api/v1 for issue 16's outbound webhooks, all with the API key: endpoints (the secret is shown once,
 * on create), re-enabling one that was disabled after failures, and its delivery log.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { Domain } from '../domain/index.js'
import { WEBHOOK_EVENTS, WEBHOOK_SECRET_MAX, WEBHOOK_SECRET_MIN, WEBHOOK_URL_MAX } from '../domain/webhooks.js'
import type { Auth } from './api-v1-auth.js'
import * as S from './api-v1-schemas.js'

const API_KEY = [{ apiKey: [] }]
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorBody]))
const Closed = { additionalProperties: false } as const
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()])

// The URL's scheme is checked by the domain, so that its 400 says why (http or https only).
const Url = Type.String({ minLength: 1, maxLength: WEBHOOK_URL_MAX, description: 'http or https URL the events are POSTed to' })
const Events = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
  minItems: 1, maxItems: 64, description: `event names (${WEBHOOK_EVENTS.join(', ')}), or ['*'] for all`,
})
const Secret = Type.String({ minLength: WEBHOOK_SECRET_MIN, maxLength: WEBHOOK_SECRET_MAX, description: 'HMAC key of X-Livedesk-Signature; generated when absent' })

export const Webhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  disabledReason: Nullable(Type.String({ description: 'why: "disabled by the API", or the failures that disabled it' })),
  disabledAt: Nullable(Type.String({ description: 'ISO 8601 UTC' })),
  consecutiveFailures: Type.Integer({ description: 'deliveries in a row that failed every attempt' }),
  createdAt: Type.String({ description: 'ISO 8601 UTC' }),
  updatedAt: Type.String({ description: 'ISO 8601 UTC' }),
})
export const WebhookWithSecret = Type.Intersect([Webhook, Type.Object({ secret: Type.String({ description: 'shown once, here' }) })])
export const NewWebhook = Type.Object({ url: Url, events: Events, secret: Type.Optional(Secret), enabled: Type.Optional(Type.Boolean()) }, Closed)
export const WebhookPatch = Type.Object({ url: Type.Optional(Url), events: Type.Optional(Events), secret: Type.Optional(Secret), enabled: Type.Optional(Type.Boolean()) }, Closed)
export const DeliveryAttempt = Type.Object({
  deliveryId: Type.String({ description: 'X-Livedesk-Delivery: the same for every attempt of one event to one endpoint' }),
  eventId: Type.String({ description: 'the envelope id (the outbox event id)' }),
  event: Type.String(),
  state: Type.String({ description: 'the delivery now: pending, delivered or failed' }),
  attempt: Type.Integer(),
  statusCode: Type.Union([Type.Integer(), Type.Null()], { description: 'the HTTP status; null when no response came' }),
  error: Nullable(Type.String({ description: 'why no response came (timeout, connection refused, ...)' })),
  durationMs: Type.Integer(),
  at: Type.String({ description: 'ISO 8601 UTC' }),
})
const LogQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }, Closed)

export function webhookRoutes(app: FastifyInstance, deps: { domain: Domain; auth: Auth }): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  const { domain, auth } = deps
  const webhooks = domain.webhooks

  api.post('/webhooks', {
    preValidation: auth.apiKey,
    schema: {
      tags: ['webhooks'],
      summary: 'Register an endpoint for events (the answer shows its secret, once)',
      security: API_KEY,
      body: NewWebhook,
      response: { 201: WebhookWithSecret, ...errors(400, 401, 413) },
    },
  }, async (req, reply) => reply.code(201).send(await webhooks.create(req.body)))

  api.get('/webhooks', {
    preValidation: auth.apiKey,
    schema: { tags: ['webhooks'], summary: 'Every endpoint with its status', security: API_KEY, response: { 200: Type.Object({ items: Type.Array(Webhook) }), ...errors(401) } },
  }, async () => ({ items: await webhooks.list() }))

  api.get('/webhooks/:id', {
    preValidation: auth.apiKey,
    schema: { tags: ['webhooks'], summary: 'One endpoint', security: API_KEY, params: S.IdParams, response: { 200: Webhook, ...errors(401, 404) } },
  }, async (req) => webhooks.get(req.params.id))

  api.patch('/webhooks/:id', {
    preValidation: auth.apiKey,
    schema: {
      tags: ['webhooks'],
      summary: 'Change url, events, secret or enabled (enabled: true also clears an automatic disabling)',
      security: API_KEY,
      params: S.IdParams,
      body: WebhookPatch,
      response: { 200: Webhook, ...errors(400, 401, 404, 413) },
    },
  }, async (req) => webhooks.update(req.params.id, req.body))

  api.delete('/webhooks/:id', {
    preValidation: auth.apiKey,
    schema: { tags: ['webhooks'], summary: 'Remove an endpoint, its pending deliveries and its log', security: API_KEY, params: S.IdParams, response: { 204: Type.Null(), ...errors(401, 404) } },
  }, async (req, reply) => {
    await webhooks.remove(req.params.id)
    return reply.code(204).send(null)
  })

  api.post('/webhooks/:id/enable', {
    preValidation: auth.apiKey,
    schema: {
      tags: ['webhooks'],
      summary: 'Enable an endpoint again (after it was disabled for failures): its pending deliveries resume',
      security: API_KEY,
      params: S.IdParams,
      response: { 200: Webhook, ...errors(401, 404) },
    },
  }, async (req) => webhooks.enable(req.params.id))

  api.get('/webhooks/:id/deliveries', {
    preValidation: auth.apiKey,
    schema: {
      tags: ['webhooks'],
      summary: 'The delivery log: every attempt, newest first',
      security: API_KEY,
      params: S.IdParams,
      querystring: LogQuery,
      response: { 200: Type.Object({ items: Type.Array(DeliveryAttempt) }), ...errors(400, 401, 404) },
    },
  }, async (req) => ({ items: await webhooks.deliveries(req.params.id, req.query.limit ?? 100) }))
}
