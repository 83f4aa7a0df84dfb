/**
 * Issue 16 item 4: a client's history (GET /api/v1/clients/{id}/sessions, and reading its earlier sessions) and
 * full-text search of messages (GET /api/v1/search/messages), on PGlite and PostgreSQL, through the HTTP API.
 * No console is connected, so sessions wait in the queue until the test's operator accepts them.
 */
import { expect, it } from 'vitest'
import { api, newClient, ok } from './e2e.js'
import { onEveryDatabase, operatorWith } from '../helpers/databases15.js'
import type { TestLivedesk } from '../helpers/livedesk.js'

/** A session of `clientId` opened by its message, taken by `op`, with `replies` from the operator; closed unless `keepOpen`. */
async function conversation(l: TestLivedesk, clientId: string, op: { token: string }, clientText: string, replies: string[], keepOpen = false) {
  const { sessionId } = await ok(l, 'POST', `/clients/${clientId}/messages`, { text: clientText })
  await ok(l, 'POST', `/sessions/${sessionId}/accept`, undefined, op.token)
  for (const text of replies) await ok(l, 'POST', `/sessions/${sessionId}/messages`, { text }, op.token)
  if (!keepOpen) await ok(l, 'POST', `/sessions/${sessionId}/close`, undefined, op.token)
  return sessionId as string
}

const search = (l: TestLivedesk, q: string, token: string | null, extra = '') => api(l, 'GET', `/search/messages?q=${encodeURIComponent(q)}${extra}`, undefined, token)
const texts = (res: { body: any }) => res.body.items.map((h: any) => h.message.text)

onEveryDatabase('client history and search', {}, (env) => {
  it('lists the client’s sessions newest first to who sees its current one, and opens its earlier sessions to them', async () => {
    const { l } = env()
    const ann = await operatorWith(l, 'Ann H', { maxChats: 5 })
    const bob = await operatorWith(l, 'Bob H', { maxChats: 5 })
    const cy = await operatorWith(l, 'Cy H', { maxChats: 5 })
    const sue = await operatorWith(l, 'Sue H', { role: 'supervisor', maxChats: 0 })
    const client = await newClient(l, 'Vera')

    const first = await conversation(l, client.id, ann, 'Мой заказ опоздал', ['Your order shipped yesterday'])
    const second = await conversation(l, client.id, bob, 'where is my refund?', ['Refund sent', 'Anything else?'])
    const { sessionId: current } = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hello again' })

    // queued in the shared queue: every operator's console lists it, so its history is open to them
    const all = await ok(l, 'GET', `/clients/${client.id}/sessions`, undefined, ann.token)
    expect(all.items.map((s: any) => s.id)).toEqual([current, second, first])
    expect(all.nextCursor).toBeNull()
    expect(all.items[0]).toMatchObject({ status: 'queued', operator: null, messageCount: 1, lastMessage: { text: 'hello again' }, closedAt: null })
    expect(all.items[1]).toMatchObject({ status: 'closed', operator: { id: bob.id, name: 'Bob H' }, messageCount: 3, lastMessage: { text: 'Anything else?' } })
    expect(all.items[2]).toMatchObject({ status: 'closed', operator: { id: ann.id, name: 'Ann H' }, messageCount: 2, lastMessage: { text: 'Your order shipped yesterday' } })
    expect(Date.parse(all.items[2].closedAt)).toBeGreaterThanOrEqual(Date.parse(all.items[2].startedAt))

    // cursor pagination, as the other lists
    const p1 = await ok(l, 'GET', `/clients/${client.id}/sessions?limit=2`, undefined, l.apiKey)
    expect(p1.items.map((s: any) => s.id)).toEqual([current, second])
    expect(p1.nextCursor).toBe(second)
    const p2 = await ok(l, 'GET', `/clients/${client.id}/sessions?limit=2&cursor=${p1.nextCursor}`, undefined, l.apiKey)
    expect(p2.items.map((s: any) => s.id)).toEqual([first])
    expect(p2.nextCursor).toBeNull()

    // Bob takes the current session: now it is his client; Ann and Cy no longer see the history, supervisors do
    await ok(l, 'POST', `/sessions/${current}/accept`, undefined, bob.token)
    expect((await ok(l, 'GET', `/clients/${client.id}/sessions`, undefined, bob.token)).items).toHaveLength(3)
    expect((await ok(l, 'GET', `/clients/${client.id}/sessions`, undefined, sue.token)).items).toHaveLength(3)
    for (const op of [ann, cy]) {
      const res = await api(l, 'GET', `/clients/${client.id}/sessions`, undefined, op.token)
      expect(res.status, JSON.stringify(res.body)).toBe(403)
      expect(res.body.error.code).toBe('forbidden')
    }
    // Bob reads the earlier session Ann had; Cy, unrelated, may not; Ann still reads her own, not Bob's
    const earlier = await ok(l, 'GET', `/sessions/${first}/messages`, undefined, bob.token)
    expect(earlier.items.map((m: any) => m.text)).toEqual(['Мой заказ опоздал', 'Your order shipped yesterday'])
    expect((await ok(l, 'GET', `/sessions/${first}`, undefined, bob.token)).id).toBe(first)
    expect((await api(l, 'GET', `/sessions/${first}/messages`, undefined, cy.token)).status).toBe(403)
    expect((await api(l, 'GET', `/sessions/${first}`, undefined, cy.token)).status).toBe(403)
    expect((await api(l, 'GET', `/sessions/${first}/messages`, undefined, ann.token)).status).toBe(200)
    expect((await api(l, 'GET', `/sessions/${second}/messages`, undefined, ann.token)).status).toBe(403)

    // unknown client, bad cursor, no credentials
    expect((await api(l, 'GET', '/clients/nobody/sessions', undefined, sue.token)).status).toBe(404)
    const badCursor = await api(l, 'GET', `/clients/${client.id}/sessions?cursor=nope`, undefined, l.apiKey)
    expect(badCursor.status).toBe(400)
    expect(badCursor.body.error.field).toBe('cursor')
    expect((await api(l, 'GET', `/clients/${client.id}/sessions`, undefined, client.token)).status).toBe(401)
    await ok(l, 'POST', `/sessions/${current}/close`, undefined, bob.token)
  })

  it('finds Russian and English words, ranked, only in sessions the operator may see; notes for operators only; pages', async () => {
    const { l } = env()
    const ann = await operatorWith(l, 'Ann S', { maxChats: 5 })
    const bob = await operatorWith(l, 'Bob S', { maxChats: 5 })
    const cy = await operatorWith(l, 'Cy S', { maxChats: 5 })
    const dan = await operatorWith(l, 'Dan S', { maxChats: 5 })
    const sue = await operatorWith(l, 'Sue S', { role: 'supervisor', maxChats: 0 })
    const vera = await newClient(l, 'Vera S')
    const ivan = await newClient(l, 'Ivan S')

    const annSession = await conversation(l, vera.id, ann, 'Мой ЗАКАЗ номер 77 опоздал, где посылка?', ['Walrus invoice payment failed', 'walrus invoice resent'], true)
    await ok(l, 'POST', `/sessions/${annSession}/messages`, { text: 'walrus fraud suspected, check the card', internal: true }, ann.token)
    for (let i = 1; i <= 5; i++) await ok(l, 'POST', `/sessions/${annSession}/messages`, { text: `platypus update ${i}` }, ann.token)
    const LONG = `${'Filler words that say nothing at all. '.repeat(20)}Then the ocelot appears here. ${'More filler text after it. '.repeat(20)}`
    await ok(l, 'POST', `/sessions/${annSession}/messages`, { text: LONG }, ann.token)
    await ok(l, 'POST', `/sessions/${annSession}/messages`, { text: 'not \u0001marked\u0002 but quokka is' }, ann.token)
    await ok(l, 'POST', `/sessions/${annSession}/close`, undefined, ann.token)
    const bobSession = await conversation(l, ivan.id, bob, 'my walrus refund is missing', ['Refund of the walrus order is on its way'])

    // Russian: case-insensitive, with a snippet and where the match is in it
    const ru = await search(l, 'заказ', ann.token)
    expect(ru.status, JSON.stringify(ru.body)).toBe(200)
    expect(texts(ru)).toEqual(['Мой ЗАКАЗ номер 77 опоздал, где посылка?'])
    const hit = ru.body.items[0]
    expect(hit).toMatchObject({ session: { id: annSession, status: 'closed', operatorId: ann.id }, client: { id: vera.id, name: 'Vera S' }, message: { author: { type: 'client' } } })
    const [[start, end]] = hit.highlights
    expect(hit.snippet.slice(start, end)).toBe('ЗАКАЗ')
    expect(hit.snippet).toBe(hit.message.text) // a short message is its own snippet
    // a long one: fragments around the match
    const long = (await search(l, 'ocelot', ann.token)).body.items[0]
    expect(long.snippet.length).toBeLessThan(long.message.text.length / 2)
    expect(long.highlights.map(([s, e]: [number, number]) => long.snippet.slice(s, e))).toEqual(['ocelot'])
    // the text cannot forge a highlight with the marks ts_headline is given
    const forged = (await search(l, 'quokka', ann.token)).body.items[0]
    expect(forged.highlights.map(([s, e]: [number, number]) => forged.snippet.slice(s, e))).toEqual(['quokka'])

    // English, ranked: both words before one; a phrase
    const ranked = await search(l, 'invoice or payment', ann.token)
    expect(texts(ranked)).toEqual(['Walrus invoice payment failed', 'walrus invoice resent'])
    expect(ranked.body.items[0].rank).toBeGreaterThan(ranked.body.items[1].rank)
    expect(texts(await search(l, '"invoice resent"', ann.token))).toEqual(['walrus invoice resent'])

    // what each may see: Ann her sessions with her note; Bob his; the supervisor all; the API key all but notes
    const walrus = (token: string) => search(l, 'walrus', token, '&limit=50').then((r) => texts(r).sort())
    expect(await walrus(ann.token)).toEqual(['Walrus invoice payment failed', 'walrus fraud suspected, check the card', 'walrus invoice resent'])
    expect(await walrus(bob.token)).toEqual(['Refund of the walrus order is on its way', 'my walrus refund is missing'])
    expect(await walrus(sue.token)).toHaveLength(5)
    expect(await walrus(l.apiKey)).toEqual(['Refund of the walrus order is on its way', 'Walrus invoice payment failed', 'my walrus refund is missing', 'walrus invoice resent'])
    expect(await walrus(dan.token)).toEqual([])
    const note = (await search(l, 'fraud', sue.token)).body.items[0]
    expect(note.message.internal).toBe(true)
    expect(texts(await search(l, 'walrus refund', ann.token))).toEqual([])
    expect(texts(await search(l, 'walrus refund', sue.token))).toHaveLength(2)

    // held before counts: Ann → queue → Bob → queue → Cy; Ann is neither holder nor previous holder by then
    const moved = await conversation(l, ivan.id, ann, 'kangaroo question', ['kangaroo answer'], true)
    await ok(l, 'POST', `/sessions/${moved}/transfer`, { queue: true }, ann.token)
    await ok(l, 'POST', `/sessions/${moved}/accept`, undefined, bob.token)
    await ok(l, 'POST', `/sessions/${moved}/transfer`, { queue: true }, bob.token)
    await ok(l, 'POST', `/sessions/${moved}/accept`, undefined, cy.token)
    for (const op of [ann, bob, cy]) expect(texts(await search(l, 'kangaroo', op.token))).toHaveLength(2)
    expect(texts(await search(l, 'kangaroo', dan.token))).toEqual([])
    expect((await api(l, 'GET', `/sessions/${moved}/messages`, undefined, ann.token)).status).toBe(200)
    expect((await api(l, 'GET', `/sessions/${bobSession}/messages`, undefined, dan.token)).status).toBe(403)

    // pages: five equal hits, two at a time, newest first among equals, none twice
    const seen: string[] = []
    let cursor: string | null = null
    for (let page = 0; page < 5; page++) {
      const res = await search(l, 'platypus', ann.token, `&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      seen.push(...texts(res))
      cursor = res.body.nextCursor
      if (!cursor) break
    }
    expect(seen).toEqual(['platypus update 5', 'platypus update 4', 'platypus update 3', 'platypus update 2', 'platypus update 1'])

    // bad input names q (or cursor); no credentials, or a client's, is 401
    for (const q of ['', '   ', '!!!', 'x'.repeat(201)]) {
      const res = await search(l, q, ann.token)
      expect(res.status, q).toBe(400)
      expect(res.body.error.field).toBe('q')
    }
    const missing = await api(l, 'GET', '/search/messages', undefined, ann.token)
    expect(missing.status).toBe(400)
    expect(missing.body.error.field).toBe('q')
    const badCursor = await search(l, 'walrus', ann.token, '&cursor=bm90LWEtY3Vyc29y')
    expect(badCursor.status).toBe(400)
    expect(badCursor.body.error.field).toBe('cursor')
    expect((await search(l, 'walrus', vera.token)).status).toBe(401)
    expect((await search(l, 'walrus', null)).status).toBe(401)
  })
})
