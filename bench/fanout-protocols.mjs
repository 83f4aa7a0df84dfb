/**
 * `node bench/fanout-protocols.mjs [--clients=1000] [--pubs=2000] [--rounds=3] [--payload=200]`: fan-out over
 * WebSocket, JSON against protobuf, in one run (livedesk from dist/: `npm run build` first). This process is the
 * server; a child process holds N raw `ws` clients (no SDK) subscribed server-side (JWT `channels`) to one
 * channel, speaking JSON or protobuf (`?cf_protocol=protobuf`). Each round publishes `pubs` publications
 * (in-process `node.publish`, memory broker) once per protocol, alternating, and waits until every client has
 * counted every publication. Prints publications per second and server CPU µs per delivery (medians), and the
 * protobuf/JSON ratios.
 */
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import WebSocket from 'ws'

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')))
const SECRET = 'fanout-protocols-bench'
const CHANNEL = 'fanout'

if (args.role === 'clients') await runClients()
else await runServer()

async function runServer() {
  const clients = Number(args.clients ?? 1000)
  const pubs = Number(args.pubs ?? 2000)
  const rounds = Number(args.rounds ?? 3)
  const payload = { text: 'x'.repeat(Number(args.payload ?? 200)), n: 0 }
  const { startLivedesk } = await import('../dist/main.js').catch(() => {
    console.error('bench/fanout-protocols.mjs: dist/main.js is missing; run `npm run build` first')
    process.exit(1)
  })
  const dataDir = mkdtempSync(join(tmpdir(), 'livedesk-fanout-'))
  const livedesk = await startLivedesk({
    port: 0, host: '127.0.0.1', dataDir, logLevel: 'silent',
    realtime: { hmacSecret: SECRET, pingIntervalMs: 0, connectionsPerIp: 0, connectionsPerUser: 0, connectsPerIp: { points: 0, windowMs: 1_000 } },
  })
  const token = await new SignJWT({ sub: 'bench', channels: [CHANNEL] }).setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))
  const url = `ws://127.0.0.1:${livedesk.port}/connection/websocket`
  const results = { json: [], protobuf: [] }
  try {
    for (let round = 0; round < rounds; round++) {
      for (const protocol of ['json', 'protobuf']) {
        const child = fork(new URL(import.meta.url).pathname, ['--role=clients'], { stdio: 'inherit' })
        const message = (type) => new Promise((r) => child.on('message', (m) => m.type === type && r(m)))
        const ready = message('ready')
        child.send({ url, token, protocol, clients })
        await bounded(ready, 'the clients to connect')
        const until = Date.now() + 10_000
        while (livedesk.node.hub.channels.get(CHANNEL)?.size !== clients && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
        const done = message('done')
        child.send({ type: 'expect', count: pubs })
        const cpu0 = process.cpuUsage()
        const t0 = process.hrtime.bigint()
        for (let i = 0; i < pubs; i++) {
          payload.n = i
          await livedesk.node.publish(CHANNEL, payload)
          // Lets the writes of this turn go out, as a stream of publications from the broker would.
          if (i % 20 === 19) await new Promise((r) => setImmediate(r))
        }
        await bounded(done, `every delivery (slow disconnects so far: ${livedesk.node.stats.slowDisconnects})`)
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9
        const cpu = process.cpuUsage(cpu0)
        results[protocol].push({ pubsPerSec: pubs / seconds, cpuUsPerDelivery: (cpu.user + cpu.system) / (pubs * clients) })
        child.kill()
        await new Promise((r) => child.once('exit', r))
        const drained = Date.now() + 10_000
        while (livedesk.node.hub.clients.size > 0 && Date.now() < drained) await new Promise((r) => setTimeout(r, 20))
      }
    }
  } finally {
    await livedesk.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const row = (p) => ({ pubsPerSec: median(results[p].map((r) => r.pubsPerSec)), cpuUsPerDelivery: median(results[p].map((r) => r.cpuUsPerDelivery)) })
  const json = row('json')
  const protobuf = row('protobuf')
  console.log(`fan-out, ${clients} clients on one channel, ${pubs} publications of ${args.payload ?? 200}-byte text, median of ${rounds} rounds`)
  console.log(`json      ${json.pubsPerSec.toFixed(0)} pubs/s  ${json.cpuUsPerDelivery.toFixed(3)} µs server CPU per delivery`)
  console.log(`protobuf  ${protobuf.pubsPerSec.toFixed(0)} pubs/s  ${protobuf.cpuUsPerDelivery.toFixed(3)} µs server CPU per delivery`)
  console.log(`ratio protobuf/json: pubs/s ${(protobuf.pubsPerSec / json.pubsPerSec).toFixed(2)}, CPU per delivery ${(protobuf.cpuUsPerDelivery / json.cpuUsPerDelivery).toFixed(2)}`)
}

/** Waits at most 60 s: a lost delivery (a client cut as slow) fails the run instead of hanging it. */
function bounded(promise, what) {
  let timer
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 60_000)))
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** The child: N raw sockets of one protocol, counting publication pushes until each has `count`. */
async function runClients() {
  const { url, token, protocol, clients } = await new Promise((r) => process.once('message', r))
  const { encodeCommands, decodeReplies } = await import('../dist/protocol/codec-protobuf.js')
  const counts = new Array(clients).fill(0)
  let expected = Infinity
  let finished = 0
  const sockets = []
  const check = (i) => {
    if (counts[i] === expected) finished++
    if (finished === clients) process.send({ type: 'done' })
  }
  await Promise.all(Array.from({ length: clients }, (_, i) => new Promise((resolve, reject) => {
    const ws = new WebSocket(protocol === 'protobuf' ? `${url}?cf_protocol=protobuf` : url)
    sockets.push(ws)
    let connected = false
    ws.on('message', (data, isBinary) => {
      let pubs = 0
      if (isBinary) {
        for (const reply of decodeReplies(data)) {
          if (reply.push?.pub) pubs++
          else if (reply.id === 1) connected = true
        }
      } else {
        for (const line of data.toString().split('\n')) {
          if (line.startsWith('{"push":{"channel"') && line.includes('"pub":')) pubs++
          else if (line.startsWith('{"id":1,')) connected = true
        }
      }
      if (connected && pubs === 0) resolve()
      counts[i] += pubs
      if (pubs) check(i)
    })
    ws.once('open', () => ws.send(protocol === 'protobuf' ? encodeCommands([{ id: 1, connect: { token } }]) : JSON.stringify({ id: 1, connect: { token } })))
    ws.once('error', reject)
  })))
  process.on('message', (m) => {
    if (m.type !== 'expect') return
    expected = m.count
    for (let i = 0; i < clients; i++) if (counts[i] >= expected) check(i)
  })
  process.send({ type: 'ready' })
}
