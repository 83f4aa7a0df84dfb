/**
 * Issue 16 item 7: a client rates its own closed session once (1–5 and a comment); `sessionRated` reaches the
 * operator who held it and the supervisors (real server, real SDK), the rating shows in the session's API views;
 * GET /reports gives sessions, first-response time, answer times and ratings per operator and per group, here from
 * a scripted scenario whose times are set in the database. On PGlite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, connect, newClient, ok, settle } from './e2e.js'
import { onEveryDatabase, operatorWith } from '../helpers/databases15.js'
import { postgresAvailable } from '../store/databases.js'
import { newOperator, startMovesHarness, type Backend, type MovesHarness } from '../domain/moves-harness.js'

onEveryDatabase('satisfaction ratings', {}, (env) => {
  it('lets a client rate its own closed session once; the holder and supervisors get sessionRated, nobody else', async () => {
    const { l } = env()
    const sue = await operatorWith(l, 'Sue', { role: 'supervisor', maxChats: 0 })
    const ann = await operatorWith(l, 'Ann', { maxChats: 5 })
    const bob = await operatorWith(l, 'Bob', { maxChats: 0 })
    const s = await env().console(sue.token)
    const a = await env().console(ann.token)
    const b = await env().console(bob.token)
    const client = await newClient(l, 'Rita')
    const widget = await connect(l, 'widget', client.token)
    env().consoles.push(widget)
    await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'my parcel is late' })
    const added = await a.next('chatSessionAdded', (e) => e.data.chatId === client.chatId)
    const sessionId = added.data.id
    expect(added.data.rating).toBeNull()
    await ok(l, 'POST', `/sessions/${sessionId}/messages`, { text: 'it ships today' }, ann.token)

    // Open: nothing to rate yet.
    const early = await api(l, 'POST', `/widget/sessions/${sessionId}/rating`, { score: 5 }, client.token)
    expect(early.status).toBe(409)
    expect(early.body.error.code).toBe('conflict')

    await ok(l, 'POST', `/sessions/${sessionId}/close`, undefined, ann.token)
    expect((await ok(l, 'GET', '/widget/messages', undefined, client.token)).session).toMatchObject({ id: sessionId, status: 'closed', rating: null })
    const rated = await api(l, 'POST', `/widget/sessions/${sessionId}/rating`, { score: 4, comment: '  quick and kind  ' }, client.token)
    expect(rated.status).toBe(201)
    expect(rated.body).toMatchObject({ sessionId, chatId: client.chatId, clientId: client.id, operatorId: ann.id, score: 4, comment: 'quick and kind' })

    // The holder and the supervisors, with one event id; another operator and the widget get nothing.
    const toAnn = await a.next('sessionRated', (e) => e.data.sessionId === sessionId)
    const toSue = await s.next('sessionRated', (e) => e.data.sessionId === sessionId)
    expect(toAnn.data).toEqual(rated.body)
    expect(toSue.id).toBe(toAnn.id)
    await settle(l, b, [`operator:${bob.id}`, 'operators:queue'])
    expect(b.names()).not.toContain('sessionRated')
    await settle(l, widget, [`client:${client.id}`])
    expect(widget.names()).not.toContain('sessionRated')

    // Once: a second rating is a conflict naming the score; the first stays.
    const again = await api(l, 'POST', `/widget/sessions/${sessionId}/rating`, { score: 1 }, client.token)
    expect(again.status).toBe(409)
    expect(again.body.error).toMatchObject({ code: 'conflict', field: 'score' })

    // The session's API views carry it: the holder's, the supervisor's, and the widget's last session.
    const rating = { score: 4, comment: 'quick and kind', ratedAt: rated.body.ratedAt }
    expect((await ok(l, 'GET', `/sessions/${sessionId}`, undefined, ann.token)).rating).toEqual(rating)
    expect((await ok(l, 'GET', `/sessions/${sessionId}`, undefined, sue.token)).rating).toEqual(rating)
    const closedList = (await ok(l, 'GET', '/sessions?status=closed', undefined, ann.token)).items
    expect(closedList.find((x: any) => x.id === sessionId).rating).toEqual(rating)
    expect((await ok(l, 'GET', '/widget/messages', undefined, client.token)).session.rating).toEqual(rating)
  })

  it('refuses bad ratings naming the field, and sessions of other clients as not found', async () => {
    const { l } = env()
    const cat = await operatorWith(l, 'Cat', { maxChats: 5 })
    const c = await env().console(cat.token)
    const rita = await newClient(l, 'Rita')
    const other = await newClient(l, 'Otto')
    await ok(l, 'POST', `/clients/${rita.id}/messages`, { text: 'hello' })
    const sessionId = (await c.next('chatSessionAdded', (e) => e.data.chatId === rita.chatId)).data.id
    await ok(l, 'POST', `/clients/${rita.id}/close`)

    const bad = async (body: unknown, field: string) => {
      const r = await api(l, 'POST', `/widget/sessions/${sessionId}/rating`, body, rita.token)
      expect(r.status, JSON.stringify(body)).toBe(400)
      expect(r.body.error.field, JSON.stringify(r.body)).toBe(field)
    }
    await bad({ score: 0 }, 'score')
    await bad({ score: 6 }, 'score')
    await bad({ score: 4.5 }, 'score')
    await bad({ score: '5' }, 'score')
    await bad({}, 'score')
    await bad({ score: 5, comment: 'x'.repeat(1001) }, 'comment')
    await bad({ score: 5, stars: 5 }, 'stars')
    // Another client's session is not visible to it; an operator token or none is not the widget's.
    expect((await api(l, 'POST', `/widget/sessions/${sessionId}/rating`, { score: 5 }, other.token)).status).toBe(404)
    expect((await api(l, 'POST', '/widget/sessions/nope/rating', { score: 5 }, rita.token)).status).toBe(404)
    expect((await api(l, 'POST', `/widget/sessions/${sessionId}/rating`, { score: 5 }, cat.token)).status).toBe(401)
    expect((await api(l, 'POST', `/widget/sessions/${sessionId}/rating`, { score: 5 }, null)).status).toBe(401)
    // None of those was stored: the client still rates it (closed by the client, held by Cat).
    const r = await api(l, 'POST', `/widget/sessions/${sessionId}/rating`, { score: 2, comment: null }, rita.token)
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ operatorId: cat.id, score: 2, comment: null })
    await c.next('sessionRated', (e) => e.data.sessionId === sessionId)
  })
})

const pgUp = await postgresAvailable()
const BACKENDS: Backend[] = pgUp ? ['PGlite', 'PostgreSQL'] : ['PGlite']

describe.each(BACKENDS)('reports from a scripted scenario (%s)', (backend) => {
  let h: MovesHarness
  beforeAll(async () => {
    h = await startMovesHarness(backend, {}, 'reports')
  }, 60_000)
  afterAll(() => h?.close(), 60_000)

  const call = async (method: string, url: string, body?: unknown, token?: string | null) => {
    const r = await h.api(method, url, body, token)
    if (r.status >= 300) throw new Error(`${method} ${url} → ${r.status} ${JSON.stringify(r.body)}`)
    return r.body
  }
  const at = (hms: string, day = '2026-01-01') => `${day}T${hms}Z`

  /**
   * A session scripted through the API, then timed: `steps` are [who, text, time]; the session first asked for
   * people at the first step's time. The holder closes it and the client rates it.
   */
  async function scripted(group: string, holder: { id: string; token: string }, steps: Array<['client' | 'op' | 'note', string, string]>, score: number) {
    const client = await call('POST', '/clients', { name: `client ${steps[0][1]}`, group })
    let sessionId = ''
    for (const [who, text] of steps) {
      if (who === 'client') sessionId = (await call('POST', `/clients/${client.id}/messages`, { text })).sessionId
      else await call('POST', `/sessions/${sessionId}/messages`, who === 'note' ? { text, internal: true } : { text }, holder.token)
    }
    const session = (await h.db.query<any>(`SELECT operator_id FROM sessions WHERE id = $1`, [sessionId]))[0]
    expect(session.operator_id).toBe(holder.id)
    for (const [, text, time] of steps) await h.db.query(`UPDATE messages SET created_at = $2 WHERE session_id = $1 AND text = $3`, [sessionId, time, text])
    await h.db.query(`UPDATE sessions SET started_at = $2, queued_at = $2 WHERE id = $1`, [sessionId, steps[0][2]])
    await call('POST', `/sessions/${sessionId}/close`, undefined, holder.token)
    await call('POST', `/widget/sessions/${sessionId}/rating`, { score }, client.token)
    return sessionId
  }

  it('gives sessions, first response, answer times and ratings per operator and per group', async () => {
    const sales = await call('POST', '/groups', { name: 'Sales' })
    const support = await call('POST', '/groups', { name: 'Support' })
    const ann = await newOperator(h, 'Ann', 5)
    const bob = await newOperator(h, 'Bob', 5)
    await call('PUT', `/groups/${sales.id}/operators`, { operatorIds: [ann.id] })
    await call('PUT', `/groups/${support.id}/operators`, { operatorIds: [bob.id] })

    // Ann: first response 30 s, answers 30 s and 60 s (from the older of two client messages; the note and a
    // second operator message in a row answer nothing), rated 5.
    await scripted('Sales', ann, [
      ['client', 'a1 hello', at('10:00:00')],
      ['op', 'a1 hi', at('10:00:30')],
      ['client', 'a1 where', at('10:05:00')],
      ['client', 'a1 hurry', at('10:05:20')],
      ['note', 'a1 note', at('10:05:30')],
      ['op', 'a1 here', at('10:06:00')],
      ['op', 'a1 anything else', at('10:06:10')],
    ], 5)
    // Ann: first response 90 s (= its only answer); the last client message waits unanswered; rated 3.
    await scripted('Sales', ann, [
      ['client', 'a2 hello', at('11:00:00')],
      ['op', 'a2 hi', at('11:01:30')],
      ['client', 'a2 thanks', at('11:10:00')],
    ], 3)
    // Bob: first response 10 s, answers 10 s and 40 s, rated 4.
    await scripted('Support', bob, [
      ['client', 'b1 hello', at('12:00:00')],
      ['op', 'b1 hi', at('12:00:10')],
      ['client', 'b1 broken', at('12:01:00')],
      ['op', 'b1 fixed', at('12:01:40')],
    ], 4)
    // Before the period: not counted.
    await scripted('Sales', ann, [
      ['client', 'old hello', at('23:00:00', '2025-12-31')],
      ['op', 'old hi', at('23:50:00', '2025-12-31')],
    ], 1)

    const period = `from=2026-01-01&to=${encodeURIComponent('2026-01-02T00:00:00+00:00')}`
    const byOperator = await call('GET', `/reports?${period}`)
    expect(byOperator).toMatchObject({ from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', groupBy: 'operator' })
    const annFigures = {
      sessions: 2,
      firstResponse: { count: 2, avgSec: 60, p50Sec: 60, p90Sec: 84 },
      answers: { count: 3, avgSec: 60, p50Sec: 60, p90Sec: 84 },
      ratings: { count: 2, avg: 4, distribution: { 1: 0, 2: 0, 3: 1, 4: 0, 5: 1 } },
    }
    const bobFigures = {
      sessions: 1,
      firstResponse: { count: 1, avgSec: 10, p50Sec: 10, p90Sec: 10 },
      answers: { count: 2, avgSec: 25, p50Sec: 25, p90Sec: 37 },
      ratings: { count: 1, avg: 4, distribution: { 1: 0, 2: 0, 3: 0, 4: 1, 5: 0 } },
    }
    expect(byOperator.items).toEqual([
      { operatorId: ann.id, name: 'Ann', ...annFigures },
      { operatorId: bob.id, name: 'Bob', ...bobFigures },
    ])
    expect(byOperator.total).toEqual({
      sessions: 3,
      firstResponse: { count: 3, avgSec: 43.333, p50Sec: 30, p90Sec: 78 },
      answers: { count: 5, avgSec: 46, p50Sec: 40, p90Sec: 78 },
      ratings: { count: 3, avg: 4, distribution: { 1: 0, 2: 0, 3: 1, 4: 1, 5: 1 } },
    })
    const byGroup = await call('GET', `/reports?${period}&groupBy=group`)
    expect(byGroup.items).toEqual([
      { groupId: sales.id, name: 'Sales', ...annFigures },
      { groupId: support.id, name: 'Support', ...bobFigures },
    ])
    expect(byGroup.total).toEqual(byOperator.total)
    // The day before holds only the old session.
    const before = await call('GET', '/reports?from=2025-12-31&to=2026-01-01')
    expect(before.items).toEqual([{ operatorId: ann.id, name: 'Ann', sessions: 1, firstResponse: { count: 1, avgSec: 3000, p50Sec: 3000, p90Sec: 3000 }, answers: { count: 1, avgSec: 3000, p50Sec: 3000, p90Sec: 3000 }, ratings: { count: 1, avg: 1, distribution: { 1: 1, 2: 0, 3: 0, 4: 0, 5: 0 } } }])
    // An empty period: no rows, a total of zeros.
    const empty = await call('GET', '/reports?from=2020-01-01&to=2020-01-02')
    expect(empty.items).toEqual([])
    expect(empty.total).toMatchObject({ sessions: 0, firstResponse: { count: 0, avgSec: null }, ratings: { count: 0, avg: null } })
  })

  it('answers supervisors and the API key only, and 400 naming the field for a bad period', async () => {
    const sid = await newOperator(h, 'Sid', 0)
    await call('PATCH', `/operators/${sid.id}`, { role: 'supervisor' })
    const opal = await newOperator(h, 'Opal', 0)
    expect((await h.api('GET', '/reports', undefined, sid.token)).status).toBe(200)
    const refused = await h.api('GET', '/reports', undefined, opal.token)
    expect(refused.status).toBe(403)
    expect(refused.body.error.code).toBe('forbidden')
    expect((await h.api('GET', '/reports', undefined, null)).status).toBe(401)
    const bad = async (query: string, field: string) => {
      const r = await h.api('GET', `/reports?${query}`)
      expect(r.status, query).toBe(400)
      expect(r.body.error, query).toMatchObject({ code: 'bad_request', field })
    }
    await bad('from=yesterday', 'from')
    await bad('to=2026-13-01', 'to')
    await bad('to=2026-02-30', 'to')
    await bad('from=2026-01-01T24:00Z', 'from')
    await bad('from=2026-01-01T10:00', 'from')
    await bad('from=2026-01-02&to=2026-01-01', 'from')
    await bad('groupBy=team', 'groupBy')
    await bad('colour=red', 'colour')
  })
})
