/**
 * Durability (issue 11, "What must be shown"): three livedesk node processes on one PostgreSQL database and a
 * redis-server of the test's own, an operator console (the official SDK, as the seed connects) on node B behind a
 * loopback proxy, and a bounded burst of client messages in 20 chats sent through node A while
 *   (a) node A is killed with SIGKILL (the requests in flight are retried with the same Idempotency-Key on
 *       another node), and the console's connection is cut at the same moment;
 *   (a') deterministically: a message committed on A (Redis paused, so A has not answered yet), A killed, the
 *       request retried on C with the same key: one message, one event;
 *   (b) Redis (appendonly) is killed and started again after 2 s (the console is cut meanwhile);
 *   (d) Redis (appendonly) is down until publishes have failed (longer than the Redis client's retry budget);
 *   (d') the same with a Redis that comes back empty (no persistence): history is lost, recovered:false, refetch.
 * Afterwards every message in the database has reached the console once per channel stream (by envelope id, which
 * must be its outbox event id, and by message id), in per-chat order; offsets are contiguous in every stream unless
 * the SDK was told `recovered: false` (so no `recovered: true` hid a missing event); the outbox holds no
 * unpublished event; every answer was 201 and each Idempotency-Key has one message.
 *
 * The sender behaves as a careful backend: each chat's messages one after another (each response awaited), every
 * message with its own Idempotency-Key, and on a network error the same message with the same key on another node.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Centrifuge } from 'centrifuge'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, startRedisProcess, waitUntil, type NodeProcess, type RedisProcess } from '../helpers/processes.js'
import { newSdk } from '../helpers/sdk.js'
import { SwitchProxy } from '../multinode/switch-proxy.js'
import { missingService, serviceUrl } from '../realtime/services.js'
import { postgresAvailable, tempPostgres, type TestDatabase } from '../store/databases.js'

const SUITE = 'durability: outbox and Idempotency-Key with three node processes, own Redis and PostgreSQL'
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

const CHATS = 20
const PER_CHAT = 12
/** The fault happens after this many answered burst messages (of CHATS × PER_CHAT). */
const FAULT_AFTER = 80
const REQUEST_TIMEOUT_MS = 40_000

/** redis-server on PATH, or a visible skip (a failure when LIVEDESK_REQUIRE_SERVICES=1), as serviceUrl does. */
function redisServerAvailable(): boolean {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' })
  if (!probe.error && probe.status === 0) return true
  const why = 'redis-server is not installed'
  missingService(SUITE, 'redis-server', why, 'runs against real processes')
  return false
}

const databaseUrl = serviceUrl('TEST_DATABASE_URL', SUITE)
const ready = databaseUrl !== undefined && redisServerAvailable() && (await postgresAvailable())

// ---- HTTP ---------------------------------------------------------------------------------------------

interface Target {
  url: string
  apiKey: string
}

async function call(node: Target, method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token ?? node.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

async function ok(node: Target, method: string, path: string, body?: unknown, token?: string): Promise<any> {
  const res = await call(node, method, path, body, token)
  if (res.status < 200 || res.status > 299) throw new Error(`${method} ${path} on ${node.url} → ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** Centrifugo's server API on a node: a marker that arrives after everything published before it on `channel`. */
async function publishMarker(node: Target, channel: string, id: string): Promise<void> {
  const res = await fetch(`${node.url}/api/publish`, {
    method: 'POST',
    headers: { 'x-api-key': node.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, data: { event: 'marker', id } }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  const body = await res.json()
  if (!res.ok || body.error) throw new Error(`publish marker → ${res.status} ${JSON.stringify(body)}`)
}

// ---- the sender ---------------------------------------------------------------------------------------

interface Retry {
  key: string
  clientId: string
  from: string
  to: string
  error: string
  at: number
}

/**
 * Client messages through the first node not seen failing; a network error (or no answer in time) marks that
 * node down and the same message goes, with the same Idempotency-Key, to the next one.
 */
class Sender {
  readonly down = new Set<string>()
  readonly retries: Retry[] = []
  /** Answers other than 201: a failed publish must never turn a committed message into an HTTP error. */
  readonly refusals: string[] = []
  /** Every answered message: key → the message of the answer. */
  readonly answered = new Map<string, any>()
  responses = 0
  /** Milliseconds from the first try to the 201, per answered message. */
  readonly latencies: number[] = []
  onResponse?: (count: number) => void

  constructor(private readonly nodes: () => NodeProcess[]) {}

  async send(clientId: string, text: string, key: string): Promise<any> {
    let failedOn: { name: string; error: string } | undefined
    const began = Date.now()
    for (let attempt = 0; attempt < 12; attempt++) {
      const nodes = this.nodes()
      const node = nodes.find((n) => !this.down.has(n.name)) ?? nodes[attempt % nodes.length]!
      let res: Response
      try {
        res = await fetch(`${node.url}/api/v1/clients/${clientId}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${node.apiKey}`, 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ text }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        })
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause
        failedOn = { name: node.name, error: cause?.code ?? cause?.message ?? (err as Error).message }
        this.down.add(node.name)
        continue
      }
      const body = await res.json().catch(() => undefined)
      if (res.status !== 201) {
        this.refusals.push(`${key} on ${node.name}: ${res.status} ${JSON.stringify(body)}`)
        await new Promise((r) => setTimeout(r, 100 * (attempt + 1)))
        continue
      }
      if (failedOn) this.retries.push({ key, clientId, from: failedOn.name, to: node.name, error: failedOn.error, at: Date.now() })
      this.answered.set(key, body)
      this.latencies.push(Date.now() - began)
      this.onResponse?.(++this.responses)
      return body
    }
    throw new Error(`message ${key} was not accepted by any node (last network error: ${JSON.stringify(failedOn)})`)
  }
}

// ---- the console --------------------------------------------------------------------------------------

type Entry =
  | { kind: 'pub'; channel: string; offset?: number; data: any }
  | { kind: 'sub'; channel: string; wasRecovering: boolean; recovered: boolean; epoch?: string; offset?: number }
  | { kind: 'disconnected'; code: number; reason: string }

/** The operator console as the seed connects it, recording everything it is told, in arrival order. */
class RecordingConsole {
  readonly log: Entry[] = []
  readonly sdk: Centrifuge
  /** Message ids of the refetches the console made after `recovered: false`. */
  readonly refetched = new Set<string>()
  readonly refetches: Array<Promise<void>> = []
  refetchErrors: string[] = []

  constructor(wsUrl: string, token: string, private readonly refetch: () => Promise<string[]>) {
    this.sdk = newSdk(wsUrl, { data: { application: 'notifications', settings: { token } } })
    this.sdk.on('publication', (ctx) => this.log.push({ kind: 'pub', channel: ctx.channel, offset: ctx.offset, data: ctx.data }))
    this.sdk.on('subscribed', (ctx) => {
      this.log.push({
        kind: 'sub', channel: ctx.channel, wasRecovering: ctx.wasRecovering, recovered: ctx.recovered,
        epoch: ctx.streamPosition?.epoch, offset: ctx.streamPosition?.offset,
      })
      // What the console does after `recovered: false`: it refetches what it shows.
      if (ctx.wasRecovering && !ctx.recovered) {
        this.refetches.push(this.refetch().then(
          (ids) => ids.forEach((id) => this.refetched.add(id)),
          (err) => void this.refetchErrors.push((err as Error).message),
        ))
      }
    })
    this.sdk.on('disconnected', (ctx) => this.log.push({ kind: 'disconnected', code: ctx.code, reason: ctx.reason }))
    this.sdk.on('connecting', (ctx) => this.log.push({ kind: 'disconnected', code: ctx.code, reason: ctx.reason }))
  }

  async connect(): Promise<void> {
    const connected = new Promise<void>((resolveConnected, reject) => {
      const timer = setTimeout(() => reject(new Error('the console did not connect within 10 s')), 10_000)
      this.sdk.once('connected', () => (clearTimeout(timer), resolveConnected()))
    })
    this.sdk.connect()
    await connected
  }

  events(event: string): any[] {
    return this.log.flatMap((e) => (e.kind === 'pub' && e.data?.event === event ? [e.data] : []))
  }

  /** Message ids of every chatMessageCreated received. */
  receivedMessageIds(): Set<string> {
    return new Set(this.events('chatMessageCreated').map((e) => e.data.id))
  }

  close(): void {
    this.sdk.disconnect()
  }
}

// ---- the database -------------------------------------------------------------------------------------

interface StoredMessage {
  id: string
  chatId: string
  seq: number
  key: string | null
  createdAt: Date
  /** Outbox event ids of its chatMessageCreated (exactly one expected). */
  eventIds: string[]
  /** Its (first) outbox row: when it was written, published, and until when a relay last leased it. */
  outbox?: { createdAt: Date; publishedAt: Date | null }
}

/** The pid of a redis-server the test started (to pause it with SIGSTOP). */
async function redisPid(redis: RedisProcess): Promise<number> {
  const conn = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
  try {
    await conn.connect()
    const pid = Number(/process_id:(\d+)/.exec(await conn.info('server'))?.[1])
    if (!pid) throw new Error('redis-server did not tell its process_id')
    return pid
  } finally {
    conn.disconnect()
  }
}

const ms = (from: Date, to: Date | null | undefined) => (to ? `${to.getTime() - from.getTime()} ms` : 'never')

if (ready) {
  describe(SUITE, () => {
    let db: TestDatabase
    let sql: pg.Pool
    let redis: RedisProcess
    let env: Record<string, string>
    const nodes: Record<'A' | 'B' | 'C', NodeProcess | undefined> = { A: undefined, B: undefined, C: undefined }
    /** Lines saying a publish failed, per node process, since it started. */
    const publishFailures = new Map<string, number>()
    let generation = 0

    const alive = (n: NodeProcess | undefined): n is NodeProcess => !!n && n.child.exitCode === null && n.child.signalCode === null
    const node = (role: 'A' | 'B' | 'C'): NodeProcess => nodes[role]!
    const failuresSoFar = () => [...publishFailures.values()].reduce((a, b) => a + b, 0)

    async function start(role: 'A' | 'B' | 'C'): Promise<NodeProcess> {
      const name = generation === 0 ? role : `${role}${generation}`
      const n = await startNodeProcess(name, env)
      publishFailures.set(name, 0)
      n.child.stdout!.on('data', (d: Buffer) => {
        const count = d.toString().split('publish failed').length - 1
        if (count > 0) publishFailures.set(name, (publishFailures.get(name) ?? 0) + count)
      })
      nodes[role] = n
      return n
    }

    /** Three live nodes (a killed one is replaced by a new process). */
    async function ensureNodes(): Promise<void> {
      generation++
      for (const role of ['A', 'B', 'C'] as const) if (!alive(nodes[role])) await start(role)
    }

    beforeAll(async () => {
      if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first (npm test does)')
      db = await tempPostgres()
      sql = new pg.Pool({ connectionString: db.databaseUrl, max: 3 })
      // The drop at the end (WITH FORCE) can reach a client the pool is still closing: its 57P01 is no test failure.
      sql.on('error', () => {})
      redis = await startRedisProcess({ appendonly: true })
      env = {
        DATABASE_URL: db.databaseUrl!,
        DATABASE_POOL_SIZE: '8',
        REDIS_URL: redis.url,
        REDIS_PREFIX: `durability-${randomBytes(4).toString('hex')}`,
        OUTBOX_RELAY_INTERVAL: '200',
        OUTBOX_RELAY_AFTER: '500',
        TIMER_SWEEP_INTERVAL: '100',
        NODE_TTL: '3',
      }
      // The first start migrates; the other two then start at once.
      generation = 0
      await start('A')
      await Promise.all([start('B'), start('C')])
    }, 60_000)

    afterAll(async () => {
      for (const n of Object.values(nodes)) if (alive(n)) await n.kill()
      await sql?.end()
      await db?.drop()
    })

    /** Events not yet passed by their node's stored watermark (nor marked): a node's relay would publish them again. */
    async function unpublished(): Promise<number> {
      const { rows } = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM outbox o JOIN domain_nodes d ON d.node_id = o.node_id
          WHERE o.created_at >= d.unpublished_since AND o.published_at IS NULL`,
      )
      return rows[0]!.n
    }

    async function storedMessages(chatIds: string[]): Promise<StoredMessage[]> {
      const { rows } = await sql.query(
        `SELECT m.id, m.chat_id, m.seq::int AS seq, m.idempotency_key, m.created_at,
                coalesce((SELECT array_agg(o.event_id ORDER BY o.id) FROM outbox o
                           WHERE o.event = 'chatMessageCreated' AND o.chat_id = m.chat_id AND o.data->>'id' = m.id), '{}') AS event_ids,
                (SELECT to_jsonb(o) FROM (SELECT created_at, published_at FROM outbox o
                   WHERE o.event = 'chatMessageCreated' AND o.chat_id = m.chat_id AND o.data->>'id' = m.id ORDER BY o.id LIMIT 1) o) AS outbox
           FROM messages m WHERE m.chat_id = ANY($1) ORDER BY m.seq`,
        [chatIds],
      )
      const date = (v: string | null) => (v ? new Date(v) : null)
      return rows.map((r) => ({
        id: r.id, chatId: r.chat_id, seq: r.seq, key: r.idempotency_key, createdAt: r.created_at, eventIds: r.event_ids,
        outbox: r.outbox ? { createdAt: new Date(r.outbox.created_at), publishedAt: date(r.outbox.published_at) } : undefined,
      }))
    }

    interface Chat {
      clientId: string
      chatId: string
      sessionId: string
    }

    /** An operator with room for every chat, its console on node B, and CHATS clients whose sessions it holds. */
    async function setUp(scenario: string, count = CHATS) {
      const b = node('B')
      const op = await ok(b, 'POST', '/api/v1/operators', { name: `op-${scenario}`, maxChats: 200 })
      const { token } = await ok(b, 'POST', `/api/v1/operators/${op.id}/tokens`, {})
      const chats: Chat[] = []
      // The console reaches node B through a loopback proxy, so the test can cut its connection (it reconnects to B and recovers).
      const proxy = await SwitchProxy.start(b.port)
      const console_ = new RecordingConsole(`ws://127.0.0.1:${proxy.port}/centrifugo/connection/websocket`, token, async () => {
        const ids: string[] = []
        for (const chat of chats) {
          const page = await ok(node('B'), 'GET', `/api/v1/sessions/${chat.sessionId}/messages?limit=200`, undefined, token)
          ids.push(...page.items.map((m: any) => m.id))
        }
        return ids
      })
      await console_.connect()
      await waitUntil(async () => (await ok(b, 'GET', `/api/v1/operators/${op.id}`)).online === true, 10_000, 'the operator to be online')
      const made = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const client = await ok(b, 'POST', '/api/v1/clients', { name: `${scenario}-client-${i}` })
          const first = await ok(b, 'POST', `/api/v1/clients/${client.id}/messages`, { text: 'hello' })
          return { clientId: client.id as string, chatId: client.chatId as string, sessionId: first.sessionId as string }
        }),
      )
      chats.push(...made)
      await waitUntil(
        () => chats.every((c) => console_.events('chatSessionAdded').some((e) => e.data.chatId === c.chatId)),
        15_000,
        `chatSessionAdded of all ${count} chats on the console`,
      )
      return { op, token, console: console_, chats, proxy }
    }

    /** The burst: PER_CHAT messages in each chat, chats in parallel, each chat's messages one after another. */
    async function burst(scenario: string, sender: Sender, chats: Chat[]): Promise<void> {
      await Promise.all(
        chats.map(async (chat, i) => {
          for (let n = 0; n < PER_CHAT; n++) await sender.send(chat.clientId, `${scenario} chat ${i} #${n}`, `${scenario}-${i}-${n}`)
        }),
      )
    }

    /** Runs the burst and calls `fault` once FAULT_AFTER messages were answered; resolves when both are done. */
    async function burstWithFault(scenario: string, sender: Sender, chats: Chat[], fault: () => Promise<void>): Promise<void> {
      let faultDone: Promise<void> | undefined
      sender.onResponse = (count) => {
        if (count === FAULT_AFTER) faultDone = fault()
      }
      await burst(scenario, sender, chats)
      expect(faultDone, 'the fault ran mid-burst').toBeDefined()
      await faultDone
    }

    /**
     * Waits (bounded) until the outbox is empty and the console has every stored message (or refetched it after
     * `recovered: false`), sends a marker through the stream, then lists every broken promise.
     */
    async function verify(opts: { scenario: string; op: any; console: RecordingConsole; chats: Chat[]; sender: Sender; historyLost: boolean; waitMs: number }) {
      const { console: c, chats, sender } = opts
      const chatIds = chats.map((ch) => ch.chatId)
      const problems: string[] = []
      const began = Date.now()
      let stored: StoredMessage[] = []
      const covered = () => {
        const got = c.receivedMessageIds()
        return stored.every((m) => got.has(m.id) || (opts.historyLost && c.refetched.has(m.id)))
      }
      try {
        await waitUntil(async () => {
          if ((await unpublished()) > 0) return false
          stored = await storedMessages(chatIds)
          await Promise.all(c.refetches)
          return covered()
        }, opts.waitMs, 'an empty outbox and every stored message on the console')
      } catch (err) {
        problems.push((err as Error).message)
      }
      const deliveredAfterMs = Date.now() - began
      // Nothing more is on its way: a marker published now arrives after everything published before it.
      const marker = randomUUID()
      try {
        await publishMarker(node('B'), `operator:${opts.op.id}`, marker)
        await waitUntil(() => c.events('marker').some((e) => e.id === marker), 10_000, 'the marker on the console')
        await Promise.all(c.refetches)
      } catch (err) {
        problems.push(`marker: ${(err as Error).message}`)
      }
      stored = await storedMessages(chatIds)
      const left = await unpublished()
      if (left !== 0) problems.push(`${left} events still unpublished in the outbox`)
      problems.push(...c.refetchErrors.map((e) => `refetch failed: ${e}`))

      // The sender's side: every message answered 201 once, one stored message per key.
      problems.push(...sender.refusals.map((r) => `not 201: ${r}`))
      const perChat = new Map<string, StoredMessage[]>()
      for (const m of stored) perChat.set(m.chatId, [...(perChat.get(m.chatId) ?? []), m])
      for (const chat of chats) {
        const n = perChat.get(chat.chatId)?.length ?? 0
        if (n !== PER_CHAT + 1) problems.push(`chat ${chat.chatId}: ${n} stored messages, expected ${PER_CHAT + 1}`)
      }
      const byKey = new Map<string, StoredMessage[]>()
      for (const m of stored) if (m.key) byKey.set(m.key, [...(byKey.get(m.key) ?? []), m])
      for (const [key, ms] of byKey) if (ms.length !== 1) problems.push(`Idempotency-Key ${key}: ${ms.length} messages`)
      for (const [key, answer] of sender.answered) {
        const m = byKey.get(`client:${answer.author?.id}:${key}`)
        if (!m || m[0]!.id !== answer.id) problems.push(`answer to ${key} (${answer.id}) is not the stored message with that key (${m?.map((x) => x.id)})`)
      }

      // The console's streams: offsets contiguous unless the SDK said recovered:false; epochs; ids once per stream.
      const state = new Map<string, { epoch?: string; last: number; since: string }>()
      const streams = new Map<string, Array<{ offset?: number; data: any }>>()
      let recoveredTrue = 0
      let recoveredFalse = 0
      const disconnects: string[] = []
      for (const e of c.log) {
        if (e.kind === 'disconnected') {
          disconnects.push(`${e.code} ${e.reason}`)
        } else if (e.kind === 'sub') {
          const s = state.get(e.channel)
          if (!e.wasRecovering) {
            state.set(e.channel, { epoch: e.epoch, last: e.offset ?? 0, since: 'subscribed' })
          } else if (e.recovered) {
            recoveredTrue++
            if (!s) problems.push(`${e.channel}: recovered:true without an earlier subscription`)
            else {
              if (s.epoch !== e.epoch) problems.push(`${e.channel}: recovered:true but the epoch changed (${s.epoch} → ${e.epoch})`)
              s.since = 'recovered:true'
            }
          } else {
            recoveredFalse++
            state.set(e.channel, { epoch: e.epoch, last: e.offset ?? 0, since: 'recovered:false' })
          }
        } else {
          const s = state.get(e.channel)
          if (!s) {
            problems.push(`${e.channel}: a publication before any subscribed context`)
            continue
          }
          if (e.offset === undefined) problems.push(`${e.channel}: a publication without an offset (${e.data?.event})`)
          else {
            if (e.offset !== s.last + 1) {
              problems.push(`${e.channel} epoch ${s.epoch}: offset ${e.offset} after ${s.last} (${e.data?.event} ${e.data?.id}; last context ${s.since})`)
            }
            s.last = Math.max(s.last, e.offset)
          }
          const key = `${e.channel} epoch ${s.epoch}`
          streams.set(key, [...(streams.get(key) ?? []), { offset: e.offset, data: e.data }])
        }
      }
      if (opts.historyLost) {
        if (recoveredFalse === 0) problems.push('Redis came back empty but no subscription was told recovered:false')
      } else if (recoveredFalse > 0) {
        problems.push(`recovered:false ${recoveredFalse} time(s) although Redis kept its history`)
      }

      const seqOf = new Map(stored.map((m) => [m.id, m]))
      const receivedPerMessage = new Map<string, number>()
      let duplicatesAcrossEpochs = 0
      for (const [stream, pubs] of streams) {
        const envelopes = new Map<string, number>()
        for (const p of pubs) if (p.data?.id) envelopes.set(p.data.id, (envelopes.get(p.data.id) ?? 0) + 1)
        for (const [id, n] of envelopes) if (n > 1) problems.push(`${stream}: envelope ${id} arrived ${n} times`)
        const created = pubs.map((p) => p.data).filter((d) => d?.event === 'chatMessageCreated' && seqOf.has(d.data.id))
        const messages = new Map<string, number>()
        for (const d of created) messages.set(d.data.id, (messages.get(d.data.id) ?? 0) + 1)
        for (const [id, n] of messages) {
          if (n > 1) problems.push(`${stream}: message ${id} arrived ${n} times`)
          if (receivedPerMessage.has(id)) duplicatesAcrossEpochs++
          receivedPerMessage.set(id, (receivedPerMessage.get(id) ?? 0) + n)
        }
        for (const d of created) {
          const m = seqOf.get(d.data.id)!
          if (m.eventIds.length === 1 && d.id !== m.eventIds[0]) problems.push(`${stream}: message ${m.id} came with envelope ${d.id}, its outbox event is ${m.eventIds[0]}`)
        }
        // Per-chat order: each chat's messages in the order they were stored.
        const lastSeq = new Map<string, StoredMessage>()
        for (const d of created) {
          const m = seqOf.get(d.data.id)!
          const before = lastSeq.get(m.chatId)
          if (before && before.seq > m.seq) {
            const timing = (x: StoredMessage) => (x.outbox ? `committed at ${x.outbox.createdAt.toISOString()}, marked published ${ms(x.outbox.createdAt, x.outbox.publishedAt)} after (marked only when late)` : 'no outbox row')
            problems.push(
              `${stream}: chat ${m.chatId} out of order: message seq ${m.seq} (${m.key}; ${timing(m)}) arrived after seq ${before.seq} (${before.key}; ${timing(before)})`,
            )
          }
          if (!before || before.seq < m.seq) lastSeq.set(m.chatId, m)
        }
      }
      let missing = 0
      for (const m of stored) {
        if (m.eventIds.length !== 1) problems.push(`message ${m.id} has ${m.eventIds.length} chatMessageCreated events in the outbox`)
        const n = receivedPerMessage.get(m.id) ?? 0
        if (n === 0 && !(opts.historyLost && c.refetched.has(m.id))) {
          missing++
          problems.push(`message ${m.id} (${m.key}, seq ${m.seq}) never reached the console${opts.historyLost ? ' nor its refetch' : ''}`)
        }
        if (!opts.historyLost && n > 1) problems.push(`message ${m.id} reached the console ${n} times`)
      }

      const summary = {
        scenario: opts.scenario,
        stored: stored.length,
        received: c.events('chatMessageCreated').length,
        missing,
        retries: sender.retries.length,
        recoveredTrue,
        recoveredFalse,
        refetched: c.refetched.size,
        duplicatesAcrossEpochs,
        disconnects,
        latencyMs: (() => {
          const l = [...sender.latencies].sort((x, y) => x - y)
          return { p50: l[Math.floor(l.length / 2)], max: l[l.length - 1] }
        })(),
        streams: [...streams.keys()],
        deliveredAfterMs,
      }
      console.log(`[durability] ${JSON.stringify(summary)}`)
      return { problems, summary, stored }
    }

    /** The operator takes no new chats and its console leaves, so the next scenario's chats go to its own operator. */
    async function tearDown(op: any, console_: RecordingConsole, proxy: SwitchProxy): Promise<void> {
      console_.close()
      await proxy.close()
      await ok(node('B'), 'PATCH', `/api/v1/operators/${op.id}`, { maxChats: 0 })
    }

    it('(a) node A is killed with SIGKILL mid-burst: every message reaches the console once, in order; retries with the same Idempotency-Key create nothing twice', async () => {
      await ensureNodes()
      const { op, console: c, chats, proxy } = await setUp('a')
      const a = node('A')
      const sender = new Sender(() => [node('A'), node('C'), node('B')])
      let killedAt = 0
      await burstWithFault('a', sender, chats, async () => {
        killedAt = Date.now()
        await a.kill()
        // The console loses its connection at the same moment and recovers from B while the outbox catches up.
        proxy.cutAll()
      })
      const { problems, stored } = await verify({ scenario: 'a', op, console: c, chats, sender, historyLost: false, waitMs: 15_000 })

      // The requests in flight when A died were retried on another node with their key: one message, one event each.
      const afterKill = sender.retries.filter((r) => r.from === a.name)
      const byKey = new Map(stored.map((m) => [m.key, m]))
      const events = c.events('chatMessageCreated')
      const committedByA = afterKill.filter((r) => {
        const m = byKey.get(`client:${r.clientId}:${r.key}`)
        return m && m.createdAt.getTime() <= killedAt
      })
      for (const r of afterKill) {
        const m = byKey.get(`client:${r.clientId}:${r.key}`)
        if (!m) problems.push(`retried ${r.key}: no stored message`)
        else if (events.filter((e) => e.data.id === m.id).length !== 1) problems.push(`retried ${r.key}: ${events.filter((e) => e.data.id === m.id).length} events`)
      }
      console.log(`[durability] (a) retried after the kill: ${afterKill.length} (${afterKill.map((r) => `${r.key} ${r.error}→${r.to}`).join(', ')}); first try committed on A before it died: ${committedByA.length}`)
      await tearDown(op, c, proxy)
      expect(afterKill.length, 'requests in flight when A died, retried on another node').toBeGreaterThan(0)
      expect(problems).toEqual([])
    }, 60_000)

    it("(a') a message committed on A, which dies before answering, retried on C with the same Idempotency-Key: one message, one event", async () => {
      await ensureNodes()
      const { op, console: c, chats, proxy } = await setUp('a-key', 1)
      const { clientId, chatId } = chats[0]!
      const a = node('A')
      // Redis paused: A commits the message and then waits on its publish, so its answer is not sent yet.
      const pid = await redisPid(redis)
      process.kill(pid, 'SIGSTOP')
      let first: Promise<unknown>
      try {
        first = fetch(`${a.url}/api/v1/clients/${clientId}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${a.apiKey}`, 'content-type': 'application/json', 'idempotency-key': 'crash-key' },
          body: JSON.stringify({ text: 'committed, never answered' }),
        }).then((res) => `answered ${res.status}`, (err) => `network error: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`)
        await waitUntil(async () => (await storedMessages([chatId])).some((m) => m.key === `client:${clientId}:crash-key`), 10_000, 'the first try to commit on A')
        await a.kill()
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      expect(await first).toMatch(/^network error/)
      const retry = await call(node('C'), 'POST', `/api/v1/clients/${clientId}/messages`, { text: 'committed, never answered' }, undefined, { 'idempotency-key': 'crash-key' })
      expect(retry.status).toBe(201)

      const stored = (await storedMessages([chatId])).filter((m) => m.key === `client:${clientId}:crash-key`)
      expect(stored.map((m) => m.id)).toEqual([retry.body.id])
      await waitUntil(async () => (await unpublished()) === 0, 10_000, 'an empty outbox')
      const marker = randomUUID()
      await publishMarker(node('B'), `operator:${op.id}`, marker)
      await waitUntil(() => c.events('marker').some((e) => e.id === marker), 10_000, 'the marker on the console')
      const events = c.events('chatMessageCreated').filter((e) => e.data.id === retry.body.id)
      expect(events.map((e) => e.id)).toEqual(stored[0]!.eventIds)
      await tearDown(op, c, proxy)
    }, 30_000)

    it('(b) Redis (appendonly) is killed mid-burst and started again after 2 s: every message reaches the console once, in order, and recovery stays honest', async () => {
      await ensureNodes()
      const { op, console: c, chats, proxy } = await setUp('b')
      const sender = new Sender(() => [node('A'), node('C'), node('B')])
      await burstWithFault('b', sender, chats, async () => {
        await redis.kill()
        // The console loses its connection while Redis is down; it reconnects to B and recovers once it can.
        proxy.cutAll()
        await new Promise((r) => setTimeout(r, 2_000)) // the scenario: Redis down for 2 s
        await redis.start()
      })
      const { problems } = await verify({ scenario: 'b', op, console: c, chats, sender, historyLost: false, waitMs: 20_000 })
      await tearDown(op, c, proxy)
      expect(problems).toEqual([])
    }, 60_000)

    /**
     * Redis down longer than the broker's retry budget: the broker's connection uses ioredis' defaults
     * (maxRetriesPerRequest 20, retry delay min(50 ms × attempt, 2 s)), so queued commands fail after about
     * 10.5 s; the test keeps Redis down until a node logs a failed publish, then starts it again.
     */
    async function redisDownPastRetryBudget(scenario: string, restart: () => Promise<void>, historyLost: boolean) {
      await ensureNodes()
      const { op, console: c, chats, proxy } = await setUp(scenario)
      const sender = new Sender(() => [node('A'), node('C'), node('B')])
      let failedAfterMs = 0
      await burstWithFault(scenario, sender, chats, async () => {
        const before = failuresSoFar()
        await redis.kill()
        const downAt = Date.now()
        // The console loses its connection while Redis is down; it reconnects to B and recovers once it can.
        proxy.cutAll()
        await waitUntil(() => failuresSoFar() > before, 40_000, 'a publish to fail while Redis is down')
        failedAfterMs = Date.now() - downAt
        await restart()
        // And once more just after Redis is back, while the outbox still holds the failed events.
        proxy.cutAll()
      })
      console.log(`[durability] (${scenario}) Redis down ${failedAfterMs} ms until the first failed publish was logged`)
      const result = await verify({ scenario, op, console: c, chats, sender, historyLost, waitMs: 45_000 })
      await tearDown(op, c, proxy)
      return result
    }

    it('(d) Redis (appendonly) is down past the Redis client retry budget (publishes fail), then started again: every message reaches the console once, in order', async () => {
      const { problems } = await redisDownPastRetryBudget('d', () => redis.start(), false)
      expect(problems).toEqual([])
    }, 90_000)

    it('(d) Redis without persistence is down past the retry budget and comes back empty: recovered:false, and the events plus the refetch show every message, in order per stream', async () => {
      const { problems } = await redisDownPastRetryBudget('d-empty', async () => {
        // The same address, nothing kept: what a Redis without persistence is after a restart.
        redis = await startRedisProcess({ port: redis.port, appendonly: false })
      }, true)
      expect(problems).toEqual([])
    }, 90_000)
  })
}
