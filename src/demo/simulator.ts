/**
 * Demo mode: operators and visitors who use livedesk through its real HTTP API and WebSocket over
 * loopback, at a human pace, so a newcomer sees every kind of live event in the console within a minute.
 * Two simulated operators answer with the SDK (typing RPC, replies, an edit now and then); visitors
 * connect as widgets (online/offline), type with drafts, write, read answers, and leave in varied ways.
 * Everything is bounded (visitors at once and in all) and stops on stop().
 */
import { Centrifuge } from 'centrifuge'
import type { Logger } from 'pino'
import WebSocket from 'ws'

export interface DemoOptions {
  baseUrl: string
  apiKey: string
  log: Logger
  /** Multiplies every pause: 1 is a human pace; tests use a small fraction. @default 1 */
  pace?: number
  /** Visitors chatting at the same time. @default 4 */
  concurrentVisitors?: number
  /** Visitors in all; after them the demo idles until stopped. @default 200 */
  totalVisitors?: number
}

export interface Demo {
  consoleUrl: string
  stop(): Promise<void>
}

interface Persona {
  name: string
  channel: string
  referer: string
  city: string
  country: string
  lines: string[]
}

const PERSONAS: Persona[] = [
  { name: 'Anna Petrova', channel: 'widget', referer: 'https://shop.example/cart', city: 'Riga', country: 'LV', lines: ['Hi! My order #1042 has not arrived yet.', 'It was due on Monday.', 'Thanks, I will wait for the tracking link.'] },
  { name: 'Tom Becker', channel: 'telegram', referer: 'https://t.me/shop_bot', city: 'Berlin', country: 'DE', lines: ['Hello, can I change the delivery address?', 'The new one is Hauptstraße 5.', 'Great, thank you!'] },
  { name: 'Maria Lopez', channel: 'whatsapp', referer: 'https://wa.me/15550001', city: 'Madrid', country: 'ES', lines: ['Is the blue jacket back in stock?', 'Size M please.', 'Perfect.'] },
  { name: 'Ivan Sokolov', channel: 'widget', referer: 'https://shop.example/help', city: 'Tbilisi', country: 'GE', lines: ['I was charged twice for one order.', 'Order #988, both on the same card.', 'OK, waiting for the refund.'] },
  { name: 'Chen Wei', channel: 'widget', referer: 'https://shop.example/', city: 'Singapore', country: 'SG', lines: ['Do you ship to Singapore?', 'How long does it take?'] },
  { name: 'Lea Martin', channel: 'telegram', referer: 'https://t.me/shop_bot', city: 'Lyon', country: 'FR', lines: ['My promo code SPRING does not work.', 'It says expired but the email says until Sunday.', 'Merci!'] },
]

const OPERATOR_REPLIES = [
  'Hi {name}! Let me check that for you.',
  'Thanks for waiting, I am looking into it right now.',
  'Done! Anything else I can help with?',
  'I have passed this to our warehouse; you will get an email shortly.',
]
const BOT_REPLIES = ['I am the shop assistant bot. Let me find a person for you…', 'Connecting you to an operator.']

class Stopped extends Error {}

/** Swallows a failure unless the demo is stopping. */
function stoppedOnly(err: unknown): void {
  if (err instanceof Stopped) throw err
}

export async function startDemo(opts: DemoOptions): Promise<Demo> {
  const pace = opts.pace ?? 1
  const concurrent = opts.concurrentVisitors ?? 4
  const total = opts.totalVisitors ?? 200
  const base = opts.baseUrl.replace(/\/$/, '')
  const wsUrl = `${base.replace(/^http/, 'ws')}/centrifugo/connection/websocket`
  const log = opts.log
  const abort = new AbortController()
  const sdks = new Set<Centrifuge>()
  const work = new Set<Promise<unknown>>()

  const pause = (minMs: number, maxMs = minMs) =>
    new Promise<void>((resolve, reject) => {
      if (abort.signal.aborted) return reject(new Stopped())
      const t = setTimeout(done, (minMs + Math.random() * (maxMs - minMs)) * pace)
      function done() {
        abort.signal.removeEventListener('abort', stopped)
        resolve()
      }
      function stopped() {
        clearTimeout(t)
        reject(new Stopped())
      }
      abort.signal.addEventListener('abort', stopped, { once: true })
    })

  async function http<T = any>(method: string, path: string, body?: unknown, token = opts.apiKey): Promise<T> {
    if (abort.signal.aborted) throw new Stopped()
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: abort.signal,
    }).catch((err) => {
      throw abort.signal.aborted ? new Stopped() : err
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`)
    return (text ? JSON.parse(text) : undefined) as T
  }

  /** Runs a background task; its failure is logged, never thrown, and stop() waits for it. */
  function spawn(name: string, task: () => Promise<unknown>): void {
    const p = task()
      .catch((err) => {
        if (!(err instanceof Stopped) && !abort.signal.aborted) log.warn({ err: String(err) }, `demo: ${name} failed`)
      })
      .finally(() => work.delete(p))
    work.add(p)
  }

  function sdk(application: 'notifications' | 'widget', token: string): Centrifuge {
    const c = new Centrifuge(wsUrl, { websocket: WebSocket, data: { application, settings: { token } }, maxReconnectDelay: 5000 })
    c.on('error', () => undefined)
    sdks.add(c)
    return c
  }

  const newOperator = async (name: string, maxChats: number) => {
    const op = await http<{ id: string }>('POST', '/operators', { name, maxChats })
    const { token } = await http<{ token: string }>('POST', `/operators/${op.id}/tokens`, {})
    return { id: op.id, name, token }
  }

  // The newcomer's operator; sessions wait in the queue for them until the console connects.
  const you = await newOperator('You (demo)', 4)
  const consoleUrl = `${base}/?token=${encodeURIComponent(you.token)}`

  for (const name of ['Alice (demo bot)', 'Boris (demo bot)']) {
    const op = await newOperator(name, 1)
    runOperator(op)
  }

  /** A simulated operator: greets each session it gets, types, answers each client message, edits sometimes. */
  function runOperator(op: { id: string; name: string; token: string }): void {
    const c = sdk('notifications', op.token)
    const held = new Map<string, { chatId: string; client: string; replies: number }>()
    const answer = (sessionId: string) =>
      spawn(`${op.name} answering`, async () => {
        const s = held.get(sessionId)
        if (!s) return
        await pause(800, 2000)
        await c.rpc('typing', { chatId: s.chatId }).catch(() => undefined)
        await pause(1500, 3500)
        if (!held.has(sessionId)) return
        const text = OPERATOR_REPLIES[s.replies++ % OPERATOR_REPLIES.length]!.replace('{name}', s.client.split(' ')[0] ?? 'there')
        const m = await http<{ id: string; text: string }>('POST', `/sessions/${sessionId}/messages`, { text: text.replace('looking', 'loking') }, op.token)
        if (text.includes('looking')) {
          await pause(1500, 3000)
          await http('PATCH', `/messages/${m.id}`, { text }, op.token)
        }
      })
    c.on('publication', (ctx) => {
      try {
        const env = ctx.data as { event?: string; data?: any }
        const d = env.data ?? {}
        if (env.event === 'chatSessionAdded' && String(d.operatorId) === op.id) {
          held.set(d.id, { chatId: d.chatId, client: d.name ?? 'there', replies: 0 })
          answer(d.id)
        } else if (env.event === 'chatMessageCreated' && d.author?.type === 'client' && held.has(d.sessionId)) {
          answer(d.sessionId)
        } else if (env.event === 'sessionClosedByClient' || env.event === 'chatSessionDeleted') {
          held.delete(d.id)
        }
      } catch (err) {
        log.warn({ err: String(err) }, 'demo: operator handler failed')
      }
    })
    c.connect()
  }

  /** One visitor from first message to leaving. */
  async function visit(n: number): Promise<void> {
    const p = PERSONAS[n % PERSONAS.length]!
    const name = n < PERSONAS.length ? p.name : `${p.name.split(' ')[0]} ${n}`
    const client = await http<{ id: string; token: string }>('POST', '/clients', {
      name,
      channel: p.channel,
      referer: p.referer,
      ip: `192.0.2.${(n % 250) + 1}`,
      coordinates: { city: p.city, country_code: p.country },
    })
    const widget = sdk('widget', client.token)
    let answered: (() => void) | null = null
    widget.on('publication', (ctx) => {
      try {
        const env = ctx.data as { event?: string; data?: any }
        const m = env.data ?? {}
        if (env.event !== 'chatMessageCreated' || m.author?.type === 'client') return
        answered?.()
        spawn(`${name} reading`, async () => {
          await pause(700, 2000)
          await http('POST', `/clients/${client.id}/read`, { messageId: m.id })
        })
      } catch (err) {
        log.warn({ err: String(err) }, 'demo: visitor handler failed')
      }
    })
    widget.connect()
    try {
      let sessionId: string | null = null
      const viaBot = n % 3 === 1
      for (const [i, line] of p.lines.entries()) {
        await pause(1000, 2500)
        // Typing with a draft preview, a few keystrokes at a time.
        for (const cut of [0.35, 0.7]) {
          // Best effort, as a real widget's: a rate-limited notice is simply dropped.
          await http('POST', `/clients/${client.id}/typing`, { text: line.slice(0, Math.ceil(line.length * cut)) }).catch(stoppedOnly)
          await pause(600, 1200)
        }
        const m = await http<{ sessionId: string }>('POST', `/clients/${client.id}/messages`, { text: line, ...(viaBot && i === 0 ? { mode: 'bot' } : {}) })
        sessionId = m.sessionId
        if (viaBot && i === 0) {
          await pause(1000, 1500)
          for (const text of BOT_REPLIES) await http('POST', `/sessions/${sessionId}/messages`, { text })
          await pause(1000, 2000)
          await http('POST', `/sessions/${sessionId}/handoff`, {})
        }
        await new Promise<void>((resolve) => {
          answered = resolve
          pause(8000, 15000).then(resolve, resolve)
        })
        answered = null
        if (i === 0 && n % 2 === 0) {
          // Steps away for longer than the server's presence grace (10 s by default): offline, then back online.
          widget.disconnect()
          await pause(12000, 20000)
          widget.connect()
        }
      }
      await pause(2000, 5000)
      const leave = n % 5
      if (leave === 3 && sessionId) {
        await http('POST', `/sessions/${sessionId}/bot`, { reason: 'the client asked about a refund status; the bot handles those' })
      } else if (leave === 4) {
        widget.disconnect()
        await pause(15000, 20000)
        await http('POST', `/clients/${client.id}/close`, {}).catch(() => undefined)
      } else {
        await http('POST', `/clients/${client.id}/close`, {})
      }
    } finally {
      widget.disconnect()
      sdks.delete(widget)
    }
  }

  let started = 0
  for (let w = 0; w < concurrent; w++) {
    spawn(`visitor loop ${w}`, async () => {
      await pause(w * 2500)
      while (started < total) {
        const n = started++
        await visit(n).catch((err) => {
          if (err instanceof Stopped || abort.signal.aborted) throw err
          log.warn({ err: String(err) }, 'demo: a visitor failed')
        })
        await pause(1500, 4000)
      }
    })
  }

  log.info({ consoleUrl }, 'demo: simulated operators and visitors are running')
  return {
    consoleUrl,
    async stop() {
      abort.abort()
      for (const c of sdks) {
        c.removeAllListeners()
        c.disconnect()
      }
      sdks.clear()
      await Promise.allSettled([...work])
    },
  }
}
