/** /api/v1: operators, clients, sessions and messages (shared/spec/http-api.md), with schemas for validation and OpenAPI. */
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { DomainError, type Domain } from '../domain/index.js'
import rateLimit from '@fastify/rate-limit'
import { adminRoutes } from './api-v1-admin.js'
import { transferRoutes } from './api-v1-transfers.js'
import { routingRoutes } from './api-v1-routing.js'
import { cannedRoutes } from './api-v1-canned.js'
import { attachmentRoutes } from './api-v1-attachments.js'
import type { Attachments } from '../domain/attachments.js'
import { webhookRoutes } from './api-v1-webhooks.js'
import { satisfactionRoutes } from './api-v1-satisfaction.js'
import { historyRoutes } from './api-v1-history.js'
import { Auth } from './api-v1-auth.js'
import * as S from './api-v1-schemas.js'
import { errorHandler, sendError } from './errors.js'
import { messageLimits } from './message-limits.js'
import type { RateLimit } from '../realtime/limits.js'
import { DEFAULT_MAX_JSON_DEPTH, parseJsonBody } from './json-body.js'
import { refuseUnstorableText } from './text-guard-hook.js'

export interface ApiV1Options {
  domain: Domain
  apiKey: string
  /** Widget sign-ups (POST /widget/clients) per IP per minute. @default 20 */
  widgetSignupsPerMinute?: number
  /** Largest request body in bytes; larger is 413. @default 65_536 */
  bodyLimit?: number
  /**
   * Where rate-limit counters live: a Redis client (ioredis) shared by every node, so a limit holds whichever
   * node a request reaches; without it, this process's memory (one node).
   */
  rateLimitRedis?: unknown
  /** Key prefix of the counters in Redis. @default 'livedesk' */
  rateLimitPrefix?: string
  /** Messages per client (POST /clients/:id/messages and /widget/messages together). @default 120 per minute */
  clientMessages?: RateLimit
  /** Messages per operator (POST /sessions/:id/messages with an operator token). @default 240 per minute */
  operatorMessages?: RateLimit
  /** Deepest nesting of a JSON body; deeper is a 400 before parsing. @default 32 */
  maxJsonDepth?: number
  /** Uploads and downloads of files (issue 16); absent: no attachment routes. */
  attachments?: Attachments
}

/**
 * The `Idempotency-Key` header of a request that creates something: a retry with the same key gets the first
 * answer and creates nothing new. Up to 255 visible ASCII characters.
 */
function idempotencyKey(req: FastifyRequest): string | undefined {
  const raw = req.headers['idempotency-key']
  if (raw === undefined) return undefined
  const key = Array.isArray(raw) ? raw[0] : raw
  if (!key || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw new DomainError('bad_request', 'Idempotency-Key must be 1 to 255 visible ASCII characters', 'Idempotency-Key')
  }
  return key
}

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorBody]))
const API_KEY = [{ apiKey: [] }]
const OPERATOR = [{ operatorToken: [] }]
const CLIENT = [{ clientToken: [] }]

export function apiV1(opts: ApiV1Options): FastifyPluginAsync {
  return async (plain: FastifyInstance) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>()
    const { domain } = opts
    const auth = new Auth(domain, opts.apiKey)
    const limits = messageLimits({ client: opts.clientMessages, operator: opts.operatorMessages, redis: opts.rateLimitRedis, prefix: opts.rateLimitPrefix })
    await app.register(rateLimit, {
      global: false,
      redis: opts.rateLimitRedis,
      nameSpace: `${opts.rateLimitPrefix ?? 'livedesk'}.ratelimit.`,
      // A Redis outage must not take sign-ups down with it.
      skipOnError: true,
      errorResponseBuilder: (_req, ctx) => new DomainError('rate_limited', `at most ${ctx.max} per ${ctx.after}`),
    })
    const bodyLimit = opts.bodyLimit ?? 65_536

    // Bodies are checked as sent (no type coercion: `"text": 5` is a 400); query strings and params are converted.
    app.setValidatorCompiler(TypeBoxValidatorCompiler as never)
    app.setErrorHandler(errorHandler)
    app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'not_found', `no route ${req.method} ${req.url}`))
    app.addHook('onRoute', (route) => {
      route.bodyLimit ??= bodyLimit
    })
    // An empty JSON body is `{}`, so body-less actions accept `content-type: application/json` with nothing.
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      const text = String(body)
      if (text.trim() === '') return done(null, {})
      const parsed = parseJsonBody(text, opts.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH)
      if (parsed.ok) done(null, parsed.value)
      else done(new DomainError('bad_request', parsed.error, 'body'), undefined)
    })
    app.addHook('preHandler', refuseUnstorableText)

    const ip = (req: { ip: string }) => req.ip

    /** Creates a client once per Idempotency-Key; a replay gets the same client with a new token (tokens are never kept). */
    async function createClient(scope: string, key: string | undefined, create: () => ReturnType<Domain['clients']['create']>) {
      let token = ''
      const answer = await domain.requests.once(scope, key, async () => {
        const { token: issued, ...client } = await create()
        token = issued
        return { status: 201, body: client }
      })
      return { ...answer.body, token: answer.replayed ? await domain.clients.reissueToken(answer.body.id) : token }
    }

    // ---- operators (API key) -----------------------------------------------------------------------
    app.post('/operators', {
      preValidation: auth.apiKey,
      schema: { tags: ['operators'], summary: 'Create an operator', security: API_KEY, headers: S.IdempotentHeaders, body: S.NewOperator, response: { 201: S.Operator, ...errors(400, 401, 413) } },
    }, async (req, reply) => {
      const answer = await domain.requests.once('POST /operators', idempotencyKey(req), async () => ({ status: 201, body: await domain.operators.create(req.body) }))
      return reply.code(201).send(answer.body)
    })

    app.get('/operators', {
      preValidation: auth.apiKey,
      schema: { tags: ['operators'], summary: 'List operators', security: API_KEY, querystring: S.OperatorsQuery, response: { 200: S.Page(S.Operator), ...errors(400, 401) } },
    }, async (req) => domain.operators.list({ limit: req.query.limit ?? 50, cursor: req.query.cursor }))

    app.get('/operators/:id', {
      preValidation: auth.apiKey,
      schema: { tags: ['operators'], summary: 'One operator', security: API_KEY, params: S.IdParams, response: { 200: S.Operator, ...errors(401, 404) } },
    }, async (req) => domain.operators.get(req.params.id))

    app.patch('/operators/:id', {
      preValidation: auth.apiKey,
      schema: {
        tags: ['operators'],
        summary: 'Rename or change maxChats (a higher maxChats drains the queue)',
        security: API_KEY,
        params: S.IdParams,
        body: S.OperatorPatch,
        response: { 200: S.Operator, ...errors(400, 401, 404, 413) },
      },
    }, async (req) => domain.operators.update(req.params.id, req.body))

    app.post('/operators/:id/tokens', {
      preValidation: auth.apiKey,
      schema: {
        tags: ['operators'],
        summary: 'A new login: earlier logins get chatUserExists, then are revoked and disconnected',
        security: API_KEY,
        params: S.IdParams,
        body: S.NewLogin,
        response: { 201: S.Login, ...errors(400, 401, 404, 409, 413) },
      },
    }, async (req, reply) => reply.code(201).send(await domain.operators.issueToken(req.params.id, req.body)))

    app.post('/operators/:id/block', {
      preValidation: auth.apiKey,
      schema: {
        tags: ['operators'],
        summary: 'Block: operatorBlocked, then disconnect (4501); tokens stop working; held sessions go back to the queue',
        security: API_KEY,
        params: S.IdParams,
        body: S.Reason,
        response: { 200: S.Operator, ...errors(400, 401, 404, 413) },
      },
    }, async (req) => domain.operators.block(req.params.id, req.body.reason))

    app.post('/operators/:id/unblock', {
      preValidation: auth.apiKey,
      schema: { tags: ['operators'], summary: 'Unblock', security: API_KEY, params: S.IdParams, response: { 200: S.Operator, ...errors(401, 404) } },
    }, async (req) => domain.operators.unblock(req.params.id))

    adminRoutes(plain, { domain, auth })
    transferRoutes(plain, { domain, auth })
    routingRoutes(plain, { domain, auth })
    cannedRoutes(plain, { domain, auth })
    if (opts.attachments) await plain.register(attachmentRoutes({ auth, attachments: opts.attachments, limits }))
    webhookRoutes(plain, { domain, auth })
    satisfactionRoutes(plain, { domain, auth })
    historyRoutes(plain, { domain, auth })

    // ---- clients (API key) -------------------------------------------------------------------------
    app.post('/clients', {
      preValidation: auth.apiKey,
      schema: { tags: ['clients'], summary: 'Create a client (bridges, backends)', security: API_KEY, headers: S.IdempotentHeaders, body: S.NewClient, response: { 201: S.ClientWithToken, ...errors(400, 401, 413) } },
    }, async (req, reply) => reply.code(201).send(await createClient('POST /clients', idempotencyKey(req), () => domain.clients.create(req.body))))

    app.get('/clients/:id', {
      preValidation: auth.apiKey,
      schema: { tags: ['clients'], summary: 'One client', security: API_KEY, params: S.IdParams, response: { 200: S.Client, ...errors(401, 404) } },
    }, async (req) => domain.clients.get(req.params.id))

    app.post('/clients/:id/messages', {
      preValidation: auth.apiKey,
      schema: {
        tags: ['clients'],
        summary: "A client's message; starts a session when none is open (chatSessionStarted, then chatSessionAdded or operatorNotFound); chatMessageCreated",
        security: API_KEY,
        params: S.IdParams,
        headers: S.IdempotentHeaders,
        body: S.ClientMessage,
        response: { 201: S.Message, ...errors(400, 401, 404, 413, 429) },
      },
    }, async (req, reply) => {
      await limits.client(req.params.id)
      return reply.code(201).send(await domain.sessions.clientMessage(req.params.id, { ...req.body, idempotencyKey: idempotencyKey(req) }))
    })

    app.post('/clients/:id/typing', {
      preValidation: auth.apiKey,
      schema: {
        tags: ['clients'],
        summary: 'The client is typing: typing to the operator holding the session (stops by itself after the TTL)',
        security: API_KEY,
        params: S.IdParams,
        body: S.TypingBody,
        response: { 202: S.TypingAccepted, ...errors(400, 401, 404, 409, 413, 429) },
      },
    }, async (req, reply) => reply.code(202).send(await domain.clientTyping(req.params.id, req.body.text)))

    app.post('/clients/:id/read', {
      preValidation: auth.apiKey,
      schema: {
        tags: ['clients'],
        summary: "The client read messages up to and including messageId: chatMessageRead",
        security: API_KEY,
        params: S.IdParams,
        body: S.ReadBody,
        response: { 200: S.ReadResult, ...errors(400, 401, 404, 413) },
      },
    }, async (req) => domain.sessions.clientRead(req.params.id, req.body.messageId))

    app.post('/clients/:id/presence', {
      preValidation: auth.apiKey,
      schema: {
        tags: ['clients'],
        summary: 'Client presence from a bridge: clientOnline / clientOffline when it changes',
        security: API_KEY,
        params: S.IdParams,
        body: S.PresenceBody,
        response: { 200: S.Client, ...errors(400, 401, 404, 413) },
      },
    }, async (req) => domain.clients.setPresence(req.params.id, req.body.online))

    app.post('/clients/:id/close', {
      preValidation: auth.apiKey,
      schema: {
        tags: ['clients'],
        summary: "The client closed its open session: sessionClosedByClient",
        security: API_KEY,
        params: S.IdParams,
        response: { 200: S.ChatSession, ...errors(401, 404, 409) },
      },
    }, async (req) => domain.sessions.clientClose(req.params.id))

    // ---- sessions (API key) ------------------------------------------------------------------------
    app.post('/sessions/:id/handoff', {
      preValidation: auth.apiKey,
      schema: {
        tags: ['sessions'],
        summary: 'Bot → people: chatSessionSwitchedFromBotToOperator, then routing',
        security: API_KEY,
        params: S.IdParams,
        response: { 200: S.ChatSession, ...errors(401, 404, 409) },
      },
    }, async (req) => domain.sessions.handoff(req.params.id))

    app.post('/sessions/:id/bot', {
      preValidation: auth.apiKey,
      schema: {
        tags: ['sessions'],
        summary: 'People → bot: chatSessionDeleted to the operator who held it',
        security: API_KEY,
        params: S.IdParams,
        body: S.Reason,
        response: { 200: S.ChatSession, ...errors(400, 401, 404, 409, 413) },
      },
    }, async (req) => domain.sessions.toBot(req.params.id, req.body.reason))

    app.post('/sessions/:id/messages', {
      preValidation: auth.apiKeyOrOperator,
      schema: {
        tags: ['sessions'],
        summary: "A message in a session: the bot's with the API key, the holder's with an operator token (chatMessageCreated; delivered to the client)",
        security: [...API_KEY, ...OPERATOR],
        params: S.IdParams,
        headers: S.IdempotentHeaders,
        body: S.SessionMessage,
        response: { 201: S.Message, ...errors(400, 401, 403, 404, 409, 413, 429) },
      },
    }, async (req, reply) => {
      const p = auth.of(req)
      if (p.kind === 'operator') await limits.operator(p.operator.operatorId)
      if (req.body.internal && p.kind !== 'operator') throw new DomainError('bad_request', 'internal notes are written with an operator token', 'internal')
      const { text, attachments } = req.body
      const message =
        req.body.internal && p.kind === 'operator'
          ? await domain.sessions.operatorNote(p.operator.operatorId, req.params.id, text, idempotencyKey(req), attachments)
          : p.kind === 'operator'
          ? await domain.sessions.operatorMessage(p.operator.operatorId, req.params.id, text, idempotencyKey(req), attachments)
          : await domain.sessions.botMessage(req.params.id, text, idempotencyKey(req), attachments)
      return reply.code(201).send(message)
    })

    // ---- the operator's console (operator token) ---------------------------------------------------
    app.get('/me', {
      preValidation: auth.operator,
      schema: { tags: ['console'], summary: 'The operator of the token', security: OPERATOR, response: { 200: S.Operator, ...errors(401) } },
    }, async (req) => domain.operators.get(auth.operatorOf(req).operatorId))

    app.get('/sessions', {
      preValidation: auth.operator,
      schema: {
        tags: ['console'],
        summary: 'My sessions and the queue (no status), or one status: what a console redraws from after recovered:false',
        security: OPERATOR,
        querystring: S.SessionsQuery,
        response: { 200: S.Page(S.ChatSession), ...errors(400, 401) },
      },
    }, async (req) =>
      domain.sessions.list(auth.operatorOf(req).operatorId, { status: req.query.status, limit: req.query.limit ?? 50, cursor: req.query.cursor }),
    )

    app.get('/sessions/:id', {
      preValidation: auth.operator,
      schema: { tags: ['console'], summary: 'One session', security: OPERATOR, params: S.IdParams, response: { 200: S.ChatSession, ...errors(401, 403, 404) } },
    }, async (req) => domain.sessions.get(auth.operatorOf(req).operatorId, req.params.id))

    app.get('/sessions/:id/messages', {
      preValidation: auth.operator,
      schema: {
        tags: ['console'],
        summary: "A session's messages, oldest first; nextCursor as before= pages back",
        security: OPERATOR,
        params: S.IdParams,
        querystring: S.MessagesQuery,
        response: { 200: S.Page(S.Message), ...errors(400, 401, 403, 404) },
      },
    }, async (req) =>
      domain.sessions.messages(auth.operatorOf(req).operatorId, req.params.id, { before: req.query.before, limit: req.query.limit ?? 50 }),
    )

    app.post('/sessions/:id/accept', {
      preValidation: auth.operator,
      schema: {
        tags: ['console'],
        summary: 'Take a session from the queue (within maxChats): chatSessionAdded',
        security: OPERATOR,
        params: S.IdParams,
        response: { 200: S.ChatSession, ...errors(401, 403, 404, 409) },
      },
    }, async (req) => domain.sessions.accept(auth.operatorOf(req).operatorId, req.params.id))

    app.post('/sessions/:id/close', {
      preValidation: auth.operator,
      schema: {
        tags: ['console'],
        summary: 'Close a session I hold (frees a slot: the queue drains)',
        security: OPERATOR,
        params: S.IdParams,
        response: { 200: S.ChatSession, ...errors(401, 403, 404, 409) },
      },
    }, async (req) => domain.sessions.operatorClose(auth.operatorOf(req).operatorId, req.params.id))

    app.post('/sessions/:id/read', {
      preValidation: auth.operator,
      schema: {
        tags: ['console'],
        summary: "I read the client's messages up to and including messageId (unread counts)",
        security: OPERATOR,
        params: S.IdParams,
        body: S.ReadBody,
        response: { 200: S.ReadResult, ...errors(400, 401, 403, 404, 413) },
      },
    }, async (req) => domain.sessions.operatorRead(auth.operatorOf(req).operatorId, req.params.id, req.body.messageId))

    app.patch('/messages/:id', {
      preValidation: auth.operator,
      schema: {
        tags: ['console'],
        summary: 'Edit my own message: chatMessageEdited',
        security: OPERATOR,
        params: S.IdParams,
        body: S.TextBody,
        response: { 200: S.Message, ...errors(400, 401, 403, 404, 409, 413) },
      },
    }, async (req) => domain.sessions.editMessage(auth.operatorOf(req).operatorId, req.params.id, req.body.text))

    app.post('/logout', {
      preValidation: auth.operator,
      schema: {
        tags: ['console'],
        summary: 'operatorLoggedOut to all my connections, which then close (4503); my tokens are revoked',
        security: OPERATOR,
        response: { 204: Type.Null(), ...errors(401) },
      },
    }, async (req, reply) => {
      await domain.operators.logout(auth.operatorOf(req).operatorId)
      return reply.code(204).send(null)
    })

    // ---- the client widget (public sign-up, then the client token) ----------------------------------
    app.post('/widget/clients', {
      // Counted after validation: a malformed request is a 400, not a spent sign-up.
      config: { rateLimit: { max: opts.widgetSignupsPerMinute ?? 20, timeWindow: 60_000, keyGenerator: ip, hook: 'preHandler' } },
      schema: {
        tags: ['widget'],
        summary: 'A new anonymous widget client and its token (rate-limited per IP)',
        headers: S.IdempotentHeaders,
        body: S.NewWidgetClient,
        response: { 201: S.WidgetLogin, ...errors(400, 413, 429) },
      },
    }, async (req, reply) => {
      const { token, ...client } = await createClient(`POST /widget/clients ${ip(req)}`, idempotencyKey(req), () =>
        domain.clients.create({ name: req.body.name, group: req.body.group, channel: 'widget', ip: ip(req), referer: req.headers.referer }),
      )
      return reply.code(201).send({ client, token })
    })

    app.get('/widget/me', {
      preValidation: auth.client,
      schema: { tags: ['widget'], summary: 'The client of the token', security: CLIENT, response: { 200: S.Client, ...errors(401) } },
    }, async (req) => domain.clients.get(auth.clientOf(req).id))

    app.get('/widget/messages', {
      preValidation: auth.client,
      schema: {
        tags: ['widget'],
        summary: "The chat's messages, oldest first, and the last session",
        security: CLIENT,
        querystring: S.MessagesQuery,
        response: { 200: S.WidgetMessages, ...errors(400, 401) },
      },
    }, async (req) => domain.sessions.chatMessages(auth.clientOf(req).id, { before: req.query.before, limit: req.query.limit ?? 100 }))

    app.post('/widget/messages', {
      preValidation: auth.client,
      schema: { tags: ['widget'], summary: 'Write to support (group: where a new session goes)', security: CLIENT, headers: S.IdempotentHeaders, body: S.WidgetMessage, response: { 201: S.Message, ...errors(400, 401, 413, 429) } },
    }, async (req, reply) => {
      await limits.client(auth.clientOf(req).id)
      return reply.code(201).send(await domain.sessions.clientMessage(auth.clientOf(req).id, { text: req.body.text, group: req.body.group, attachments: req.body.attachments, idempotencyKey: idempotencyKey(req) }))
    })

    app.post('/widget/typing', {
      preValidation: auth.client,
      schema: {
        tags: ['widget'],
        summary: 'I am typing',
        security: CLIENT,
        body: S.TypingBody,
        response: { 202: S.TypingAccepted, ...errors(400, 401, 409, 413, 429) },
      },
    }, async (req, reply) => reply.code(202).send(await domain.clientTyping(auth.clientOf(req).id, req.body.text)))

    app.post('/widget/read', {
      preValidation: auth.client,
      schema: { tags: ['widget'], summary: 'I read up to messageId', security: CLIENT, body: S.ReadBody, response: { 200: S.ReadResult, ...errors(400, 401, 404, 413) } },
    }, async (req) => domain.sessions.clientRead(auth.clientOf(req).id, req.body.messageId))

    app.post('/widget/close', {
      preValidation: auth.client,
      schema: { tags: ['widget'], summary: 'Close my open session', security: CLIENT, response: { 200: S.ChatSession, ...errors(401, 409) } },
    }, async (req) => domain.sessions.clientClose(auth.clientOf(req).id))
  }
}
