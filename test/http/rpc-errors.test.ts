/** How the domain's refusals of an operator RPC reach the SDK: Centrifugo reply error codes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { connect, newClient, newOperator, ok, type Console } from './e2e.js'

let l: TestLivedesk
let op: Console
let chatId: string

beforeAll(async () => {
  l = await startTestLivedesk({ domain: { typingMinIntervalMs: 60_000 } })
  const operator = await newOperator(l, 'Rita')
  op = await connect(l, 'notifications', operator.token)
  const client = await newClient(l, 'Sam')
  chatId = client.chatId
  await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hi' })
  await op.next('chatSessionAdded')
})
afterAll(() => op?.close())

describe('operator RPC errors', () => {
  it('answers an unknown method with 104 method not found', async () => {
    await expect(op.sdk.rpc('teleport', {})).rejects.toMatchObject({ code: 104 })
  })
  it('answers typing without a chatId with 107 bad request', async () => {
    await expect(op.sdk.rpc('typing', {})).rejects.toMatchObject({ code: 107 })
  })
  it('answers typing in an unknown chat with 102 and a too-fast repeat with 111', async () => {
    await expect(op.sdk.rpc('typing', { chatId: 'no-such-chat' })).rejects.toMatchObject({ code: 102 })
    await expect(op.sdk.rpc('typing', { chatId })).resolves.toMatchObject({ data: {} })
    await expect(op.sdk.rpc('typing', { chatId })).rejects.toMatchObject({ code: 111, temporary: true })
  })
})
