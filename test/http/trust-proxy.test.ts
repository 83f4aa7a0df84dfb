/** Behind nginx (TRUST_PROXY): the visitor's address comes from X-Forwarded-For, for the sign-up limit and the stored client. */
import { describe, expect, it } from 'vitest'
import { startTestLivedesk } from '../helpers/livedesk.js'

const signUp = (url: string, forwardedFor: string) =>
  fetch(`${url}/api/v1/widget/clients`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor }, body: '{}' })

describe('TRUST_PROXY', () => {
  it('takes the address from X-Forwarded-For and counts the sign-up limit per visitor', async () => {
    const l = await startTestLivedesk({ trustProxy: true, widgetSignupsPerMinute: 1 })
    const first = await signUp(l.url, '203.0.113.7')
    expect(first.status).toBe(201)
    expect((await first.json()).client.ip).toBe('203.0.113.7')
    expect((await signUp(l.url, '203.0.113.7')).status).toBe(429)
    expect((await signUp(l.url, '203.0.113.8')).status).toBe(201)
    await l.close()
  })

  it('ignores X-Forwarded-For by default: one address, one limit', async () => {
    const l = await startTestLivedesk({ widgetSignupsPerMinute: 1 })
    const first = await signUp(l.url, '203.0.113.7')
    expect((await first.json()).client.ip).toBe('127.0.0.1')
    expect((await signUp(l.url, '203.0.113.8')).status).toBe(429)
    await l.close()
  })
})
