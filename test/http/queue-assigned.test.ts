/** chatSessionAssigned: when a queued session goes to an operator, every queue console learns it left the queue. */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { connect, newClient, newOperator, ok, type Console } from './e2e.js'

let l: TestLivedesk
const consoles: Console[] = []
beforeAll(async () => {
  l = await startTestLivedesk()
})
afterAll(() => consoles.forEach((c) => c.close()))

it('tells the queue audience which operator took a queued session, when the queue drains to a newcomer', async () => {
  const anna = await newOperator(l, 'Anna', 1)
  const boris = await newOperator(l, 'Boris', 1)
  const a = await connect(l, 'notifications', anna.token)
  consoles.push(a)
  const first = await newClient(l, 'First')
  await ok(l, 'POST', `/clients/${first.id}/messages`, { text: 'one' })
  await a.next('chatSessionAdded', (e) => e.data.chatId === first.chatId)
  const second = await newClient(l, 'Second')
  await ok(l, 'POST', `/clients/${second.id}/messages`, { text: 'two' })
  const queued = await a.next('operatorNotFound', (e) => e.data.chatId === second.chatId)
  // Boris comes online: the queue drains to him, and Anna's console must drop the session from its queue.
  const b = await connect(l, 'notifications', boris.token)
  consoles.push(b)
  await b.next('chatSessionAdded', (e) => e.data.chatId === second.chatId)
  const assigned = await a.next('chatSessionAssigned', (e) => e.data.id === queued.data.sessionId)
  expect(assigned.data).toMatchObject({ status: 'assigned', operatorId: boris.id, chatId: second.chatId })
  // Anna holds nothing of the second chat: she got no chatSessionAdded for it.
  expect(a.events.filter((e) => e.event === 'chatSessionAdded' && e.data.chatId === second.chatId)).toEqual([])
})
