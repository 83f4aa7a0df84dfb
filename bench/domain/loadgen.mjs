/**
 * The load generator of `npm run bench:domain`, driven over IPC by bench/domain.mjs (pinned to its own core).
 * It holds both ends of the path measured: the HTTP client that posts client messages
 * (`POST /api/v1/clients/:id/messages`, round-robin over the nodes) and the operator consoles, each one
 * `centrifuge` SDK connected as the seed's console is, spread over the nodes. One process, one clock:
 * delivery latency = the console's receive time − the time the request was issued.
 *
 * Messages in: setup {nodes, apiKey, operators, maxChats, clients, maxSockets} → setup-done;
 * step {tag, rate, warmupMs, windowMs, drainMs, maxInFlight, responseWaitMs} → step-done; close.
 */
import http from 'node:http'
import { writeFileSync } from 'node:fs'
import { Centrifuge } from 'centrifuge'
import WebSocket from 'ws'
import { watchStalls } from '../lib/stalls.mjs'

const send = (msg) => process.send?.(msg)

watchStalls('loadgen')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** [{ host, port, agent, wsUrl }] */
let nodes = []
let apiKey
/** [{ id, token, node, sdk, reconnects }] */
let operators = []
/** [{ id, chatId }] */
let clients = []
/** Rotates over the clients across steps, so every chat gets its share whatever the step's length. */
let cursor = 0
/** The step being measured; deliveries of other steps' messages only count as stray. */
let current = null
let stray = 0

/** One HTTP request; resolves (never rejects) with { status, body } or { status: 0, error }. */
function request(node, method, path, body, token, timeoutMs = 15_000) {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers = { authorization: `Bearer ${token}` }
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = Buffer.byteLength(payload)
    }
    const req = http.request({ host: node.host, port: node.port, method, path: `/api/v1${path}`, agent: node.agent, headers, timeout: timeoutMs }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }))
      res.on('error', (err) => resolve({ status: 0, error: err.message }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (err) => resolve({ status: 0, error: err.message }))
    req.end(payload)
  })
}

/** `request`, throwing unless the status is 200 or 201; returns the parsed body. */
async function ok(node, method, path, body, token = apiKey) {
  const res = await request(node, method, path, body, token)
  if (res.status !== 200 && res.status !== 201) throw new Error(`${method} ${path} → ${res.status || res.error} ${res.text ?? ''}`.trim())
  return res.text ? JSON.parse(res.text) : undefined
}

/** Runs fn(0..n-1) with at most `concurrency` in flight. */
async function pool(n, concurrency, fn) {
  let next = 0
  const worker = async () => {
    while (next < n) await fn(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
}

function onPublication(ctx) {
  const d = ctx.data
  if (d?.event !== 'chatMessageCreated') return
  const text = d.data?.text
  if (typeof text !== 'string' || !text.startsWith('bench ')) return
  const now = performance.now()
  const [, tag, k] = text.split(' ')
  const step = current
  if (!step || step.tag !== tag) return void stray++
  const i = Number(k)
  if (!(i >= 0 && i < step.total)) return void stray++
  if (step.recvAt[i] === 0) {
    step.recvAt[i] = now
    step.received++
  } else step.duplicates++
}

async function connectConsole(op) {
  const sdk = new Centrifuge(op.node.wsUrl, {
    websocket: WebSocket,
    data: { application: 'notifications', settings: { token: op.token } },
    minReconnectDelay: 100,
    maxReconnectDelay: 1_000,
  })
  op.sdk = sdk
  op.reconnects = 0
  let connectedOnce = false
  sdk.on('publication', onPublication)
  sdk.on('connecting', () => {
    if (connectedOnce) op.reconnects++
  })
  const connected = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`console of operator ${op.id} did not connect within 15 s`)), 15_000)
    sdk.once('connected', () => {
      connectedOnce = true
      clearTimeout(timer)
      resolve()
    })
  })
  sdk.connect()
  await connected
}

async function setup(msg) {
  apiKey = msg.apiKey
  nodes = msg.nodes.map((n) => ({
    host: '127.0.0.1',
    port: n.port,
    wsUrl: `ws://127.0.0.1:${n.port}/centrifugo/connection/websocket`,
    agent: new http.Agent({ keepAlive: true, maxSockets: msg.maxSockets }),
  }))
  const t0 = performance.now()
  const nodeOf = (i) => nodes[i % nodes.length]
  // Operators, each logged in, each console on its own node (round-robin).
  operators = new Array(msg.operators)
  await pool(msg.operators, 4, async (i) => {
    const node = nodeOf(i)
    const op = await ok(node, 'POST', '/operators', { name: `Operator ${i + 1}`, maxChats: msg.maxChats })
    const { token } = await ok(node, 'POST', `/operators/${op.id}/tokens`, {})
    operators[i] = { id: op.id, token, node }
  })
  await pool(operators.length, 4, (i) => connectConsole(operators[i]))
  const consolesMs = performance.now() - t0
  // Clients, then each one's first message: it opens the session, which routing assigns to an operator.
  clients = new Array(msg.clients)
  await pool(msg.clients, 8, async (i) => {
    const c = await ok(nodeOf(i), 'POST', '/clients', { name: `Client ${i + 1}` })
    clients[i] = { id: c.id, chatId: c.chatId }
  })
  const t1 = performance.now()
  await pool(msg.clients, 8, (i) => ok(nodeOf(i), 'POST', `/clients/${clients[i].id}/messages`, { text: `hello from client ${i + 1}` }))
  const firstMessagesMs = performance.now() - t1
  // Every session assigned: each operator's own list, summed (a queued session would reach every console).
  const deadline = performance.now() + 60_000
  let perOperator = []
  for (;;) {
    perOperator = await Promise.all(
      operators.map(async (op) => (await ok(op.node, 'GET', '/sessions?status=assigned&limit=200', undefined, op.token)).items?.length ?? 0),
    )
    if (perOperator.reduce((a, b) => a + b, 0) >= msg.clients) break
    if (performance.now() > deadline) {
      throw new Error(`after 60 s only ${perOperator.reduce((a, b) => a + b, 0)} of ${msg.clients} sessions are assigned (per operator: ${perOperator.join(',')})`)
    }
    await sleep(250)
  }
  send({ type: 'setup-done', ms: performance.now() - t0, consolesMs, firstMessagesMs, assignedPerOperator: perOperator })
}

const quantile = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null)
function summary(values) {
  const sorted = Float64Array.from(values).sort()
  const round = (v) => (v === null ? null : Math.round(v * 100) / 100)
  return {
    n: sorted.length,
    p50Ms: round(quantile(sorted, 0.5)),
    p90Ms: round(quantile(sorted, 0.9)),
    p99Ms: round(quantile(sorted, 0.99)),
    maxMs: round(sorted.length ? sorted[sorted.length - 1] : null),
  }
}

/**
 * One open-loop step: `rate` messages/s on a fixed schedule for warmupMs + windowMs, whatever the answers;
 * then up to drainMs for the last deliveries (the loss deadline) and up to responseWaitMs for late answers,
 * so the next step starts on a quiet server. Latencies, achieved rate and schedule lag are of the window only.
 */
async function step(msg) {
  const { tag, rate, warmupMs, windowMs, drainMs, maxInFlight, responseWaitMs } = msg
  const total = Math.max(1, Math.ceil((rate * (warmupMs + windowMs)) / 1000))
  const firstInWindow = Math.min(total - 1, Math.ceil((rate * warmupMs) / 1000))
  const s = {
    tag, total, sent: 0, skipped: 0, inFlight: 0, maxInFlightSeen: 0, answered: 0, ok201: 0, received: 0, duplicates: 0,
    sendAt: new Float64Array(total), respAt: new Float64Array(total), recvAt: new Float64Array(total), status: new Int16Array(total),
    errors: {},
  }
  const reconnectsBefore = operators.reduce((a, op) => a + op.reconnects, 0)
  const strayBefore = stray
  current = s
  const interval = 1000 / rate
  const t0 = performance.now() + 10
  const fire = (k) => {
    const client = clients[cursor++ % clients.length]
    const node = nodes[k % nodes.length]
    s.sendAt[k] = performance.now()
    s.inFlight++
    if (s.inFlight > s.maxInFlightSeen) s.maxInFlightSeen = s.inFlight
    request(node, 'POST', `/clients/${client.id}/messages`, { text: `bench ${tag} ${k}` }, apiKey).then((res) => {
      s.inFlight--
      s.answered++
      s.respAt[k] = performance.now()
      s.status[k] = res.status
      if (res.status === 201) s.ok201++
      else {
        const key = res.status ? `HTTP ${res.status}` : res.error
        s.errors[key] = (s.errors[key] ?? 0) + 1
      }
    })
  }
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / interval) + 1)
      while (s.sent < due) {
        const k = s.sent++
        if (s.inFlight >= maxInFlight) {
          s.skipped++
          s.status[k] = -1
        } else fire(k)
      }
      if (s.sent >= total) return resolve()
      setTimeout(tick, Math.max(1, Math.floor(t0 + s.sent * interval - performance.now())))
    }
    setTimeout(tick, 10)
  })
  const scheduleEnd = performance.now()
  const lossDeadline = scheduleEnd + drainMs
  while (performance.now() < lossDeadline && !(s.answered + s.skipped >= total && s.received >= s.ok201)) await sleep(10)
  const responseDeadline = performance.now() + responseWaitMs
  while (performance.now() < responseDeadline && s.answered + s.skipped < total) await sleep(20)
  const unanswered = total - s.answered - s.skipped
  current = null

  // Window figures.
  const delivery = []
  const response = []
  const lag = []
  let lost = 0
  let late = 0
  let windowSent = 0
  let deliveredInWindow = 0
  const windowStart = t0 + warmupMs
  for (let k = 0; k < total; k++) {
    if (s.status[k] === 201 && (s.recvAt[k] === 0 || s.recvAt[k] > lossDeadline)) {
      lost++
      if (s.recvAt[k] > lossDeadline) late++
    }
    if (k < firstInWindow || s.status[k] === -1) continue
    windowSent++
    lag.push(s.sendAt[k] - (t0 + k * interval))
    if (s.respAt[k] > 0) response.push(s.respAt[k] - s.sendAt[k])
    if (s.recvAt[k] > 0) {
      delivery.push(s.recvAt[k] - s.sendAt[k])
      if (s.recvAt[k] >= windowStart && s.recvAt[k] < windowStart + windowMs) deliveredInWindow++
    }
  }
  // Backlog growth: median delivery latency of the window's last quarter of messages minus its first quarter's.
  const quarter = Math.floor((total - firstInWindow) / 4)
  const medianOf = (from, to) => {
    const v = []
    for (let k = from; k < to; k++) if (s.status[k] === 201 && s.recvAt[k] > 0) v.push(s.recvAt[k] - s.sendAt[k])
    return v.length ? quantile(Float64Array.from(v).sort(), 0.5) : null
  }
  const first = quarter > 0 ? medianOf(firstInWindow, firstInWindow + quarter) : null
  const last = quarter > 0 ? medianOf(total - quarter, total) : null
  const latencyDriftMs = first !== null && last !== null ? Math.round((last - first) * 100) / 100 : null
  let lastWindowSend = windowStart
  for (let k = total - 1; k >= firstInWindow; k--) if (s.sendAt[k] > 0) { lastWindowSend = s.sendAt[k]; break }
  const windowElapsed = Math.max(lastWindowSend - windowStart + interval, (windowSent * interval))
  const errors = total - s.ok201 - s.skipped
  // BENCH_TRACE_DIR: every message's send, answer and delivery time (ms since the schedule's start), to see when stalls fall.
  if (process.env.BENCH_TRACE_DIR) {
    const rel = (a) => Array.from(a, (v) => (v > 0 ? Math.round((v - t0) * 10) / 10 : null))
    const file = `${process.env.BENCH_TRACE_DIR}/${tag.replace(/[^\w.-]+/g, '_')}-${rate}.json`
    writeFileSync(file, JSON.stringify({ tag, rate, t0Epoch: performance.timeOrigin + t0, send: rel(s.sendAt), resp: rel(s.respAt), recv: rel(s.recvAt) }))
  }
  send({
    type: 'step-done',
    tag,
    offered: rate,
    windowMs,
    total,
    windowMessages: total - firstInWindow,
    windowSent,
    achievedRate: (windowSent * 1000) / windowElapsed,
    deliveredRateInWindow: (deliveredInWindow * 1000) / windowMs,
    latencyDriftMs,
    ok: s.ok201,
    errors,
    errorKinds: s.errors,
    unanswered,
    skipped: s.skipped,
    lost,
    lateAfterDeadline: late,
    duplicates: s.duplicates,
    stray: stray - strayBefore,
    maxInFlight: s.maxInFlightSeen,
    reconnects: operators.reduce((a, op) => a + op.reconnects, 0) - reconnectsBefore,
    deliveryMs: summary(delivery),
    responseMs: summary(response),
    scheduleLagMs: summary(lag),
  })
}

async function close() {
  for (const op of operators) op.sdk?.disconnect()
  for (const n of nodes) n.agent.destroy()
  process.exit(0)
}

process.on('message', (msg) => {
  const handler = { setup, step, close }[msg.type]
  if (!handler) return
  Promise.resolve(handler(msg)).catch((err) => send({ type: 'error', message: String(err?.stack ?? err) }))
})
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })
