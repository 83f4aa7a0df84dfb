/**
 * Issue 12, items 4–7, one test per finding: HTTP timeouts cut slow clients (not WebSockets); text the store cannot
 * hold, deep JSON and unknown fields are 400s naming the field (and 107 over the socket); the server API matches
 * channel patterns in linear time and takes its key only in headers; pages carry a strict CSP and the other
 * security headers; /metrics can need a token or move to its own address.
 */
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Centrifuge } from 'centrifuge'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { newSdk, nextEvent } from '../helpers/sdk.js'
import { dataAuth, openRaw } from '../gateway/raw.js'
import { api, connect, newClient, newOperator, ok, type Console } from '../http/e2e.js'

/** Short timeouts: Node checks them every 100 ms here (a quarter of the shortest). */
const SHORT = { headersTimeoutMs: 400, requestTimeoutMs: 1_000, idleTimeoutMs: 600, keepAliveTimeoutMs: 300 }
const METRICS_TOKEN = 'metrics-secret'

/**
 * A raw TCP client that writes `head`, then one character of `drip` every `everyMs`, and resolves when the server
 * closes the connection with what it answered; rejects if the connection is still open after `deadlineMs`.
 */
function trickle(port: number, head: string, drip: string, everyMs: number, deadlineMs = 5_000): Promise<{ response: string; sent: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = net.connect(port, '127.0.0.1')
    let response = ''
    let sent = 0
    let dripping: NodeJS.Timeout | undefined
    const deadline = setTimeout(() => {
      clearInterval(dripping)
      socket.destroy()
      reject(new Error(`connection still open after ${deadlineMs} ms (${sent} of ${drip.length} characters trickled)`))
    }, deadlineMs)
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (response += d))
    socket.on('error', () => {}) // the close that follows is what counts
    socket.on('close', () => {
      clearTimeout(deadline)
      clearInterval(dripping)
      resolve({ response, sent, ms: performance.now() - started })
    })
    socket.on('connect', () => {
      socket.write(head)
      dripping = setInterval(() => {
        if (sent < drip.length && socket.writable) socket.write(drip[sent++]!)
      }, everyMs)
    })
  })
}

/** POSTs a body exactly as given (not re-serialised), with the /api/v1 API key unless `token` says otherwise. */
async function postRaw(l: TestLivedesk, path: string, body: string, token: string = l.apiKey) {
  const res = await fetch(`${l.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-api-key': token, 'content-type': 'application/json' }, body })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)

let slow: TestLivedesk // short HTTP timeouts, gateway only
let gw: TestLivedesk // default timeouts, metrics token, a widget embedder, gateway only
let open: TestLivedesk // key in the query string allowed, /metrics on its own address, gateway only
let dom: TestLivedesk // the domain on PGlite

beforeAll(async () => {
  ;[slow, gw, open, dom] = await Promise.all([
    // No server pings, so a WebSocket here can sit silent for longer than every HTTP timeout.
    startTestLivedesk({ hooks: dataAuth, httpTimeouts: SHORT, realtime: { pingIntervalMs: 60_000 } }),
    startTestLivedesk({ hooks: dataAuth, metricsToken: METRICS_TOKEN, widgetFrameAncestors: ['https://shop.example'] }),
    startTestLivedesk({ hooks: dataAuth, apiKeyInQuery: true, metricsAddress: '127.0.0.1:0' }),
    startTestLivedesk(),
  ])
})

const sdks: Centrifuge[] = []
afterAll(() => {
  for (const sdk of sdks.splice(0)) sdk.disconnect()
})

describe('HTTP timeouts', () => {
  it('cuts a request whose body arrives one byte per interval when the request timeout passes (408)', async () => {
    const body = JSON.stringify({ channel: 'slow', data: { pad: 'x'.repeat(200) } })
    const head = `POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${slow.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
    // 100 ms between bytes: never idle for SHORT.idleTimeoutMs, so the request timeout is what cuts it.
    const cut = await trickle(slow.port, head, body, 100)
    expect(cut.response).toMatch(/^HTTP\/1\.1 408/)
    expect(cut.sent).toBeLessThan(body.length)
    expect(cut.ms).toBeGreaterThanOrEqual(SHORT.requestTimeoutMs - 50)
  })

  it('cuts a slowloris connection that never finishes its headers (408)', async () => {
    const head = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n'
    const cut = await trickle(slow.port, head, 'X-Slow: ' + 'a'.repeat(200), 100)
    expect(cut.response).toMatch(/^HTTP\/1\.1 408/)
    expect(cut.sent).toBeLessThan(100)
  })

  it('closes an idle keep-alive connection after its answer', async () => {
    const done = await trickle(slow.port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', '', 100)
    expect(done.response).toMatch(/^HTTP\/1\.1 200/)
    expect(done.response).toContain('"status":"ok"')
  })

  it('leaves WebSocket connections open past every HTTP timeout', async () => {
    const raw = await openRaw(slow.wsUrl)
    try {
      expect((await raw.connect({ user: 'long-lived' })).connect).toBeDefined()
      // The socket stays silent while a slow body on the same server is cut by the request timeout: by then it
      // has been quiet for longer than SHORT's idle, headers and keep-alive timeouts too.
      const silentSince = performance.now()
      const body = 'x'.repeat(100)
      const head = `POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${slow.apiKey}\r\nContent-Length: ${body.length}\r\n\r\n`
      const cut = await trickle(slow.port, head, body, 100)
      expect(cut.response).toMatch(/^HTTP\/1\.1 408/)
      expect(performance.now() - silentSince).toBeGreaterThan(SHORT.idleTimeoutMs)
      expect(raw.lines.length).toBe(1) // the connect reply only
      raw.send(JSON.stringify({ id: 2, presence_stats: { channel: 'anything' } }))
      expect(await raw.waitFor((l) => l.id === 2)).toMatchObject({ id: 2 })
      expect(raw.ws.readyState).toBe(raw.ws.OPEN)
    } finally {
      raw.ws.close()
    }
  })
})

describe('input at the edge: /api/v1', () => {
  let clientId: string
  beforeAll(async () => {
    clientId = (await newClient(dom, 'Edge')).id
  })

  type Case = [name: string, method: string, path: () => string, body: unknown, token: 'key' | 'operator', field: string]
  let operatorToken = ''
  beforeAll(async () => {
    operatorToken = (await newOperator(dom, 'Edge operator')).token
  })
  const cases: Case[] = [
    ['NUL in a body field', 'POST', () => '/operators', { name: 'Nu\u0000ll' }, 'key', 'name'],
    ['NUL in message text', 'POST', () => `/clients/${clientId}/messages`, { text: 'hi\u0000' }, 'key', 'text'],
    ['NUL in a coordinates field', 'POST', () => '/clients', { name: 'C', coordinates: { city: 'Ri\u0000ga' } }, 'key', 'coordinates.city'],
    ['NUL in the query string', 'GET', () => '/sessions?cursor=a%00b', undefined, 'operator', 'cursor'],
    ['NUL in the path', 'GET', () => '/sessions/a%00b', undefined, 'operator', 'id'],
    ['a lone high surrogate in message text', 'POST', () => `/clients/${clientId}/messages`, { text: 'wave \ud83d' }, 'key', 'text'],
    ['a lone low surrogate in a name', 'POST', () => '/operators', { name: 'x\udc00' }, 'key', 'name'],
    ['an unknown field', 'POST', () => '/operators', { name: 'Admin?', admin: true }, 'key', 'admin'],
    ['an unknown coordinates field', 'POST', () => '/clients', { name: 'C', coordinates: { city: 'Riga', planet: 'Mars' } }, 'key', 'coordinates.planet'],
    ['a latitude beyond 90', 'POST', () => '/clients', { name: 'C', coordinates: { latitude: 91 } }, 'key', 'coordinates.latitude'],
    ['a longitude below -180', 'POST', () => '/clients', { name: 'C', coordinates: { longitude: -180.5 } }, 'key', 'coordinates.longitude'],
    ['an unknown query parameter', 'GET', () => '/sessions?status=queued&admin=1', undefined, 'operator', 'admin'],
  ]

  it.each(cases)('%s → 400 naming the field', async (_name, method, path, body, token, field) => {
    const res = await api(dom, method, path(), body, token === 'key' ? dom.apiKey : operatorToken)
    expect(res.status).toBe(400)
    expect(res.body.error).toMatchObject({ code: 'bad_request', field })
  })

  it('refuses a 30,000-deep JSON body with 400 before parsing it, and stores nothing', async () => {
    const before = await ok(dom, 'GET', '/operators?limit=200')
    const body = `{"name":"Deep","coordinates":{"city":"Riga","nested":${deepArray(30_000)}}}`
    const started = performance.now()
    const res = await postRaw(dom, '/api/v1/clients', body)
    expect(res.status).toBe(400)
    expect(res.body.error).toMatchObject({ code: 'bad_request', field: 'body' })
    expect(performance.now() - started).toBeLessThan(1_000)
    // An operator body nested too deep is refused the same way.
    const op = await postRaw(dom, '/api/v1/operators', `{"name":"Deep","x":${deepArray(33)}}`)
    expect(op.status).toBe(400)
    expect((await ok(dom, 'GET', '/operators?limit=200')).items).toHaveLength(before.items.length)

    // Well-formed text still goes in: emoji (surrogate pairs) and every coordinates field.
    const coordinates = { city: 'Rīga', latitude: 56.95, zip_code: 'LV-1050', longitude: 24.1, time_zone: 'Europe/Riga', region_name: 'Rīga', country_code: 'LV', country_name: 'Latvia' }
    const client = await ok(dom, 'POST', '/clients', { name: 'Ann 👋', coordinates })
    expect(client.coordinates).toEqual(coordinates)
    const message = await ok(dom, 'POST', `/clients/${client.id}/messages`, { text: 'hello 👋🏽' })
    expect(message.text).toBe('hello 👋🏽')
  })
})

describe('input at the edge: RPC over the socket', () => {
  let op: Console
  let widget: Console
  let chatId: string

  beforeAll(async () => {
    const operator = await newOperator(dom, 'Rpc operator')
    op = await connect(dom, 'notifications', operator.token)
    const client = await newClient(dom, 'Rpc client')
    chatId = client.chatId
    await ok(dom, 'POST', `/clients/${client.id}/messages`, { text: 'hi' })
    await op.next('chatSessionAdded', (e) => e.data.chatId === chatId)
    widget = await connect(dom, 'widget', client.token)
  })
  afterAll(() => {
    op?.close()
    widget?.close()
  })

  it('answers operator typing with an unknown field with 107 naming it', async () => {
    await expect(op.sdk.rpc('typing', { chatId, shout: true })).rejects.toMatchObject({ code: 107, message: expect.stringContaining('shout') })
  })

  it('answers operator typing with a NUL in chatId with 107 naming it', async () => {
    await expect(op.sdk.rpc('typing', { chatId: `${chatId}\u0000` })).rejects.toMatchObject({ code: 107, message: expect.stringContaining('chatId') })
  })

  it('answers widget typing with a lone surrogate or an unknown field with 107 naming the field', async () => {
    await expect(widget.sdk.rpc('typing', { text: 'draft \ud800' })).rejects.toMatchObject({ code: 107, message: expect.stringContaining('text') })
    await expect(widget.sdk.rpc('typing', { text: 'draft', color: 'red' })).rejects.toMatchObject({ code: 107, message: expect.stringContaining('color') })
    // A well-formed draft still goes through to the operator.
    await expect(widget.sdk.rpc('typing', { text: 'draft 👋' })).resolves.toMatchObject({ data: {} })
    expect((await op.next('typing', (e) => e.data.chatId === chatId)).data).toMatchObject({ text: 'draft 👋' })
  })
})

describe('server API', () => {
  const channels = ['chan:a', 'chan:b', 'chan:c', 'chan:ab', 'other:1', 'news:*', 'a'.repeat(40)]
  beforeAll(async () => {
    const sdk = newSdk(gw.wsUrl, { data: { user: 'pattern-user', channels } })
    sdks.push(sdk)
    const connected = nextEvent(sdk, 'connected')
    sdk.connect()
    await connected
  })

  const channelsOf = async (pattern: string) => {
    const res = await postRaw(gw, '/api/channels', JSON.stringify({ pattern }))
    expect(res.status).toBe(200)
    return res.body
  }

  it('answers a pathological channel pattern quickly (linear matching)', async () => {
    // A backtracking RegExp built from this pattern tries every way to place its 9 stars in the 40-character
    // name: about 4 s for this one name (measured); the linear matcher takes well under a millisecond.
    const pattern = '*a'.repeat(8) + '*b'
    const started = performance.now()
    const body = await channelsOf(pattern)
    expect(performance.now() - started).toBeLessThan(500)
    expect(body.result.channels).toEqual({})
    // Longer than the cap (256 characters): refused, not run.
    expect((await channelsOf('*a'.repeat(200))).error).toMatchObject({ code: 107, message: expect.stringContaining('pattern') })
  })

  it('matches patterns as Centrifugo (gobwas/glob) does', async () => {
    const cases: Array<[string, string[]]> = [
      ['chan:*', ['chan:a', 'chan:ab', 'chan:b', 'chan:c']],
      ['chan:?', ['chan:a', 'chan:b', 'chan:c']],
      ['chan:{a,c}', ['chan:a', 'chan:c']],
      ['chan:[ab]', ['chan:a', 'chan:b']],
      ['chan:[!ab]*', ['chan:c']],
      ['chan:[a-b]*', ['chan:a', 'chan:ab', 'chan:b']],
      ['news:\\*', ['news:*']],
      ['*:1', ['other:1']],
      ['**', [...channels].sort()],
    ]
    for (const [pattern, expected] of cases) {
      const body = await channelsOf(pattern)
      expect(Object.keys(body.result.channels).sort(), pattern).toEqual(expected)
    }
    expect((await channelsOf('chan:[')).error).toMatchObject({ code: 107 })
  })

  it('refuses the key in the query string unless allowed, and takes it from headers', async () => {
    const query = `/api/info?api_key=${encodeURIComponent(gw.apiKey)}`
    const refused = await fetch(`${gw.url}${query}`, { method: 'POST', body: '{}' })
    expect(refused.status).toBe(401)
    expect((await refused.json()).error).toMatchObject({ code: 101, message: expect.stringContaining('X-API-Key') })
    const byHeader = await fetch(`${gw.url}/api/info`, { method: 'POST', headers: { authorization: `apikey ${gw.apiKey}` }, body: '{}' })
    expect(byHeader.status).toBe(200)
    // Keys of other lengths, longer or shorter, are simply wrong.
    for (const key of [gw.apiKey.slice(1), gw.apiKey + 'x', 'k'.repeat(10_000)]) {
      expect((await fetch(`${gw.url}/api/info`, { method: 'POST', headers: { 'x-api-key': key }, body: '{}' })).status).toBe(401)
    }
    // API_KEY_IN_QUERY=1 restores Centrifugo's behaviour.
    const allowed = await fetch(`${open.url}/api/info?api_key=${encodeURIComponent(open.apiKey)}`, { method: 'POST', body: '{}' })
    expect(allowed.status).toBe(200)
  })

  it('refuses a 30,000-deep publication with 400 before parsing it', async () => {
    const started = performance.now()
    const res = await postRaw(gw, '/api/publish', `{"channel":"chan:a","data":${deepArray(30_000)}}`)
    expect(res.status).toBe(400)
    expect(res.body.error).toMatchObject({ code: 107, message: expect.stringContaining('nested deeper') })
    expect(performance.now() - started).toBeLessThan(1_000)
  })
})

describe('headers and exposure', () => {
  const csp = (res: Response) => Object.fromEntries((res.headers.get('content-security-policy') ?? '').split(/;\s*/).filter(Boolean).map((d) => {
    const [name, ...values] = d.split(/\s+/)
    return [name, values.join(' ')]
  }))

  it('serves the console with a strict CSP that forbids framing', async () => {
    const res = await fetch(`${gw.url}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/text\/html/)
    const policy = csp(res)
    expect(policy).toMatchObject({
      'default-src': "'none'",
      'script-src': "'self'",
      'style-src': "'self'",
      'img-src': "'self' data: blob:",
      'frame-ancestors': "'none'",
      'base-uri': "'none'",
    })
    expect(policy['connect-src']).toBe(`'self' ws://127.0.0.1:${gw.port} wss://127.0.0.1:${gw.port}`)
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('referrer-policy')).toBe('same-origin')

    // The built pages load nothing this policy refuses: no inline script or style, only their own files.
    for (const page of ['index.html', 'widget/index.html']) {
      const html = readFileSync(fileURLToPath(new URL(`../../web/dist/${page}`, import.meta.url)), 'utf8')
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=/i)
      for (const [, url] of html.matchAll(/\b(?:src|href)="([^"]+)"/g)) expect(url, page).toMatch(/^(?:\/(?!\/)|data:)/)
    }
  })

  it('serves the widget with a strict CSP that lets the configured sites frame it', async () => {
    for (const path of ['/widget', '/widget/']) {
      const res = await fetch(`${gw.url}${path}`)
      expect(res.status).toBe(200)
      const policy = csp(res)
      expect(policy).toMatchObject({ 'script-src': "'self'", 'frame-ancestors': 'https://shop.example', 'default-src': "'none'" })
      expect(res.headers.get('x-frame-options')).toBeNull()
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    }
  })

  it('sends nosniff and a no-content CSP with JSON and assets', async () => {
    const health = await fetch(`${gw.url}/health`)
    expect(health.headers.get('x-content-type-options')).toBe('nosniff')
    expect(health.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'")
    const script = await fetch(`${gw.url}/assets/console.js`)
    expect(script.headers.get('content-type')).toMatch(/javascript/)
    expect(script.headers.get('x-content-type-options')).toBe('nosniff')
  })

  it('protects /metrics with METRICS_TOKEN', async () => {
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(401)
    expect((await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    const scraped = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    expect(scraped.status).toBe(200)
    expect(await scraped.text()).toMatch(/^livedesk_connections /m)
  })

  it('serves /metrics on METRICS_ADDRESS instead of the main port', async () => {
    expect((await fetch(`${open.url}/metrics`)).status).toBe(404)
    expect(open.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const scraped = await fetch(`${open.metricsUrl}/metrics`)
    expect(scraped.status).toBe(200)
    expect(await scraped.text()).toMatch(/^livedesk_connections /m)
  })
})
