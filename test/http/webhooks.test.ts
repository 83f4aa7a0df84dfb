/**
 * Issue 16 item 5, outbound webhooks: endpoints over /api/v1 (API key), deliveries from the outbox to a real HTTP
 * receiver on 127.0.0.1 that fails (500), times out and recovers: every outbox event arrives (by event id), signed,
 * in order, retries spaced further apart each time; an endpoint gets only its events; failed deliveries disable an
 * endpoint and enabling it resumes. On PGlite and PostgreSQL; two nodes on one PostgreSQL send each event once per
 * endpoint, and an endpoint leased by a node that died is sent once the lease ends.
 */
import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { DomainConfig } from '../../src/domain/config.js'
import type { Db } from '../../src/store/db.js'
import { openPglite } from '../../src/store/pglite.js'
import { openPostgres } from '../../src/store/postgres.js'
import { startHarness, type Harness } from '../domain/harness.js'
import { until } from '../helpers/databases15.js'
import { postgresAvailable, tempPostgres, type TestDatabase } from '../store/databases.js'

const pgUp = await postgresAvailable()
/** Polls the API or the database (bounded): generous, as the suite may run on a busy machine. */
const waitFor = <T>(probe: () => Promise<T | undefined | false>) => until(probe, 30_000)

const CONFIG: Partial<DomainConfig> = {
  webhookPollIntervalMs: 20,
  webhookRetryBaseMs: 100,
  webhookRetryMaxDelayMs: 10_000,
  webhookTimeoutMs: 1_500,
  webhookMaxAttempts: 5,
  webhookDisableAfter: 2,
  webhookConcurrency: 4,
}

interface Received {
  path: string
  headers: IncomingMessage['headers']
  raw: string
  body: any
  at: number
  /** What the receiver answered: a status, or 'hang' (no answer until the sender gives up). */
  answer: number | 'hang'
}

/** A real HTTP server on 127.0.0.1: each path answers as its behaviour says for its n-th request (from 0). */
class Receiver {
  readonly received: Received[] = []
  readonly behaviour = new Map<string, (n: number) => number | 'hang'>()
  private server!: Server
  private readonly hanging = new Set<ServerResponse>()
  private waiters: Array<() => void> = []

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        const path = req.url ?? '/'
        const n = this.received.filter((r) => r.path === path).length
        const answer = (this.behaviour.get(path) ?? (() => 200))(n)
        const raw = Buffer.concat(chunks).toString('utf8')
        this.received.push({ path, headers: req.headers, raw, body: JSON.parse(raw), at: performance.now(), answer })
        if (answer === 'hang') this.hanging.add(res)
        else res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'no')
        for (const w of this.waiters.splice(0)) w()
      })
    })
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`
  }

  on(path: string): Received[] {
    return this.received.filter((r) => r.path === path)
  }

  /** Event ids answered 2xx on `path`, in the order they were first delivered. */
  delivered(path: string): string[] {
    return [...new Set(this.on(path).filter((r) => r.answer !== 'hang' && r.answer < 300).map((r) => r.body.id as string))]
  }

  /** Resolves when `probe` holds after some request; each request wakes it (no polling). */
  async until(probe: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!probe()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`receiver: ${what} not seen within ${timeoutMs} ms (${this.received.length} requests)`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy()
    this.server.closeAllConnections()
    await new Promise((r) => this.server.close(r))
  }
}

/** A receiver's check of a delivery: the signature over "<timestamp>.<body>" with the endpoint's secret. */
function verify(r: Received, secret: string): boolean {
  const ts = r.headers['x-livedesk-timestamp'] as string
  const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${r.raw}`).digest('hex')}`
  return r.headers['x-livedesk-signature'] === expected
}

/** Outbox events after `afterId`, in id order. */
async function outboxAfter(db: Db, afterId: number): Promise<Array<{ id: number; event_id: string; event: string }>> {
  const rows = await db.query<{ id: string; event_id: string; event: string }>(`SELECT id, event_id, event FROM outbox WHERE id > $1 ORDER BY id`, [afterId])
  return rows.map((r) => ({ ...r, id: Number(r.id) }))
}

async function lastOutboxId(db: Db): Promise<number> {
  const [row] = await db.query<{ id: string | null }>(`SELECT max(id) AS id FROM outbox`)
  return Number(row?.id ?? 0)
}

/** A client with `n` messages: a session start (one transaction) and messages in the open session (one statement). */
async function clientTalks(h: Harness, name: string, n: number): Promise<void> {
  const client = (await h.api('POST', '/clients', { name })).body
  for (let i = 0; i < n; i++) expect((await h.api('POST', `/clients/${client.id}/messages`, { text: `${name} ${i}` })).status).toBe(201)
}

/** Deletes every endpoint, so a test that failed half-way leaves none owing the next test's events. */
async function deleteAllWebhooks(h: Harness): Promise<void> {
  for (const w of (await h.api('GET', '/webhooks')).body.items) await h.api('DELETE', `/webhooks/${w.id}`)
}

for (const kind of ['PGlite', 'PostgreSQL'] as const) {
  const run = kind === 'PostgreSQL' && !pgUp ? describe.skip : describe
  run(`webhooks (${kind})`, () => {
    let h: Harness
    let pg: TestDatabase | undefined
    const receiver = new Receiver()
    beforeAll(async () => {
      await receiver.start()
      pg = kind === 'PostgreSQL' ? await tempPostgres() : undefined
      h = await startHarness(CONFIG, {}, { db: pg ? await openPostgres(pg.databaseUrl!) : await openPglite(), nodeId: 'node-a' })
    }, 30_000)
    afterAll(async () => {
      await h?.close()
      await receiver.close()
      await pg?.drop()
    }, 30_000)
    afterEach(() => deleteAllWebhooks(h))

    it('validates endpoints: http/https URL, known events, secret length; API key only; the secret shows once', async () => {
      const bad = async (body: unknown, field: string) => {
        const r = await h.api('POST', '/webhooks', body)
        expect(r.status, JSON.stringify(body)).toBe(400)
        expect(r.body.error.field, JSON.stringify(r.body)).toBe(field)
      }
      await bad({ url: 'ftp://example.com/hook', events: ['*'] }, 'url')
      await bad({ url: 'not a url', events: ['*'] }, 'url')
      await bad({ url: 'http://user:pw@example.com/', events: ['*'] }, 'url')
      await bad({ url: 'https://example.com/hook', events: ['noSuchEvent'] }, 'events')
      await bad({ url: 'https://example.com/hook', events: [] }, 'events')
      await bad({ url: 'https://example.com/hook', events: ['typing'] }, 'events')
      await bad({ url: 'https://example.com/hook', events: ['*'], secret: 'short' }, 'secret')
      await bad({ url: 'https://example.com/hook', events: ['*'], extra: 1 }, 'extra')
      await bad({ events: ['*'] }, 'url')
      expect((await h.api('POST', '/webhooks', { url: 'https://example.com/hook', events: ['*'] }, null)).status).toBe(401)

      const created = await h.api('POST', '/webhooks', { url: 'https://example.com/hook', events: ['chatMessageCreated'], enabled: false })
      expect(created.status).toBe(201)
      expect(created.body).toMatchObject({ url: 'https://example.com/hook', events: ['chatMessageCreated'], enabled: false, status: 'disabled', disabledReason: 'disabled by the API' })
      expect(created.body.secret).toMatch(/^whsec_.{32}$/)
      const got = await h.api('GET', `/webhooks/${created.body.id}`)
      expect(got.status).toBe(200)
      expect(got.body.secret).toBeUndefined()
      expect((await h.api('GET', '/webhooks')).body.items.some((w: any) => w.id === created.body.id && w.secret === undefined)).toBe(true)
      expect((await h.api('PATCH', `/webhooks/${created.body.id}`, { url: 'mailto:a@b.c' })).body.error.field).toBe('url')
      const patched = await h.api('PATCH', `/webhooks/${created.body.id}`, { events: ['chatSessionStarted', 'chatMessageCreated'] })
      expect(patched.body.events).toEqual(['chatSessionStarted', 'chatMessageCreated'])
      expect((await h.api('DELETE', `/webhooks/${created.body.id}`)).status).toBe(204)
      expect((await h.api('GET', `/webhooks/${created.body.id}`)).status).toBe(404)
      expect((await h.api('GET', `/webhooks/${created.body.id}/deliveries`)).status).toBe(404)
      expect((await h.api('POST', `/webhooks/${created.body.id}/enable`)).status).toBe(404)
    })

    it('delivers every outbox event through failures and a timeout, signed, in order, retries spaced further apart; a subscriber gets only its events', async () => {
      // The first delivery: 500, 500, 500, no answer, then 200; every later one at once.
      receiver.behaviour.set('/flaky', (n) => (n < 3 ? 500 : n === 3 ? 'hang' : 200))
      const all = (await h.api('POST', '/webhooks', { url: receiver.url('/flaky'), events: ['*'] })).body
      const messagesOnly = (await h.api('POST', '/webhooks', { url: receiver.url('/messages'), events: ['chatMessageCreated'], secret: 'a-secret-of-my-own-choice' })).body
      expect(messagesOnly.secret).toBe('a-secret-of-my-own-choice')
      const from = await lastOutboxId(h.db)

      await clientTalks(h, 'Ann', 3)
      await clientTalks(h, 'Bob', 2)
      const owed = await outboxAfter(h.db, from)
      expect(owed.length).toBeGreaterThanOrEqual(9)
      await receiver.until(() => owed.every((e) => receiver.delivered('/flaky').includes(e.event_id)), 'every event on /flaky')
      const messageEvents = owed.filter((e) => e.event === 'chatMessageCreated')
      expect(messageEvents).toHaveLength(5)
      await receiver.until(() => messageEvents.every((e) => receiver.delivered('/messages').includes(e.event_id)), 'every message on /messages')

      // Every event of the outbox, in outbox order, and nothing else; each request signed and well-formed.
      expect(receiver.delivered('/flaky')).toEqual(owed.map((e) => e.event_id))
      expect(receiver.delivered('/messages')).toEqual(messageEvents.map((e) => e.event_id))
      expect(receiver.on('/messages').every((r) => r.body.event === 'chatMessageCreated')).toBe(true)
      for (const [path, secret] of [['/flaky', all.secret], ['/messages', messagesOnly.secret]] as const) {
        for (const r of receiver.on(path)) {
          expect(verify(r, secret), `signature of ${r.raw}`).toBe(true)
          expect(verify(r, secret === all.secret ? messagesOnly.secret : all.secret)).toBe(false)
          expect(Object.keys(r.body).sort()).toEqual(['createdAt', 'data', 'event', 'id'])
          expect(r.headers['x-livedesk-event']).toBe(r.body.event)
          expect(r.headers['content-type']).toBe('application/json')
          expect(Math.abs(Number(r.headers['x-livedesk-timestamp']) - Date.now() / 1000)).toBeLessThan(60)
          expect(owed.find((e) => e.event_id === r.body.id)?.event).toBe(r.body.event)
        }
      }
      const message = receiver.on('/messages')[0]!.body
      expect(message.data).toMatchObject({ text: 'Ann 0', author: { type: 'client' } })

      // The first event's five attempts, under one delivery id.
      const first = receiver.on('/flaky').filter((r) => r.body.id === owed[0]!.event_id)
      expect(first.map((r) => r.answer)).toEqual([500, 500, 500, 'hang', 200])
      expect(new Set(first.map((r) => r.headers['x-livedesk-delivery'])).size).toBe(1)

      // The delivery log: every attempt with its status or error, the delivery now delivered.
      // The receiver saw the last attempt before the sender recorded it.
      const log = await waitFor(async () => {
        const items = (await h.api('GET', `/webhooks/${all.id}/deliveries?limit=1000`)).body.items
        return owed.every((e) => items.some((a: any) => a.eventId === e.event_id && a.state === 'delivered')) && items
      })
      const firstLog = log.filter((a: any) => a.eventId === owed[0]!.event_id).reverse()
      expect(firstLog.map((a: any) => [a.attempt, a.statusCode])).toEqual([[1, 500], [2, 500], [3, 500], [4, null], [5, 200]])
      expect(firstLog[3].error).toMatch(/no response within 1500 ms/)
      expect(firstLog[3].durationMs).toBeGreaterThanOrEqual(1_450)
      expect(firstLog.every((a: any) => a.state === 'delivered' && a.deliveryId === first[0]!.headers['x-livedesk-delivery'])).toBe(true)
      // Retries spaced further apart: from the end of attempt k to the start of the next, at least its backoff
      // (base·2^(k−1), less a quarter of jitter), as the sender's log times them (the receiver shares a busy process).
      const waits = firstLog.slice(1).map((a: any, k: number) => Date.parse(a.at) - a.durationMs - Date.parse(firstLog[k].at))
      waits.forEach((wait: number, k: number) => expect(wait, `wait ${k + 1} of ${waits}`).toBeGreaterThanOrEqual(0.75 * CONFIG.webhookRetryBaseMs! * 2 ** k - 5))
      expect(waits[3]).toBeGreaterThan(waits[0])
      expect(waits[3]).toBeGreaterThan(waits[1])
      expect(new Set(log.map((a: any) => a.eventId))).toEqual(new Set(owed.map((e) => e.event_id)))
      const status = (await h.api('GET', `/webhooks/${all.id}`)).body
      expect(status).toMatchObject({ status: 'active', enabled: true, consecutiveFailures: 0 })

      // Pruning the outbox keeps nothing a webhook still owes: here nothing is owed, so it may go.
      const [{ n }] = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE state = 'pending'`)
      expect(n).toBe(0)
    }, 90_000)

    it('disables an endpoint after the configured failed deliveries; enabling it resumes its pending deliveries', async () => {
      let failing = true
      receiver.behaviour.set('/down', () => (failing ? 500 : 200))
      const hook = (await h.api('POST', '/webhooks', { url: receiver.url('/down'), events: ['chatMessageCreated'] })).body
      const from = await lastOutboxId(h.db)
      await clientTalks(h, 'Cy', 3)
      const owed = (await outboxAfter(h.db, from)).filter((e) => e.event === 'chatMessageCreated')
      expect(owed).toHaveLength(3)

      // Two deliveries (five attempts each) fail: disabled, with why and when; the third waits.
      await receiver.until(() => receiver.on('/down').length >= 2 * CONFIG.webhookMaxAttempts!, 'ten failed attempts')
      const disabled = await waitFor(async () => {
        const w = (await h.api('GET', `/webhooks/${hook.id}`)).body
        return w.status === 'disabled' ? w : undefined
      })
      expect(disabled).toMatchObject({ enabled: false, consecutiveFailures: 2, disabledReason: '2 deliveries in a row failed; last: HTTP 500' })
      expect(Date.parse(disabled.disabledAt)).toBeGreaterThan(Date.now() - 60_000)
      expect(receiver.on('/down').map((r) => r.body.id)).toEqual([...Array(5).fill(owed[0]!.event_id), ...Array(5).fill(owed[1]!.event_id)])
      const log = (await h.api('GET', `/webhooks/${hook.id}/deliveries`)).body.items
      expect(log).toHaveLength(10)
      expect(log.every((a: any) => a.state === 'failed' && a.statusCode === 500)).toBe(true)
      // An event while it is disabled is not owed to it.
      const whileDisabled = await lastOutboxId(h.db)
      await clientTalks(h, 'Dee', 1)
      const notOwed = (await outboxAfter(h.db, whileDisabled)).filter((e) => e.event === 'chatMessageCreated')

      failing = false
      const enabled = (await h.api('POST', `/webhooks/${hook.id}/enable`)).body
      expect(enabled).toMatchObject({ status: 'active', enabled: true, disabledReason: null, disabledAt: null, consecutiveFailures: 0 })
      const afterEnable = await lastOutboxId(h.db)
      await clientTalks(h, 'Eve', 1)
      const fresh = (await outboxAfter(h.db, afterEnable)).filter((e) => e.event === 'chatMessageCreated')
      await receiver.until(() => receiver.delivered('/down').includes(fresh[0]!.event_id), 'the event after enabling')
      // The pending third went first (event order); the one from the disabled time never.
      expect(receiver.delivered('/down')).toEqual([owed[2]!.event_id, fresh[0]!.event_id])
      expect(receiver.delivered('/down')).not.toContain(notOwed[0]!.event_id)
    }, 90_000)

    it('keeps an owed event in the outbox past its retention, prunes it once delivered, and prunes the log after its own', async () => {
      receiver.behaviour.set('/later', () => 503)
      const hook = (await h.api('POST', '/webhooks', { url: receiver.url('/later'), events: ['chatMessageCreated'] })).body
      const from = await lastOutboxId(h.db)
      await clientTalks(h, 'Flo', 1)
      const owed = (await outboxAfter(h.db, from)).find((e) => e.event === 'chatMessageCreated')!
      await receiver.until(() => receiver.on('/later').length >= 1, 'a first attempt')
      // Disabled by the API: the delivery stays owed, and waits.
      expect((await h.api('PATCH', `/webhooks/${hook.id}`, { enabled: false })).body).toMatchObject({ status: 'disabled', disabledReason: 'disabled by the API' })
      const { prunePublished } = await import('../../src/store/outbox.js')
      // Everything published (passed by the nodes' watermark) is older than a retention of 0 ms: only what a webhook owes stays.
      await waitFor(async () => (await h.db.query(`SELECT 1 FROM outbox WHERE id > $1 AND created_at >= (SELECT min(unpublished_since) FROM domain_nodes)`, [from])).length === 0)
      await prunePublished(h.db, 0)
      expect((await h.db.query(`SELECT event_id FROM outbox WHERE id > $1`, [from])).map((r: any) => r.event_id)).toEqual([owed.event_id])
      receiver.behaviour.set('/later', () => 200)
      await h.api('POST', `/webhooks/${hook.id}/enable`)
      await receiver.until(() => receiver.delivered('/later').includes(owed.event_id), 'the owed event')
      await waitFor(async () => (await h.db.query(`SELECT 1 FROM webhook_deliveries WHERE state = 'pending'`)).length === 0)
      await prunePublished(h.db, 0)
      expect(await h.db.query(`SELECT event_id FROM outbox WHERE id > $1`, [from])).toEqual([])
      // The delivery log goes after its retention (0 here).
      expect((await h.api('GET', `/webhooks/${hook.id}/deliveries`)).body.items.length).toBeGreaterThanOrEqual(2)
      const { pruneDeliveries } = await import('../../src/store/webhooks.js')
      expect(await pruneDeliveries(h.db, 0)).toBeGreaterThanOrEqual(3)
      expect((await h.api('GET', `/webhooks/${hook.id}/deliveries`)).body.items).toEqual([])
    }, 90_000)
  })
}

const runTwo = pgUp ? describe : describe.skip
runTwo('webhooks on two nodes (PostgreSQL)', () => {
  let a: Harness
  let b: Harness
  /** A third node that polls once a minute: it learns of a first endpoint long after its creation. */
  let late: Harness
  let pg: TestDatabase
  const receiver = new Receiver()
  beforeAll(async () => {
    await receiver.start()
    pg = await tempPostgres()
    a = await startHarness(CONFIG, {}, { db: await openPostgres(pg.databaseUrl!), nodeId: 'node-a' })
    b = await startHarness(CONFIG, {}, { db: await openPostgres(pg.databaseUrl!), nodeId: 'node-b' })
    late = await startHarness({ ...CONFIG, webhookPollIntervalMs: 60_000 }, {}, { db: await openPostgres(pg.databaseUrl!), nodeId: 'node-late' })
  }, 30_000)
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await late?.close()
    await receiver.close()
    await pg?.drop()
  }, 30_000)
  afterEach(() => deleteAllWebhooks(a))

  it('owes a first endpoint the events of a node that has not heard of it yet', async () => {
    const hook = (await a.api('POST', '/webhooks', { url: receiver.url('/first'), events: ['*'] })).body
    const from = await lastOutboxId(a.db)
    // The late node still believes there is no endpoint: its statements owe nothing; the sweep owes them.
    await clientTalks(late, 'Lou', 3)
    const owed = await outboxAfter(a.db, from)
    expect(owed).toHaveLength(5)
    await receiver.until(() => owed.every((e) => receiver.delivered('/first').includes(e.event_id)), 'the late node\'s events')
    expect(receiver.on('/first').map((r) => r.body.id).sort()).toEqual(owed.map((e) => e.event_id).sort())
    expect(receiver.on('/first').every((r) => verify(r, hook.secret))).toBe(true)
  }, 90_000)

  it('delivers each event once per endpoint while both nodes send', async () => {
    const paths = ['/one', '/two', '/three']
    const hooks = []
    for (const path of paths) hooks.push((await a.api('POST', '/webhooks', { url: receiver.url(path), events: ['*'] })).body)
    const from = await lastOutboxId(a.db)
    await Promise.all([clientTalks(a, 'Gil', 4), clientTalks(b, 'Hal', 4), clientTalks(a, 'Ivy', 3), clientTalks(b, 'Jo', 3)])
    const owed = await outboxAfter(a.db, from)
    expect(owed.length).toBeGreaterThanOrEqual(14 + 8)
    for (const path of paths) await receiver.until(() => owed.every((e) => receiver.delivered(path).includes(e.event_id)), `every event on ${path}`)
    for (const [i, path] of paths.entries()) {
      const ids = receiver.on(path).map((r) => r.body.id)
      expect(ids.length, `${path}: each event once`).toBe(owed.length)
      expect(new Set(ids)).toEqual(new Set(owed.map((e) => e.event_id)))
      expect(receiver.on(path).every((r) => verify(r, hooks[i].secret))).toBe(true)
    }
  }, 90_000)

  it('sends the deliveries of an endpoint leased by a node that died once its lease ends', async () => {
    const hook = (await a.api('POST', '/webhooks', { url: receiver.url('/orphan'), events: ['chatMessageCreated'] })).body
    // What a node killed mid-delivery leaves: the endpoint leased to it, its deliveries pending and unrecorded.
    const [{ until: leaseEnd }] = await a.db.query<{ until: Date }>(
      `UPDATE webhooks SET lease_node = 'dead-node', lease_until = clock_timestamp() + interval '1500 milliseconds' WHERE id = $1 RETURNING lease_until AS until`,
      [hook.id],
    )
    const from = await lastOutboxId(a.db)
    await clientTalks(b, 'Kim', 2)
    const owed = (await outboxAfter(a.db, from)).filter((e) => e.event === 'chatMessageCreated')
    await receiver.until(() => owed.every((e) => receiver.delivered('/orphan').includes(e.event_id)), 'the orphaned deliveries')
    expect(receiver.delivered('/orphan')).toEqual(owed.map((e) => e.event_id))
    const firstAt = Date.now() - (performance.now() - receiver.on('/orphan')[0]!.at)
    expect(firstAt).toBeGreaterThanOrEqual(new Date(leaseEnd).getTime() - 50)
  }, 90_000)
})
