/**
 * Outbound webhooks (issue 16): the platform registers endpoints and the events each wants; every committed event
 * is POSTed to each, signed, at least once.
 *
 * Durable from the commit: the statement that writes an event to the outbox also writes one delivery row per
 * enabled endpoint subscribed to it (store/webhooks.ts `oweDeliveries`), so no cursor over outbox ids is needed
 * (bigserial ids commit out of order) and no list of endpoints is cached on any node. The outbox keeps an event
 * while a delivery still owes it.
 *
 * Sending: each node polls for endpoints with a delivery due and leases each (FOR UPDATE SKIP LOCKED, then a lease
 * renewed at every attempt), so one node at a time sends an endpoint's deliveries, one after another in outbox
 * order; at most `webhookConcurrency` endpoints per node at once. No network call runs inside a transaction: the
 * attempt is made, then recorded in one statement that holds only while the lease does. A failed attempt (not
 * 2xx, an error, or no answer within `webhookTimeoutMs`) is retried after an exponential backoff with jitter and
 * holds the endpoint's later deliveries back (event order); after `webhookMaxAttempts` the delivery failed and the
 * next one goes. `webhookDisableAfter` failed deliveries in a row disable the endpoint; its pending deliveries
 * wait, and resume when it is enabled again.
 */
import { createHmac, randomBytes } from 'node:crypto'
import {
  anyWebhook, attemptLog, backfillFirstWebhooks, claimWebhooks, deleteWebhook, dropDelivery, insertWebhook, listWebhooks, pendingDeliveries, pruneDeliveries,
  recordAttempt, releaseWebhook, updateWebhook, webhookById, type PendingDelivery, type WebhookRow,
} from '../store/webhooks.js'
import { messagesByIds } from '../store/outbox.js'
import type { DomainContext } from './context.js'
import { DomainError } from './errors.js'
import { EVENT_NAMES } from './events.js'
import { Periodic } from './periodic.js'
import { newId } from './tokens.js'
import { iso, messageView } from './views.js'

/** Events a webhook may subscribe to: every kept event (typing is never stored, so never sent). */
export const WEBHOOK_EVENTS: readonly string[] = EVENT_NAMES.filter((e) => e !== 'typing')
export const WEBHOOK_URL_MAX = 2048
export const WEBHOOK_SECRET_MIN = 16
export const WEBHOOK_SECRET_MAX = 256
/** Deliveries an endpoint's lease sends before it is handed back, so other endpoints get their turn. */
const DELIVERIES_PER_LEASE = 100
/** Pending deliveries read at a time. */
const READ_BATCH = 20

export interface Webhook {
  id: string
  url: string
  events: string[]
  enabled: boolean
  /** `active`, or `disabled` by the API or after failures (`disabledReason`, `disabledAt`). */
  status: 'active' | 'disabled'
  disabledReason: string | null
  disabledAt: string | null
  /** Deliveries in a row that failed every attempt. */
  consecutiveFailures: number
  createdAt: string
  updatedAt: string
}

export interface DeliveryAttempt {
  deliveryId: string
  eventId: string
  event: string
  /** The delivery's state now: pending (retrying or waiting), delivered, failed. */
  state: string
  attempt: number
  statusCode: number | null
  error: string | null
  durationMs: number
  at: string
}

const view = (r: WebhookRow): Webhook => ({
  id: r.id,
  url: r.url,
  events: r.events,
  enabled: r.enabled,
  status: r.enabled ? 'active' : 'disabled',
  disabledReason: r.disabled_reason,
  disabledAt: iso(r.disabled_at),
  consecutiveFailures: r.failures,
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
})

function checkUrl(raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new DomainError('bad_request', 'url must be an absolute http or https URL', 'url')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DomainError('bad_request', 'url must be http or https', 'url')
  if (url.username || url.password) throw new DomainError('bad_request', 'url must not carry credentials (the signature authenticates)', 'url')
  if (raw.length > WEBHOOK_URL_MAX) throw new DomainError('bad_request', `url must be at most ${WEBHOOK_URL_MAX} characters`, 'url')
  return url.toString()
}

function checkEvents(events: string[]): string[] {
  if (events.length === 0) throw new DomainError('bad_request', "events must name at least one event, or be ['*']", 'events')
  const unknown = events.find((e) => e !== '*' && !WEBHOOK_EVENTS.includes(e))
  if (unknown !== undefined) throw new DomainError('bad_request', `events: unknown event ${JSON.stringify(unknown)}`, 'events')
  if (events.includes('*') && events.length > 1) throw new DomainError('bad_request', "events: '*' stands alone", 'events')
  return [...new Set(events)]
}

function checkSecret(secret: string): string {
  if (secret.length < WEBHOOK_SECRET_MIN || secret.length > WEBHOOK_SECRET_MAX) {
    throw new DomainError('bad_request', `secret must be ${WEBHOOK_SECRET_MIN} to ${WEBHOOK_SECRET_MAX} characters`, 'secret')
  }
  return secret
}

/** `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`: what a receiver recomputes to trust a delivery. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/** The wait before attempt `attempt + 1`: base·2^(attempt−1), at most `maxMs`, less up to a quarter at random. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  const full = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 40))
  return Math.round(full * (0.75 + 0.25 * Math.random()))
}

export class Webhooks {
  private readonly poll: Periodic
  private readonly active = new Set<Promise<void>>()
  private readonly aborts = new Set<AbortController>()
  private ticks = 0
  private lastBackfill = 0
  private closed = false

  constructor(private readonly ctx: DomainContext) {
    this.poll = new Periodic(() => this.tick(), ctx.config.webhookPollIntervalMs, (err) => ctx.log.warn({ err }, 'webhook poll failed'))
  }

  // ---- endpoints (the API key's) ------------------------------------------------------------------

  /** A new endpoint; its secret (given, or generated) is in the answer, and never again. */
  async create(input: { url: string; events: string[]; secret?: string; enabled?: boolean }): Promise<Webhook & { secret: string }> {
    const url = checkUrl(input.url)
    const events = checkEvents(input.events)
    const secret = input.secret !== undefined ? checkSecret(input.secret) : `whsec_${randomBytes(24).toString('base64url')}`
    // This node owes its events to it from now on; the others once their next poll tells them (backfillMs covers the gap).
    this.ctx.webhooksOwed = true
    const row = await insertWebhook(this.ctx.db, { id: newId(), url, events, secret, enabled: input.enabled !== false, backfillMs: this.backfillMs })
    return { ...view(row), secret }
  }

  async list(): Promise<Webhook[]> {
    return (await listWebhooks(this.ctx.db)).map(view)
  }

  async get(id: string): Promise<Webhook> {
    return view(await this.row(id))
  }

  /** Changes url, events, secret or `enabled` (true also clears an automatic disabling and its failure count). */
  async update(id: string, patch: { url?: string; events?: string[]; secret?: string; enabled?: boolean }): Promise<Webhook> {
    const row = await updateWebhook(this.ctx.db, id, {
      url: patch.url === undefined ? undefined : checkUrl(patch.url),
      events: patch.events === undefined ? undefined : checkEvents(patch.events),
      secret: patch.secret === undefined ? undefined : checkSecret(patch.secret),
      enabled: patch.enabled,
      reason: 'disabled by the API',
    })
    if (!row) throw new DomainError('not_found', `webhook ${id} not found`)
    return view(row)
  }

  /** Enables an endpoint again (after automatic disabling): its pending deliveries resume at once. */
  async enable(id: string): Promise<Webhook> {
    return this.update(id, { enabled: true })
  }

  async remove(id: string): Promise<void> {
    if (!(await deleteWebhook(this.ctx.db, id))) throw new DomainError('not_found', `webhook ${id} not found`)
  }

  /** The delivery log of an endpoint: its attempts, newest first. */
  async deliveries(id: string, limit: number): Promise<DeliveryAttempt[]> {
    await this.row(id)
    return (await attemptLog(this.ctx.db, id, limit)).map((a) => ({
      deliveryId: String(a.delivery_id),
      eventId: a.event_id,
      event: a.event,
      state: a.state,
      attempt: a.attempt,
      statusCode: a.status_code,
      error: a.error,
      durationMs: a.duration_ms,
      at: iso(a.at)!,
    }))
  }

  private async row(id: string): Promise<WebhookRow> {
    const row = await webhookById(this.ctx.db, id)
    if (!row) throw new DomainError('not_found', `webhook ${id} not found`)
    return row
  }

  // ---- sending ------------------------------------------------------------------------------------

  /** Learns whether any endpoint exists, then polls. */
  async start(): Promise<void> {
    this.ctx.webhooksOwed = await anyWebhook(this.ctx.db).catch(() => true)
    this.poll.start()
  }

  /**
   * How long after a first endpoint's creation a node may still write events without owing them: until its next
   * poll (`webhookPollIntervalMs`, a slow one included). A sweep owes them for this long.
   */
  private get backfillMs(): number {
    return Math.max(30_000, 20 * this.ctx.config.webhookPollIntervalMs)
  }

  /** How long a node holds an endpoint between two recorded attempts: one attempt's timeout, and room to record it. */
  private get leaseMs(): number {
    return 2 * this.ctx.config.webhookTimeoutMs + 1_000
  }

  /** Leases the endpoints due that this node has room for and sends their deliveries (not awaited); prunes now and then. */
  async tick(): Promise<void> {
    const { db, config, nodeId } = this.ctx
    const room = Math.max(0, config.webhookConcurrency - this.active.size)
    if (!this.closed) {
      // Run with no room too: it also tells this node whether any endpoint exists.
      const { claimed, anyWebhook, backfilling } = await claimWebhooks(db, nodeId, this.leaseMs, room)
      // Only a node that learns of an endpoint here may have written events without owing them; until then, it did not need to.
      this.ctx.webhooksOwed = anyWebhook
      // At most once a second: it only has to run within the backfill window, and it reads the outbox.
      if (backfilling && Date.now() - this.lastBackfill >= 1_000) {
        this.lastBackfill = Date.now()
        await backfillFirstWebhooks(db)
      }
      for (const endpoint of claimed) {
        const run: Promise<void> = this.send(endpoint)
          .catch((err) => this.ctx.log.warn({ err, webhook: endpoint.id }, 'webhook delivery failed'))
          .finally(() => this.active.delete(run))
        this.active.add(run)
      }
    }
    // About every ten minutes at the default interval.
    if (++this.ticks % 600 === 0) await pruneDeliveries(db, config.webhookLogRetentionMs)
  }

  /** An endpoint's pending deliveries in order while the lease holds, until one fails or a batch is done. */
  private async send(endpoint: { id: string; url: string; secret: string }): Promise<void> {
    const { db, nodeId } = this.ctx
    try {
      let sent = 0
      while (sent < DELIVERIES_PER_LEASE && !this.closed) {
        const batch = await pendingDeliveries(db, endpoint.id, READ_BATCH)
        if (batch.length === 0) return
        const messages = await messagesByIds(db, batch.filter((d) => d.form === 'message_ref').map((d) => d.data.id as string))
        for (const delivery of batch) {
          if (this.closed) return
          const outcome = await this.attempt(endpoint, delivery, messages)
          if (outcome === 'stop') return
          sent++
        }
      }
    } finally {
      await releaseWebhook(db, endpoint.id, nodeId)
    }
  }

  /** One attempt of one delivery, then its record; 'stop' when the endpoint's turn ends (a retry is due later, lease lost, disabled). */
  private async attempt(endpoint: { id: string; url: string; secret: string }, d: PendingDelivery, messages: Map<string, any>): Promise<'next' | 'stop'> {
    const { db, config, nodeId } = this.ctx
    if (d.event_at === null || (d.form === 'message_ref' && !messages.has(d.data.id))) {
      await dropDelivery(db, endpoint.id, d.id, 'the event is no longer stored')
      return 'next'
    }
    const data = d.form === 'message_ref' ? messageView(messages.get(d.data.id)) : d.data
    const body = JSON.stringify({ id: d.event_id, event: d.event, data, createdAt: iso(d.event_at) })
    const attempt = d.attempts + 1
    const abort = new AbortController()
    this.aborts.add(abort)
    const timer = setTimeout(() => abort.abort(new Error(`no response within ${config.webhookTimeoutMs} ms`)), config.webhookTimeoutMs)
    const started = performance.now()
    let statusCode: number | null = null
    let error: string | null = null
    try {
      const timestamp = String(Math.floor(Date.now() / 1000))
      const res = await fetch(endpoint.url, {
        method: 'POST',
        redirect: 'manual',
        signal: abort.signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'livedesk-webhooks',
          'x-livedesk-signature': webhookSignature(endpoint.secret, timestamp, body),
          'x-livedesk-timestamp': timestamp,
          'x-livedesk-event': d.event,
          'x-livedesk-delivery': String(d.id),
        },
        body,
      })
      statusCode = res.status
      await res.body?.cancel().catch(() => {})
    } catch (err) {
      if (this.closed) return 'stop'
      error = abort.signal.aborted ? String((abort.signal.reason as Error)?.message ?? 'timeout') : errorText(err)
    } finally {
      clearTimeout(timer)
      this.aborts.delete(abort)
    }
    const durationMs = performance.now() - started
    const delivered = statusCode !== null && statusCode >= 200 && statusCode < 300
    const state = delivered ? 'delivered' : attempt >= config.webhookMaxAttempts ? 'failed' : 'pending'
    const retryInMs = state === 'pending' ? retryDelayMs(attempt, config.webhookRetryBaseMs, config.webhookRetryMaxDelayMs) : 0
    const recorded = await recordAttempt(db, {
      webhookId: endpoint.id, nodeId, deliveryId: d.id, attempt, statusCode, error, durationMs, state, retryInMs,
      disableAfter: config.webhookDisableAfter, leaseMs: this.leaseMs,
    })
    if (!recorded) {
      this.ctx.log.warn({ webhook: endpoint.id, delivery: d.id }, 'webhook lease lost during an attempt; another node sends it again')
      return 'stop'
    }
    if (!recorded.enabled) this.ctx.log.warn({ webhook: endpoint.id, url: endpoint.url }, 'webhook disabled after failed deliveries')
    return state === 'pending' || !recorded.enabled ? 'stop' : 'next'
  }

  /** Stops polling and aborts attempts in flight (not recorded: the endpoint's lease is handed back, they go again). */
  async close(): Promise<void> {
    this.closed = true
    await this.poll.stop()
    for (const abort of this.aborts) abort.abort(new Error('closing'))
    await Promise.all([...this.active])
  }
}

/** An error's message with its cause (fetch's "fetch failed" says nothing alone). */
function errorText(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } }
  const cause = e?.cause?.code ?? e?.cause?.message
  return (cause ? `${e?.message ?? 'error'}: ${cause}` : (e?.message ?? String(err))).slice(0, 500)
}
