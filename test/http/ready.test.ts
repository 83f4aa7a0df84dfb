import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { afterAll, describe, expect, it } from 'vitest'
import { ensureBuilt, ROOT } from '../helpers/built.js'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { freePort, startRedisProcess, waitUntil } from '../helpers/processes.js'
import { newSdk, nextEvent } from '../helpers/sdk.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'
import { missingService, serviceUrl } from '../realtime/services.js'
import { tempPostgres } from '../store/databases.js'

const SUITE = '/ready with real PostgreSQL and Redis'
const postgresUrl = serviceUrl('TEST_DATABASE_URL', SUITE)
let redisServerFound = true
try {
  const { execFileSync } = await import('node:child_process')
  execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
} catch {
  redisServerFound = false
  missingService(SUITE, 'redis-server', 'redis-server is not on PATH', 'fails /ready while Redis is down')
}

const ready = async (url: string) => {
  const res = await fetch(`${url}/ready`)
  return { status: res.status, body: (await res.json()) as { status: string; failed?: Record<string, string> } }
}

describe.runIf(postgresUrl && redisServerFound)(SUITE, () => {
  const cleanups: Array<() => Promise<void>> = []
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {})
  })

  it('fails while PostgreSQL is cut off or Redis is down, naming which, and recovers when each returns', async () => {
    const db = await tempPostgres()
    cleanups.push(() => db.drop())
    const target = new URL(db.databaseUrl!)
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    cleanups.push(() => proxy.close())
    const viaProxy = new URL(db.databaseUrl!)
    viaProxy.hostname = '127.0.0.1'
    viaProxy.port = String(proxy.port)
    const redis = await startRedisProcess()
    const livedesk = await startTestLivedesk({ databaseUrl: viaProxy.toString(), redisUrl: redis.url, redisPrefix: `ready-${proxy.port}` })

    expect(await ready(livedesk.url)).toEqual({ status: 200, body: { status: 'ready' } })
    // Liveness is not readiness: /health stays 200 throughout.
    await proxy.cut()
    await waitUntil(async () => (await ready(livedesk.url)).status === 503, 10_000, '/ready 503 with PostgreSQL cut off')
    const down = await ready(livedesk.url)
    expect(down.body.status).toBe('not ready')
    expect(Object.keys(down.body.failed!)).toEqual(['database'])
    expect((await fetch(`${livedesk.url}/health`)).status).toBe(200)

    await proxy.restore()
    await waitUntil(async () => (await ready(livedesk.url)).status === 200, 15_000, '/ready 200 with PostgreSQL back')

    await redis.kill()
    await waitUntil(async () => (await ready(livedesk.url)).status === 503, 10_000, '/ready 503 with Redis down')
    const noRedis = await ready(livedesk.url)
    expect(Object.keys(noRedis.body.failed!)).toEqual(['redis'])
    expect((await fetch(`${livedesk.url}/health`)).status).toBe(200)

    await redis.start()
    await waitUntil(async () => (await ready(livedesk.url)).status === 200, 15_000, '/ready 200 with Redis back')
  }, 60_000)
})

describe('/ready during the SIGTERM drain', () => {
  it('answers 503 draining for DRAIN_DELAY while sockets stay open, then clients get 3001 and the process exits 0', async () => {
    const main = ensureBuilt()
    const port = await freePort()
    const dataDir = mkdtempSync(join(tmpdir(), 'livedesk-drain-'))
    const secret = 'drain-secret'
    const child = spawn(process.execPath, [main], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, API_KEY: 'drain-key', LOG_LEVEL: 'warn', GATEWAY_HMAC_SECRET: secret, REDIS_URL: '', DATABASE_URL: '', DRAIN_DELAY: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    const url = `http://127.0.0.1:${port}`
    try {
      await waitUntil(async () => {
        if (child.exitCode !== null) throw new Error(`server exited early: ${output}`)
        return (await ready(url)).status === 200
      }, 60_000, '/ready 200')
      const token = await new SignJWT({ sub: 'drained' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(secret))
      const sdk = newSdk(`ws://127.0.0.1:${port}/connection/websocket`, { token })
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      await connected
      let cutAt = 0
      const cut = nextEvent(sdk, 'connecting', (c) => c.code !== 0, 15_000).then((c) => ((cutAt = Date.now()), c))

      const signalled = Date.now()
      child.kill('SIGTERM')
      await waitUntil(async () => (await ready(url)).status === 503, 5_000, '/ready 503 after SIGTERM')
      const draining = await ready(url)
      expect(draining.body).toEqual({ status: 'not ready', failed: { node: 'draining' } })
      // Still serving during the drain: the socket is open and /health answers.
      expect(cutAt).toBe(0)
      expect(sdk.state).toBe('connected')
      expect((await fetch(`${url}/health`)).status).toBe(200)

      expect(await cut).toMatchObject({ code: 3001, reason: 'shutdown' })
      expect(cutAt - signalled).toBeGreaterThanOrEqual(2_000)
      expect(await exited, output).toBe(0)
      sdk.disconnect()
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 240_000)
})
