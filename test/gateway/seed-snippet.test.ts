import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { serverApi, startTestLivedesk } from '../helpers/livedesk.js'
import { newSdk, nextEvent } from '../helpers/sdk.js'

const secret = 'test-secret'
const jwt = (claims: Record<string, unknown>, ttl = '1h') =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(ttl).sign(new TextEncoder().encode(secret))

describe('the seed snippet', () => {
  it('receives a publication made through POST /api/publish on its client-level publication event', async () => {
    const livedesk = await startTestLivedesk({
      realtime: { hmacSecret: secret },
      hooks: {
        authenticate: async (e) => {
          const token = (e.data as any)?.settings?.token
          if (token !== 'your_auth_token_here') throw Object.assign(new Error('no'), { code: 'unauthorized' })
          return { user: '42', channels: ['operator:42'] }
        },
      },
    })
    // The seed's code, unchanged but for the URL.
    const centrifuge = newSdk(livedesk.wsUrl, {
      data: { application: 'notifications', settings: { token: 'your_auth_token_here' } },
    })
    const connected = nextEvent(centrifuge, 'connected')
    centrifuge.connect()
    await connected
    const received = nextEvent(centrifuge, 'publication')
    const data = { event: 'chatMessageRead', data: { chatId: 'c1', messageIds: ['m1'] }, id: 'e1', at: new Date().toISOString() }
    const res = await serverApi(livedesk, 'publish', { channel: 'operator:42', data })
    expect(res.status).toBe(200)
    expect(res.body.result.offset).toBe(1)
    const publication = await received
    expect(publication.channel).toBe('operator:42')
    expect(publication.data).toEqual(data)
    centrifuge.disconnect()
    void jwt
  })
})
