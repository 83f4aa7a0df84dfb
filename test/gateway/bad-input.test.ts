import WebSocket from 'ws'
import { beforeAll, expect, it } from 'vitest'
import { decodeCommands } from '../../src/protocol/codec.js'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { describeWebSocketOnly } from '../helpers/transports.js'
import { closedWithin, dataAuth, openRaw, type RawClient } from './raw.js'

const MAX_FRAME = 4_096
let livedesk: TestLivedesk
beforeAll(async () => {
  livedesk = await startTestLivedesk({
    hooks: dataAuth,
    realtime: { maxFrameBytes: MAX_FRAME, staleCloseDelayMs: 500, allowedOrigins: ['http://console.example'] },
  })
})

async function connectedRaw(user = 'raw'): Promise<RawClient> {
  const raw = await openRaw(livedesk.wsUrl)
  const reply = await raw.connect({ user })
  expect(reply.connect?.client).toMatch(/.+/)
  return raw
}

const cases: Array<{ name: string; connectFirst: boolean; frame: string | Buffer; binary?: boolean; code: number; reason?: string }> = [
  { name: 'malformed JSON as the first frame', connectFirst: false, frame: '{"connect":{', code: 3501, reason: 'bad request' },
  { name: 'malformed JSON after connect', connectFirst: true, frame: '{"rpc":{"method":"x"},"id":2', code: 3501, reason: 'bad request' },
  { name: 'a JSON line that is not an object', connectFirst: true, frame: '[1,2,3]', code: 3501, reason: 'bad request' },
  { name: 'a binary frame before connect', connectFirst: false, frame: Buffer.from('{"connect":{},"id":1}'), binary: true, code: 3506, reason: 'inappropriate protocol' },
  { name: 'a binary frame after connect', connectFirst: true, frame: Buffer.from([0, 1, 2, 255]), binary: true, code: 3506, reason: 'inappropriate protocol' },
  { name: 'an unknown command', connectFirst: true, frame: '{"explode":{"now":true},"id":2}', code: 3501, reason: 'bad request' },
  { name: 'a command without an id', connectFirst: true, frame: '{"presence":{"channel":"x"}}', code: 3501, reason: 'bad request' },
  { name: 'a command with a field of the wrong type', connectFirst: true, frame: '{"subscribe":{"channel":42},"id":2}', code: 3501, reason: 'bad request' },
  { name: 'a command before connect', connectFirst: false, frame: '{"subscribe":{"channel":"news"},"id":1}', code: 3501, reason: 'bad request' },
  { name: 'a second connect', connectFirst: true, frame: '{"connect":{"data":{"user":"again"}},"id":2}', code: 3501, reason: 'bad request' },
  { name: 'an empty frame', connectFirst: true, frame: '', code: 3501, reason: 'bad request' },
  { name: `an oversized frame (> maxFrameBytes ${MAX_FRAME})`, connectFirst: true, frame: JSON.stringify({ rpc: { method: 'x', data: 'y'.repeat(MAX_FRAME) }, id: 2 }), code: 1009 },
]

describeWebSocketOnly('bad input on the WebSocket', 'raw frames', () => {
  for (const c of cases) {
    it(`closes on ${c.name} with ${c.code}`, async () => {
      const raw = c.connectFirst ? await connectedRaw() : await openRaw(livedesk.wsUrl)
      raw.send(c.frame, c.binary)
      const closed = await closedWithin(raw, 5_000)
      expect(closed.code).toBe(c.code)
      if (c.reason) expect(closed.reason).toBe(c.reason)
      // A refused command is never answered.
      expect(raw.lines.filter((l) => l.id && l.id !== 1)).toEqual([])
    })
  }

  it('closes a socket that sends no connect within staleCloseDelayMs with 3502 stale', async () => {
    const raw = await openRaw(livedesk.wsUrl)
    const opened = Date.now()
    expect(await closedWithin(raw, 5_000)).toEqual({ code: 3502, reason: 'stale' })
    expect(Date.now() - opened).toBeGreaterThanOrEqual(400)
  })

  it('refuses the upgrade from an origin that is not allowed, and accepts an allowed one or none', async () => {
    await expect(openRaw(livedesk.wsUrl, { origin: 'http://evil.example' })).rejects.toThrow(/403/)
    for (const origin of ['http://console.example', undefined]) {
      const raw = await openRaw(livedesk.wsUrl, origin ? { origin } : {})
      expect((await raw.connect({ user: 'origin' })).connect.client).toMatch(/.+/)
      raw.ws.close()
    }
  })

  it('answers a WebSocket upgrade on an unknown path with a 4xx instead of leaving the socket hanging', async () => {
    const url = livedesk.wsUrl.replace('/centrifugo/connection/websocket', '/connection/nope')
    const ws = new WebSocket(url)
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('no answer within 3 s'), 3_000)
      const done = (what: string) => (clearTimeout(timer), resolve(what))
      ws.on('unexpected-response', (_req, res) => done(`status ${res.statusCode}`))
      ws.on('open', () => done('opened'))
      ws.on('error', (err) => done(err.message))
    })
    ws.terminate()
    expect(outcome).toMatch(/status 4\d\d/)
  })

  it('ignores the rest of a frame after a bad line: a connect followed by garbage is not half-applied', async () => {
    const raw = await openRaw(livedesk.wsUrl)
    raw.send('{"connect":{"data":{"user":"half"}},"id":1}\nnot json')
    expect((await closedWithin(raw)).code).toBe(3501)
    expect(raw.lines).toEqual([])
  })

  it('survives 10,000 random byte strings from 200 sockets while a healthy SDK client receives every publication in order', async () => {
    const channel = 'feed:healthy'
    const sdk = newSdk(livedesk.wsUrl, { data: { user: 'healthy', channels: [channel] } })
    const pubs = collect(sdk, 'publication')
    const connecting = collect(sdk, 'connecting')
    const ready = nextEvent(sdk, 'subscribed', (c) => c.channel === channel)
    sdk.connect()
    await ready

    const random = mulberry32(0x5eed)
    const utf8 = new TextDecoder('utf-8', { fatal: true })
    const jsonish = '{}[]":,.-0123456789abcdefghijklmnopqrstuvwxyz \\\n\ttrue false null id connect subscribe'
    /** A random frame that the codec would refuse (a valid one, e.g. `{}`, is skipped). */
    const randomFrame = (kind: number): Buffer => {
      for (;;) {
        const len = 1 + Math.floor(random() * 300)
        const bytes = Buffer.alloc(len)
        if (kind === 2) for (let i = 0; i < len; i++) bytes[i] = jsonish.charCodeAt(Math.floor(random() * jsonish.length))
        else for (let i = 0; i < len; i++) bytes[i] = Math.floor(random() * 256)
        if (kind === 0) return bytes
        let text: string
        try {
          text = utf8.decode(bytes)
        } catch {
          return bytes // invalid UTF-8 in a text frame
        }
        if (!decodeCommands(text).ok) return bytes
      }
    }
    const expectedCode = (kind: number, first: Buffer): number[] => {
      if (kind === 0) return [3506]
      try {
        utf8.decode(first)
        return [3501]
      } catch {
        // ws refuses invalid UTF-8 in a text frame with 1007 (RFC 6455); Centrifugo would answer 3501.
        return [1007, 3501]
      }
    }

    let published = 0
    let abusing = true
    const publisher = (async () => {
      while ((abusing || published < 50) && published < 1_000) {
        published++
        await livedesk.node.publish(channel, { n: published })
        await new Promise((r) => setImmediate(r))
      }
    })()

    const SOCKETS = 200
    const FRAMES = 50
    const WAVE = 25
    const outcomes: Array<{ code: number; expected: number[] }> = []
    for (let wave = 0; wave < SOCKETS / WAVE; wave++) {
      await Promise.all(
        Array.from({ length: WAVE }, async (_, k) => {
          const i = wave * WAVE + k
          const kind = i % 3 // 0 binary bytes, 1 text bytes, 2 JSON-ish text
          const raw = i % 2 === 0 ? await connectedRaw(`fuzz-${i}`) : await openRaw(livedesk.wsUrl)
          const frames = Array.from({ length: FRAMES }, () => randomFrame(kind))
          for (const f of frames) raw.send(f, kind === 0)
          const closed = await closedWithin(raw, 5_000)
          outcomes.push({ code: closed.code, expected: expectedCode(kind, frames[0]) })
        }),
      )
    }
    abusing = false
    await publisher

    expect(outcomes).toHaveLength(SOCKETS)
    const wrong = outcomes.filter((o) => !o.expected.includes(o.code))
    expect(wrong).toEqual([])
    await until(() => pubs.length >= published, 10_000, `all ${published} publications`)
    expect(pubs.map((p) => p.data.n)).toEqual(Array.from({ length: published }, (_, i) => i + 1))
    expect(connecting.map((c) => c.code)).toEqual([0])
    expect(sdk.state).toBe('connected')
    const health = await fetch(`${livedesk.url}/health`)
    expect(health.status).toBe(200)
    // A new client is still welcome.
    const late = newSdk(livedesk.wsUrl, { data: { user: 'late' } })
    const lateReady = nextEvent(late, 'connected')
    late.connect()
    await lateReady
    late.disconnect()
    sdk.disconnect()
  }, 60_000)
})

/** A small seeded PRNG, so a failing input can be reproduced. */
function mulberry32(seed: number): () => number {
  return () => {
    seed |= 0
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
