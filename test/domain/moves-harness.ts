/**
 * The domain harness of issue 15's moves (reassignment, transfers, races) on PGlite or on a fresh PostgreSQL
 * database: the real domain and /api/v1 with a recorded gateway, plus helpers to wait on what it published.
 */
import { expect } from 'vitest'
import type { DomainConfig } from '../../src/domain/index.js'
import { openPglite } from '../../src/store/pglite.js'
import { openPostgres } from '../../src/store/postgres.js'
import { tempPostgres } from '../store/databases.js'
import { startHarness, type Harness } from './harness.js'

export type Backend = 'PGlite' | 'PostgreSQL'

/** `shared`: another node on the PostgreSQL database of that harness (dropped by its first node). */
export type MovesHarness = Harness & {
  databaseUrl?: string
  /** Stops the domain (sweepers, publishing) once, leaving the database open for checks. */
  stopDomain(): Promise<void>
}

export async function startMovesHarness(backend: Backend, config: Partial<DomainConfig>, nodeId = 'moves', shared?: string): Promise<MovesHarness> {
  const pg = backend === 'PostgreSQL' && !shared ? await tempPostgres() : undefined
  const databaseUrl = shared ?? pg?.databaseUrl
  const db = databaseUrl ? await openPostgres(databaseUrl, 20) : await openPglite()
  const limits = { points: 100_000, windowMs: 60_000 }
  const h = await startHarness(config, { operatorMessages: limits, clientMessages: limits }, { db, nodeId })
  let stopped: Promise<void> | undefined
  const stopDomain = () => (stopped ??= h.domain.close())
  return {
    ...h,
    stopDomain,
    databaseUrl,
    async close() {
      await stopDomain()
      await h.app.close()
      await db.close()
      await pg?.drop()
    },
  }
}

/** Polls `check` until it returns something truthy (or `timeoutMs` passes: the test fails with `what`). */
export async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The first envelope of `event` published to `channel` matching `match`, waited for. */
export function published(h: Harness, channel: string, event: string, match: (e: any) => boolean = () => true, timeoutMs?: number): Promise<any> {
  return until(`${event} on ${channel}`, () => h.live.events(channel, event).find(match), timeoutMs)
}

export async function newOperator(h: Harness, name: string, maxChats = 5, online = true): Promise<{ id: string; name: string; token: string }> {
  const op = (await h.api('POST', '/operators', { name, maxChats })).body
  const { token } = (await h.api('POST', `/operators/${op.id}/tokens`, {})).body
  if (online) await h.domain.connectionOpened({ kind: 'operator', operatorId: op.id }, `conn-${op.id}`)
  return { id: op.id, name, token }
}

/** The operator's status as a person sets it (PUT /operators/{id}/status, API key). */
export async function setStatus(h: Harness, operatorId: string, status: 'online' | 'away' | 'offline'): Promise<void> {
  const res = await h.api('PUT', `/operators/${operatorId}/status`, { status })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
}

export async function newClient(h: Harness, name = 'Ann'): Promise<{ id: string; chatId: string; token: string }> {
  return (await h.api('POST', '/clients', { name })).body
}

/** A client message (opens a session when none is open); returns the session it went to. */
export async function write(h: Harness, clientId: string, text = 'hello'): Promise<any> {
  const res = await h.api('POST', `/clients/${clientId}/messages`, { text })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return sessionOfChat(h, res.body.chatId)
}

export async function sessionOfChat(h: Harness, chatId: string): Promise<any> {
  return (await h.db.query<any>(`SELECT * FROM sessions WHERE chat_id = $1 ORDER BY seq DESC LIMIT 1`, [chatId]))[0]
}
