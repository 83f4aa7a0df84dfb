/**
 * Store + domain + /api/v1 in one process without the gateway: a recorder stands in for `LiveGateway`
 * so domain logic (routing, audiences, codes) can be checked exactly. End-to-end tests use the real server.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import pino from 'pino'
import { createDomain, DEFAULT_DOMAIN_CONFIG, type Domain, type DomainConfig } from '../../src/domain/index.js'
import type { LiveGateway } from '../../src/domain/ports.js'
import { apiV1, type ApiV1Options } from '../../src/http/api-v1.js'
import { migrate } from '../../src/store/migrate.js'
import { openPglite } from '../../src/store/pglite.js'
import type { Db } from '../../src/store/db.js'

export class RecorderGateway implements LiveGateway {
  readonly published: Array<{ channel: string; data: any }> = []
  readonly disconnected: Array<{ user: string; code: number; reason: string }> = []
  /** Live connections per channel as the gateway would count them (client presence); operators go online through `domain.connectionOpened`. */
  readonly connections = new Map<string, number>()

  async publish(channel: string, data: unknown) {
    this.published.push({ channel, data })
  }
  async disconnectUser(user: string, code: number, reason: string) {
    this.disconnected.push({ user, code, reason })
  }
  async connectionCount(channel: string) {
    return this.connections.get(channel) ?? 0
  }
  /** Envelopes published to `channel` (any channel when omitted), optionally one event name only. */
  events(channel?: string, event?: string): any[] {
    return this.published.filter((p) => (!channel || p.channel === channel) && (!event || p.data.event === event)).map((p) => p.data)
  }
  clear() {
    this.published.length = 0
    this.disconnected.length = 0
  }
}

export interface Harness {
  db: Db
  live: RecorderGateway
  domain: Domain
  app: FastifyInstance
  apiKey: string
  api(method: string, url: string, body?: unknown, token?: string | null, headers?: Record<string, string>): Promise<{ status: number; body: any }>
  close(): Promise<void>
}

/** `node.db`: the database to run on (default a fresh PGlite); `node.nodeId`: this domain node's id. */
export async function startHarness(config: Partial<DomainConfig> = {}, http: Partial<ApiV1Options> = {}, node: { db?: Db; nodeId?: string } = {}): Promise<Harness> {
  const db = node.db ?? (await openPglite())
  await migrate(db)
  const live = new RecorderGateway()
  const domain = await createDomain({ db, live, config: { ...DEFAULT_DOMAIN_CONFIG, ...config }, log: pino({ level: 'silent' }), nodeId: node.nodeId ?? 'harness' })
  const apiKey = 'harness-key'
  const app = Fastify({ logger: false })
  await app.register(apiV1({ domain, apiKey, ...http }), { prefix: '/api/v1' })
  await app.ready()
  return {
    db,
    live,
    domain,
    app,
    apiKey,
    async api(method, url, body, token = apiKey, headers = {}) {
      const res = await app.inject({
        method: method as any,
        url: `/api/v1${url}`,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      })
      return { status: res.statusCode, body: res.body ? safeJson(res.body) : undefined }
    },
    async close() {
      await domain.close()
      await app.close()
      await db.close()
    },
  }
}

function safeJson(s: string): any {
  try {
    return JSON.parse(s)
  } catch {
    return s
  }
}
