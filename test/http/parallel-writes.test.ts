/**
 * Writes that really run in parallel keep each chat's order (issue 10): many chats, many messages each, all
 * sent at once — clients and operators writing in the same chats — and every console (the holder's and the
 * client's widget) gets each chat's `chatMessageCreated` in the order the messages were stored
 * (`GET /api/v1/sessions/:id/messages`), with `chatSessionAdded` first. On PGlite, and on PostgreSQL.
 */
import { describe, expect, it } from 'vitest'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { until } from '../helpers/sdk.js'
import { postgresAvailable, tempPostgres } from '../store/databases.js'
import { api, connect, newClient, newOperator, ok, settle, type Console } from './e2e.js'

const CHATS = 16
const OPERATORS = 4
const FIRST_BURST = 8 // client messages per chat, all at once: the first of each opens its session
const SECOND_BURST = 6 // client messages and as many operator replies per chat, all at once

const pgUp = await postgresAvailable()

async function run(databaseUrl?: string) {
  const l = await startTestLivedesk({ databaseUrl })
  const consoles: Console[] = []
  try {
    // Room for every chat, so each session goes to an operator when it opens and stays there.
    const ops = await Promise.all(Array.from({ length: OPERATORS }, (_, i) => newOperator(l, `op${i}`, CHATS)))
    consoles.push(...(await Promise.all(ops.map((o) => connect(l, 'notifications', o.token)))))
    for (const o of ops) await until(async () => (await ok(l, 'GET', `/operators/${o.id}`)).online === true, 5_000, 'operator online')
    const clients = await Promise.all(Array.from({ length: CHATS }, (_, i) => newClient(l, `client${i}`)))
    const widgets = await Promise.all(clients.map((c) => connect(l, 'widget', c.token)))
    consoles.push(...widgets)

    // First burst: every chat's messages at once, opening the sessions in parallel.
    const first = await Promise.all(
      clients.flatMap((c, i) => Array.from({ length: FIRST_BURST }, (_, k) => api(l, 'POST', `/clients/${c.id}/messages`, { text: `c${i} a${k}` }))),
    )
    expect(first.map((r) => r.status)).toEqual(first.map(() => 201))
    const sessionOf = new Map<string, string>() // chatId → sessionId
    for (const [i, c] of clients.entries()) {
      const mine = first.slice(i * FIRST_BURST, (i + 1) * FIRST_BURST)
      expect(new Set(mine.map((r) => r.body.sessionId)).size).toBe(1)
      sessionOf.set(c.chatId, mine[0]!.body.sessionId)
    }

    // Who holds each session: exactly one console was told, and the session says so.
    const holderOf = new Map<string, number>() // sessionId → operator index
    await until(
      () => consoles.slice(0, OPERATORS).reduce((n, c) => n + c.events.filter((e) => e.event === 'chatSessionAdded').length, 0) >= CHATS,
      5_000,
      `chatSessionAdded for all ${CHATS} sessions`,
    )
    for (const [j, c] of consoles.slice(0, OPERATORS).entries()) {
      for (const e of c.events.filter((e) => e.event === 'chatSessionAdded')) {
        expect(holderOf.has(e.data.id)).toBe(false)
        expect(e.data.operatorId).toBe(ops[j]!.id)
        holderOf.set(e.data.id, j)
      }
    }
    expect(new Set(holderOf.keys())).toEqual(new Set(sessionOf.values()))

    // Second burst: clients and their operators write in every chat at once.
    const second = await Promise.all(
      clients.flatMap((c, i) => {
        const sessionId = sessionOf.get(c.chatId)!
        const holder = ops[holderOf.get(sessionId)!]!
        return Array.from({ length: SECOND_BURST }, (_, k) => [
          api(l, 'POST', `/clients/${c.id}/messages`, { text: `c${i} b${k}` }),
          api(l, 'POST', `/sessions/${sessionId}/messages`, { text: `o${i} b${k}` }, holder.token),
        ]).flat()
      }),
    )
    expect(second.map((r) => r.status)).toEqual(second.map(() => 201))
    expect(new Set([...first, ...second].map((r) => r.body.id)).size).toBe(first.length + second.length)

    for (const [j, o] of ops.entries()) await settle(l, consoles[j]!, [`operator:${o.id}`, 'operators:queue'])
    for (const [i, c] of clients.entries()) await settle(l, widgets[i]!, [`client:${c.id}`])

    for (const [i, c] of clients.entries()) {
      const sessionId = sessionOf.get(c.chatId)!
      const j = holderOf.get(sessionId)!
      // The stored order of the chat, as the API gives it.
      const stored = await ok(l, 'GET', `/sessions/${sessionId}/messages?limit=200`, undefined, ops[j]!.token)
      const order: string[] = stored.items.map((m: any) => m.id)
      expect(order.length).toBe(FIRST_BURST + 2 * SECOND_BURST)
      expect(stored.nextCursor).toBeNull()
      expect(stored.items.filter((m: any) => m.author.type === 'operator').map((m: any) => m.text).sort()).toEqual(
        Array.from({ length: SECOND_BURST }, (_, k) => `o${i} b${k}`).sort(),
      )

      // The holder's console: the session first, then every message of the chat once, in that order.
      const holderEvents = consoles[j]!.events.filter(
        (e) => (e.event === 'chatSessionAdded' || e.event === 'chatMessageCreated') && e.data.chatId === c.chatId,
      )
      expect(holderEvents[0]).toMatchObject({ event: 'chatSessionAdded', data: { id: sessionId } })
      const atHolder = holderEvents.filter((e) => e.event === 'chatMessageCreated').map((e) => e.data.id)
      expect(atHolder, `chat ${i} at its operator's console`).toEqual(order)
      // The widget: the same order.
      const atWidget = widgets[i]!.events.filter((e) => e.event === 'chatMessageCreated').map((e) => e.data.id)
      expect(atWidget, `chat ${i} at its widget`).toEqual(order)
      // Nobody else was told about this chat.
      for (const [k, other] of consoles.slice(0, OPERATORS).entries()) {
        if (k === j) continue
        expect(other.events.some((e) => e.event === 'chatMessageCreated' && e.data.chatId === c.chatId)).toBe(false)
      }
    }
  } finally {
    for (const c of consoles) c.close()
    await l.close()
  }
}

describe('parallel writes keep each chat in order', () => {
  it(`${CHATS} chats × ${FIRST_BURST + 2 * SECOND_BURST} messages at once (PGlite)`, async () => {
    await run()
  }, 45_000)

  it.skipIf(!pgUp)(`${CHATS} chats × ${FIRST_BURST + 2 * SECOND_BURST} messages at once (PostgreSQL)`, async () => {
    const db = await tempPostgres()
    try {
      await run(db.databaseUrl)
    } finally {
      await db.drop()
    }
  }, 45_000)
})
