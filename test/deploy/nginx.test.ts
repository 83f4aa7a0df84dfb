/**
 * The README's "Running several nodes", tested: Debian's nginx, run by this test with
 * deploy/nginx/livedesk.conf (only its ports replaced), in front of three livedesk node processes that share
 * one Redis and one PostgreSQL database. The seed's console connects through nginx and receives the events
 * produced on every node; the REST API, the console page and both WebSocket paths work through it; a node
 * stopped under a console (a rolling restart) costs the console nothing: it reconnects through nginx to
 * another node and recovers what it missed, with no sticky sessions.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Centrifuge, ServerSubscribedContext } from 'centrifuge'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { freePort, startNodeProcess, waitUntil, type NodeProcess } from '../helpers/processes.js'
import { newSdk, nextEvent } from '../helpers/sdk.js'
import { missingService, randomPrefix, serviceUrl } from '../realtime/services.js'
import { tempPostgres, type TestDatabase } from '../store/databases.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const CONF = join(ROOT, 'deploy', 'nginx', 'livedesk.conf')
const SUITE = 'nginx in front of three nodes'

/** Debian's nginx (`apt-get install nginx`): /usr/sbin is not on every user's PATH. */
function findNginx(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin']
  return dirs.map((dir) => join(dir, 'nginx')).find((path) => existsSync(path))
}

/** The nginx binary, or undefined after a suite that says why not (failing when services are required). */
function nginxPath(): string | undefined {
  const path = findNginx()
  if (path) return path
  const why = 'nginx is not installed (apt-get install nginx)'
  missingService(SUITE, 'nginx', why, 'runs nginx in front of three nodes')
  return undefined
}

const redisUrl = serviceUrl('REDIS_URL', SUITE)
const databaseUrl = redisUrl ? serviceUrl('TEST_DATABASE_URL', SUITE) : undefined
const nginx = redisUrl && databaseUrl ? nginxPath() : undefined

/**
 * deploy/nginx/livedesk.conf with the test's ports: each `server 127.0.0.1:800N` and `listen 80` must be there
 * exactly once, so the test never runs a configuration other than the one shipped.
 */
function renderConfig(text: string, nodePorts: number[], listenPort: number): string {
  const replaceOnce = (from: string, to: string) => {
    const count = text.split(from).length - 1
    if (count !== 1) throw new Error(`deploy/nginx/livedesk.conf: expected "${from}" once, found it ${count} times`)
    text = text.replace(from, to)
  }
  nodePorts.forEach((port, i) => replaceOnce(`server 127.0.0.1:${8001 + i} `, `server 127.0.0.1:${port} `))
  replaceOnce('listen 80;', `listen 127.0.0.1:${listenPort};`)
  return text
}

interface Nginx {
  port: number
  url: string
  output(): string
  stop(): Promise<void>
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((r) => child.once('exit', () => r()))
}

/**
 * nginx in the foreground with a prefix, configuration, pid file and temp paths of its own, listening on a
 * free loopback port; the shipped file is included in the http {} context as Debian's nginx.conf does.
 */
async function startNginx(binary: string, nodePorts: number[]): Promise<Nginx> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'livedesk-nginx-'))
  // Started as root, nginx runs its workers as `nobody` (no `user` directive needed, as root or not): they must
  // reach the temp directories, which the master creates in here and hands to them.
  chmodSync(dir, 0o755)
  writeFileSync(join(dir, 'livedesk.conf'), renderConfig(readFileSync(CONF, 'utf8'), nodePorts, port))
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'worker_processes 2;',
      'events { worker_connections 256; }',
      'http {',
      '  access_log off;',
      `  client_body_temp_path ${dir}/client_body;`,
      `  proxy_temp_path ${dir}/proxy;`,
      `  fastcgi_temp_path ${dir}/fastcgi;`,
      `  uwsgi_temp_path ${dir}/uwsgi;`,
      `  scgi_temp_path ${dir}/scgi;`,
      `  include ${dir}/livedesk.conf;`,
      '}',
      '',
    ].join('\n'),
  )
  const child = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr', '-g', `daemon off; pid ${dir}/nginx.pid; error_log stderr warn;`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d) => (output = (output + d).slice(-20_000)))
  child.stderr!.on('data', (d) => (output = (output + d).slice(-20_000)))
  const url = `http://127.0.0.1:${port}`
  const stop = async () => {
    // SIGTERM: nginx's fast shutdown; SIGKILL if it has not exited within 5 s.
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
    await exited(child)
    clearTimeout(timer)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitUntil(async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`)
      return (await fetch(`${url}/health`)).ok
    }, 10_000, 'nginx to answer /health')
  } catch (err) {
    await stop()
    throw new Error(`${(err as Error).message}\n${output}`)
  }
  return { port, url, output: () => output, stop }
}

if (redisUrl && databaseUrl && nginx) {
  describe(SUITE, () => {
    const apiKey = `key-${randomUUID()}`
    let db: TestDatabase
    let nodes: NodeProcess[] = []
    let proxy: Nginx
    const sdks: Centrifuge[] = []

    beforeAll(async () => {
      const started = Date.now()
      const laps: string[] = []
      const lap = (what: string) => laps.push(`${what} ${Date.now() - started} ms`)
      db = await tempPostgres()
      lap('database')
      const env = { REDIS_URL: redisUrl, REDIS_PREFIX: randomPrefix('nginx'), DATABASE_URL: db.databaseUrl!, API_KEY: apiKey }
      // All three at once, as a deployment starts them.
      nodes = await Promise.all(['ld-1', 'ld-2', 'ld-3'].map(async (name) => {
        const node = await startNodeProcess(name, env)
        lap(name)
        return node
      }))
      proxy = await startNginx(nginx, nodes.map((n) => n.port))
      lap('nginx')
      // Setup takes 2-5 s; say where the time went when it takes longer (a loaded machine).
      if (Date.now() - started > 10_000) console.warn(`[slow] ${SUITE}: ${laps.join(', ')}`)
    })
    // A failing test shows what nginx logged (warnings and errors: refused nodes, bad handshakes).
    beforeEach(({ onTestFailed }) => onTestFailed(() => console.error(`nginx:\n${proxy?.output()}`)))
    afterAll(async () => {
      for (const sdk of sdks) sdk.disconnect()
      await proxy?.stop()
      // The nodes go with processes.ts's own cleanup, after this file; the database needs them gone first.
      await Promise.allSettled(nodes.map((n) => n.stop()))
      await db?.drop()
    })

    /** `/api/v1` on `base` (nginx or one node's own port); throws unless the status is 2xx. */
    async function v1(base: string, method: string, path: string, body?: unknown, token = apiKey): Promise<any> {
      const res = await fetch(`${base}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      const text = await res.text()
      if (!res.ok) throw new Error(`${method} ${base}${path} → ${res.status} ${text}`)
      return text ? JSON.parse(text) : undefined
    }

    /** Centrifugo's `POST /api/info` on `base`: the name of the node that answered and its connection count. */
    async function info(base: string): Promise<{ name: string; num_clients: number }> {
      const res = await fetch(`${base}/api/info`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': apiKey }, body: '{}' })
      expect(res.status).toBe(200)
      return (await res.json()).result.nodes[0]
    }

    /** Which nodes hold how many connections, from each node's own port. */
    const connectionsPerNode = async () => Object.fromEntries(await Promise.all(nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null).map(async (n) => [n.name, (await info(n.url)).num_clients] as const)))

    /** The seed's connection code through nginx (console or widget): every publication's `data` is recorded. */
    async function connectThroughNginx(path: string, application: 'notifications' | 'widget', token: string) {
      const centrifuge = newSdk(`ws://127.0.0.1:${proxy.port}${path}`, { data: { application, settings: { token } } })
      sdks.push(centrifuge)
      const events: any[] = []
      const subscribed: ServerSubscribedContext[] = []
      centrifuge.on('publication', (ctx) => events.push(ctx.data))
      centrifuge.on('subscribed', (ctx) => subscribed.push(ctx))
      const errors: string[] = []
      centrifuge.on('error', (ctx) => errors.push(`${ctx.type}: ${ctx.error?.message}`))
      const connected = nextEvent(centrifuge, 'connected')
      centrifuge.connect()
      await connected.catch((err) => {
        throw new Error(`${err.message} through nginx at ${path} (${errors.slice(-3).join('; ') || 'no SDK error'})`)
      })
      return { centrifuge, events, subscribed }
    }

    const messageIds = (events: any[]) => events.filter((e) => e.event === 'chatMessageCreated').map((e) => e.data.id)

    it('the API, the console and its assets from every node through nginx, with the one API key', async () => {
      expect((await fetch(`${proxy.url}/health`)).ok).toBe(true)
      // Consecutive requests go to all three nodes (least_conn with no connection open: round-robin; nothing
      // sticks a client to a node), and each node accepts the one key.
      const answered = new Set<string>()
      for (let i = 0; i < 6; i++) answered.add((await info(proxy.url)).name)
      expect([...answered].sort()).toEqual(['ld-1', 'ld-2', 'ld-3'])

      const page = await fetch(`${proxy.url}/`)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toMatch(/text\/html/)
      expect(await page.text()).toMatch(/assets\//)
      // The console's largest script, byte for byte: far larger than nginx's in-memory proxy buffers (8 × 4 KB).
      const assets = readdirSync(join(ROOT, 'web', 'dist', 'assets')).filter((f) => f.endsWith('.js'))
      const largest = assets.map((f) => ({ f, text: readFileSync(join(ROOT, 'web', 'dist', 'assets', f), 'utf8') })).sort((a, b) => b.text.length - a.text.length)[0]!
      expect(largest.text.length).toBeGreaterThan(64 * 1024)
      const asset = await fetch(`${proxy.url}/assets/${largest.f}`)
      expect(asset.status).toBe(200)
      expect(await asset.text()).toBe(largest.text)

      const widget = await fetch(`${proxy.url}/widget`)
      expect(widget.status).toBe(200)
      // A wrong key is refused through nginx as it is directly.
      expect((await fetch(`${proxy.url}/api/v1/operators`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    })

    it("the seed's console connects through nginx and receives chatMessageCreated produced on each of the three nodes", async () => {
      // The operator and its token through nginx.
      const op = await v1(proxy.url, 'POST', '/operators', { name: 'Nina', maxChats: 50 })
      const { token } = await v1(proxy.url, 'POST', `/operators/${op.id}/tokens`, {})
      const console_ = await connectThroughNginx('/centrifugo/connection/websocket', 'notifications', token)
      // The console is on exactly one node; the other two reach it only through Redis.
      expect(Object.values(await connectionsPerNode()).sort()).toEqual([0, 0, 1])
      await waitUntil(async () => (await v1(proxy.url, 'GET', `/operators/${op.id}`)).online === true, 5_000, 'the operator to be online')

      // A client and its message on each node's own port: each node commits and publishes its own events.
      const sent: Array<{ node: string; clientId: string; chatId: string; clientToken: string; messageId: string }> = []
      for (const node of nodes) {
        const client = await v1(node.url, 'POST', '/clients', { name: `client of ${node.name}` })
        const message = await v1(node.url, 'POST', `/clients/${client.id}/messages`, { text: `hello from ${node.name}` })
        sent.push({ node: node.name, clientId: client.id, chatId: client.chatId, clientToken: client.token, messageId: message.id })
      }
      await waitUntil(() => sent.every((s) => messageIds(console_.events).includes(s.messageId)), 10_000, 'chatMessageCreated of every node on the console')
      for (const s of sent) {
        const created = console_.events.filter((e) => e.event === 'chatMessageCreated' && e.data.id === s.messageId)
        expect(created, `the message posted on ${s.node}`).toHaveLength(1)
        expect(created[0].data).toMatchObject({ chatId: s.chatId, text: `hello from ${s.node}`, author: { type: 'client' } })
        // Its session reached the operator first (routing ran on the node that got the message).
        expect(console_.events.some((e) => e.event === 'chatSessionAdded' && e.data.chatId === s.chatId)).toBe(true)
      }

      // The operator's own API through nginx: the three sessions, and a reply that reaches the client's widget,
      // connected through nginx on the other WebSocket path.
      const { items } = await v1(proxy.url, 'GET', '/sessions?limit=200', undefined, token)
      expect(items.map((s: any) => s.chatId).sort()).toEqual(sent.map((s) => s.chatId).sort())
      const widget = await connectThroughNginx('/connection/websocket', 'widget', sent[0]!.clientToken)
      const session = items.find((s: any) => s.chatId === sent[0]!.chatId)
      const reply = await v1(proxy.url, 'POST', `/sessions/${session.id}/messages`, { text: 'How can I help?' }, token)
      await waitUntil(() => messageIds(widget.events).includes(reply.id), 5_000, "the operator's reply on the widget")
      await waitUntil(() => messageIds(console_.events).includes(reply.id), 5_000, "the operator's reply on the console")
      widget.centrifuge.disconnect()
      console_.centrifuge.disconnect()
    })

    it('a node stopped under a console: the console reconnects through nginx to another node and misses nothing', async () => {
      // No connection left from the test before: the node holding one is then this console's.
      await waitUntil(async () => Object.values(await connectionsPerNode()).every((n) => n === 0), 5_000, 'no connections left')
      const op = await v1(proxy.url, 'POST', '/operators', { name: 'Otto', maxChats: 50 })
      const { token } = await v1(proxy.url, 'POST', `/operators/${op.id}/tokens`, {})
      const console_ = await connectThroughNginx('/centrifugo/connection/websocket', 'notifications', token)
      const before = await connectionsPerNode()
      expect(Object.values(before).sort()).toEqual([0, 0, 1])
      const home = nodes.find((n) => before[n.name] === 1)!
      const others = nodes.filter((n) => n !== home)
      await waitUntil(async () => (await v1(proxy.url, 'GET', `/operators/${op.id}`)).online === true, 5_000, 'the operator to be online')

      const clients = await Promise.all(others.map((n) => v1(n.url, 'POST', '/clients', { name: `client of ${n.name}` })))
      const first = await Promise.all(others.map((n, i) => v1(n.url, 'POST', `/clients/${clients[i].id}/messages`, { text: 'before' })))
      await waitUntil(() => first.every((m) => messageIds(console_.events).includes(m.id)), 5_000, 'the first messages')

      // A rolling restart's first step: the console's node goes away (SIGTERM) while messages keep coming.
      const reconnected = nextEvent(console_.centrifuge, 'connected', () => true, 10_000)
      const stopping = home.stop()
      const during = await Promise.all(others.map((n, i) => v1(n.url, 'POST', `/clients/${clients[i].id}/messages`, { text: 'during' })))
      await stopping
      await reconnected
      const after = await Promise.all(others.map((n, i) => v1(n.url, 'POST', `/clients/${clients[i].id}/messages`, { text: 'after' })))

      const all = [...first, ...during, ...after].map((m) => m.id)
      await waitUntil(() => all.every((id) => messageIds(console_.events).includes(id)), 10_000, 'every message after the reconnect')
      // Each exactly once, and the reconnect went through nginx to a node that is still up.
      for (const id of all) expect(messageIds(console_.events).filter((x) => x === id)).toHaveLength(1)
      // In each chat's order.
      for (const client of clients) {
        const texts = console_.events.filter((e) => e.event === 'chatMessageCreated' && e.data.chatId === client.chatId).map((e) => e.data.text)
        expect(texts).toEqual(['before', 'during', 'after'])
      }
      const now = await connectionsPerNode()
      expect(Object.keys(now).sort()).toEqual(others.map((n) => n.name).sort())
      expect(Object.values(now).sort()).toEqual([0, 1])
      // Its server-side subscriptions were recovered from Redis on the new node: nothing was lost in between.
      const resubscribed = console_.subscribed.slice(-2)
      expect(resubscribed.map((s) => s.channel).sort()).toEqual([`operator:${op.id}`, 'operators:queue'])
      for (const s of resubscribed) expect(s).toMatchObject({ wasRecovering: true, recovered: true })
      // The API through nginx still answers, only from the nodes left.
      for (let i = 0; i < 4; i++) expect(others.map((n) => n.name)).toContain((await info(proxy.url)).name)
    })
  })
}
