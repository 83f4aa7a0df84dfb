/**
 * Real processes for tests that kill, stop and restart things: livedesk nodes (`node dist/main.js`, built by
 * `npm test`) and Redis servers of the test's own, all on loopback. Everything started is stopped after the file.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll } from 'vitest'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const cleanups: Array<() => Promise<void> | void> = []

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => {})
})

/** A free TCP port on loopback (free when asked; the caller binds it right after). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolvePort(port))
    })
  })
}

/** Polls `check` every 50 ms until it holds; rejects after `timeoutMs` with `what`. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await Promise.resolve(check()).catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((r) => child.once('exit', () => r()))
}

export interface NodeProcess {
  name: string
  port: number
  url: string
  wsUrl: string
  apiKey: string
  child: ChildProcess
  /** Output so far (stdout and stderr), for failure messages. */
  output(): string
  /** SIGKILL: no shutdown, no flush, as a crash. */
  kill(): Promise<void>
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>
}

/** Starts `node dist/main.js` with `env` on a free port and waits for /health. */
export async function startNodeProcess(name: string, env: Record<string, string>, opts: { port?: number } = {}): Promise<NodeProcess> {
  const port = opts.port ?? (await freePort())
  const dataDir = mkdtempSync(join(tmpdir(), `livedesk-proc-${name}-`))
  const apiKey = env.API_KEY ?? 'test-api-key'
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(port), HOST: '127.0.0.1', NODE_ID: name, API_KEY: apiKey, DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d) => (output = (output + d).slice(-20_000)))
  child.stderr!.on('data', (d) => (output = (output + d).slice(-20_000)))
  const url = `http://127.0.0.1:${port}`
  const node: NodeProcess = {
    name,
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}/centrifugo/connection/websocket`,
    apiKey,
    child,
    output: () => output,
    async kill() {
      child.kill('SIGKILL')
      await exited(child)
    },
    async stop() {
      child.kill('SIGTERM')
      await exited(child)
    },
  }
  cleanups.push(async () => {
    child.kill('SIGKILL')
    await exited(child)
    rmSync(dataDir, { recursive: true, force: true })
  })
  try {
    await waitUntil(async () => {
      if (child.exitCode !== null) throw new Error(`node ${name} exited with ${child.exitCode}: ${output}`)
      return (await fetch(`${url}/health`)).ok
    }, 20_000, `node ${name} to answer /health`)
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${output}`)
  }
  return node
}

export interface RedisProcess {
  port: number
  url: string
  /** Starts it (again) on the same port and directory. */
  start(): Promise<void>
  /** SIGKILL: what an append-only file holds survives, nothing else. */
  kill(): Promise<void>
  /** SIGSTOP: its connections stay open and nothing is answered, as a hung server or a silent network looks. */
  freeze(): void
  /** SIGCONT after `freeze`. */
  thaw(): void
}

/** A redis-server of the test's own on a free port; `appendonly` keeps its data across restarts. */
export async function startRedisProcess(opts: { appendonly?: boolean; port?: number; args?: string[] } = {}): Promise<RedisProcess> {
  const port = opts.port ?? (await freePort())
  const dir = mkdtempSync(join(tmpdir(), 'livedesk-redis-'))
  let child: ChildProcess | undefined
  const url = `redis://127.0.0.1:${port}`
  const ping = async () => {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    r.on('error', () => {})
    try {
      await r.connect()
      return (await r.ping()) === 'PONG'
    } finally {
      r.disconnect()
    }
  }
  const proc: RedisProcess = {
    port,
    url,
    async start() {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--appendonly', opts.appendonly ? 'yes' : 'no']
      if (opts.appendonly) args.push('--appendfsync', 'always')
      child = spawn('redis-server', [...args, ...(opts.args ?? [])], { stdio: 'ignore' })
      await waitUntil(ping, 10_000, `redis-server on ${port}`)
    },
    async kill() {
      if (!child) return
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await exited(child)
      child = undefined
    },
    freeze() {
      child?.kill('SIGSTOP')
    },
    thaw() {
      child?.kill('SIGCONT')
    },
  }
  cleanups.push(async () => {
    await proc.kill()
    rmSync(dir, { recursive: true, force: true })
  })
  await proc.start()
  return proc
}
