/**
 * State survives a restart of livedesk (PGlite in the data dir, or PostgreSQL): operators, tokens, clients,
 * sessions, messages and the queue. After it, an operator's SDK that comes back gets recovered:false and
 * GET /api/v1/sessions has everything to redraw.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { nextEvent } from '../helpers/sdk.js'
import { postgresAvailable, tempPostgres } from '../store/databases.js'
import { connect, newClient, newOperator, ok } from './e2e.js'

const pgUp = await postgresAvailable()

async function restartKeepsState(databaseUrl?: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'livedesk-restart-'))
  try {
    const first = await startTestLivedesk({ dataDir, databaseUrl })
    const port = first.port
    const a = await newOperator(first, 'Keeper', 1)
    const c = await connect(first, 'notifications', a.token)
    const held = await newClient(first, 'held')
    const waiting = await newClient(first, 'waiting')
    const m1 = await ok(first, 'POST', `/clients/${held.id}/messages`, { text: 'first' })
    await c.next('chatSessionAdded', (e) => e.data.id === m1.sessionId)
    const reply = await ok(first, 'POST', `/sessions/${m1.sessionId}/messages`, { text: 'answer' }, a.token)
    await ok(first, 'POST', `/clients/${held.id}/messages`, { text: 'thanks' })
    const m2 = await ok(first, 'POST', `/clients/${waiting.id}/messages`, { text: 'queued one' })
    await c.next('operatorNotFound', (e) => e.data.sessionId === m2.sessionId)

    // The console stays; the server goes away and comes back on the same port with the same data.
    const resubscribed = nextEvent(c.sdk, 'subscribed', (e) => e.channel === `operator:${a.id}`, 15_000)
    await first.close()
    const second = await startTestLivedesk({ dataDir, databaseUrl, port })
    const sub = await resubscribed

    // The token still works, over the socket and the API.
    const me = await ok(second, 'GET', '/me', undefined, a.token)
    expect(me).toMatchObject({ id: a.id, name: 'Keeper', maxChats: 1, blocked: false })
    // The memory broker lost its history: the SDK is told its publications were not recovered.
    expect(sub).toMatchObject({ wasRecovering: true, recovered: false })
    const { items } = await ok(second, 'GET', '/sessions', undefined, a.token)
    const mine = items.find((s: any) => s.id === m1.sessionId)
    const queued = items.find((s: any) => s.id === m2.sessionId)
    expect(mine).toMatchObject({ status: 'assigned', operatorId: a.id, unreadClientMessageCount: 2, lastMessage: { text: 'thanks' } })
    expect(mine.lastOperatorMessage.id).toBe(reply.id)
    expect(mine.firstClientMessageAfterLastOperatorMessage.text).toBe('thanks')
    expect(queued).toMatchObject({ status: 'queued', botStatus: 'HELP', lastMessage: { text: 'queued one' } })
    const { items: messages } = await ok(second, 'GET', `/sessions/${m1.sessionId}/messages`, undefined, a.token)
    expect(messages.map((m: any) => m.text)).toEqual(['first', 'answer', 'thanks'])
    // The queue goes on: closing the held session hands the queued one to the operator.
    await ok(second, 'POST', `/sessions/${m1.sessionId}/close`, undefined, a.token)
    await c.next('chatSessionAdded', (e) => e.data.id === m2.sessionId, 10_000)
    c.close()
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

describe('restart', () => {
  it('keeps operators, tokens, clients, sessions, messages and the queue (PGlite)', async () => {
    await restartKeepsState()
  }, 60_000)

  it.skipIf(!pgUp)('keeps operators, tokens, clients, sessions, messages and the queue (PostgreSQL)', async () => {
    const db = await tempPostgres()
    try {
      await restartKeepsState(db.databaseUrl)
    } finally {
      await db.drop()
    }
  }, 60_000)
})
