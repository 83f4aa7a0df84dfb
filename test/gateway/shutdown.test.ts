import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { it } from 'vitest'
import { ensureBuilt, ROOT } from '../helpers/built.js'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { collect, newSdk, nextEvent, until } from '../helpers/sdk.js'
import { describeWebSocketOnly } from '../helpers/transports.js'
import { dataAuth } from './raw.js'


// Concurrent: the in-process restart and the child process are independent and each mostly waits.
describeWebSocketOnly('graceful shutdown', 'restarts servers and spawns a built one', () => {
  it('closes SDK clients with 3001 (they reconnect, not disconnect) within 5 s; a new server on the same port takes them back', async ({ expect }) => {
    const first = await startTestLivedesk({ hooks: dataAuth })
    const sdks = Array.from({ length: 3 }, (_, i) => newSdk(first.wsUrl, { data: { user: `u${i}`, channels: [`home:u${i}`] } }))
    const connecting = sdks.map((s) => collect(s, 'connecting'))
    const disconnected = sdks.map((s) => collect(s, 'disconnected'))
    await Promise.all(sdks.map((s) => { const c = nextEvent(s, 'connected'); s.connect(); return c }))

    const before = nextEvent(sdks[1], 'publication')
    await first.node.publish('home:u1', { before: 'shutdown' })
    await before
    const cut = sdks.map((s) => nextEvent(s, 'connecting', (c) => c.code !== 0))
    const started = Date.now()
    await first.close()
    expect(Date.now() - started).toBeLessThan(5_000)
    for (const ctx of await Promise.all(cut)) expect(ctx).toMatchObject({ code: 3001, reason: 'shutdown' })
    expect(disconnected.flat()).toEqual([])
    expect((await fetch(`${first.url}/health`).catch(() => null))?.status ?? 'refused').toBe('refused')

    const back = sdks.map((s) => nextEvent(s, 'connected', () => true, 15_000))
    // The memory broker's streams died with the first server: a new epoch, so no false claim of recovery.
    const resubscribed = nextEvent(sdks[1], 'subscribed', (c) => c.channel === 'home:u1' && c.wasRecovering, 15_000)
    const second = await startTestLivedesk({ hooks: dataAuth, port: first.port })
    expect(second.port).toBe(first.port)
    await Promise.all(back)
    expect(await resubscribed).toMatchObject({ recovered: false })
    const pub = nextEvent(sdks[1], 'publication')
    await second.node.publish('home:u1', { after: 'restart' })
    expect((await pub).data).toEqual({ after: 'restart' })
    for (const c of connecting) expect(c.filter((e) => e.code === 3001)).toHaveLength(1)
    expect(disconnected.flat()).toEqual([])
    for (const s of sdks) s.disconnect()
  }, 30_000)

  it('starts from dist/main.js, answers /health, and exits 0 within 5 s of SIGTERM, closing clients with 3001', async ({ expect }) => {
    ensureBuilt()
    const port = await freePort()
    const dataDir = mkdtempSync(join(tmpdir(), 'livedesk-proc-'))
    const secret = 'proc-secret'
    const child = spawn(process.execPath, [join(ROOT, 'dist/main.js')], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, API_KEY: 'proc-key', LOG_LEVEL: 'warn', GATEWAY_HMAC_SECRET: secret, REDIS_URL: '', DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })))
    try {
      await until(async () => {
        if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}): ${output}`)
        const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null)
        return res?.status === 200
      }, 30_000, 'GET /health 200')

      const token = await new SignJWT({ sub: 'proc-user', channels: ['home:proc'] })
        .setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(secret))
      const sdk = newSdk(`ws://127.0.0.1:${port}/connection/websocket`, { token })
      const connected = nextEvent(sdk, 'connected')
      sdk.connect()
      await connected
      const cut = nextEvent(sdk, 'connecting', (c) => c.code !== 0)

      const started = Date.now()
      child.kill('SIGTERM')
      const exit = await exited
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(exit, output).toEqual({ code: 0, signal: null })
      expect(await cut).toMatchObject({ code: 3001, reason: 'shutdown' })
      sdk.disconnect()
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 90_000)
}, { concurrent: true })

/** A port that was free a moment ago (PORT=0 would not tell us which one the server took). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}
