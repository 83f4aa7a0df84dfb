import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { configSchemaJson, loadConfig } from '../../src/config/index.js'
import { ensureBuilt, ROOT } from '../helpers/built.js'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { newSdk, nextEvent } from '../helpers/sdk.js'

const dir = mkdtempSync(join(tmpdir(), 'livedesk-config-'))
let files = 0
/** Writes `content` (an object as JSON, or text as is) to a new file and returns its path. */
function configFile(content: unknown): string {
  const path = join(dir, `livedesk-${++files}.json`)
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
  return path
}
const load = (content: unknown, env: NodeJS.ProcessEnv = {}) => {
  const path = configFile(content)
  return { path, options: () => loadConfig(env, ['--config', path]) }
}

describe('configuration file: each kind of error names the file and the key', () => {
  it('an unknown key, at the top and nested', () => {
    const top = load({ port: 8001, prot: 8002 })
    expect(top.options).toThrow(`${top.path}: unknown key "prot"`)
    const nested = load({ realtime: { pingIntervalMs: 1000, pingIntervl: 5 } })
    expect(nested.options).toThrow(`${nested.path}: unknown key "realtime.pingIntervl"`)
  })

  it('a value of the wrong type', () => {
    const port = load({ port: '8000' })
    expect(port.options).toThrow(`${port.path}: port: must be integer`)
    const flag = load({ realtime: { insecure: 'yes' } })
    expect(flag.options).toThrow(`${flag.path}: realtime.insecure: must be boolean`)
    const level = load({ logLevel: 'loud' })
    expect(level.options).toThrow(`${level.path}: logLevel:`)
  })

  it('a bad namespace option: unknown, negative, misnamed namespace, history without a lifetime', () => {
    const unknown = load({ realtime: { namespaces: { chat: { histrySize: 10 } } } })
    expect(unknown.options).toThrow(`${unknown.path}: unknown key "realtime.namespaces.chat.histrySize"`)
    const negative = load({ realtime: { namespaces: { chat: { historySize: -1 } } } })
    expect(negative.options).toThrow(`${negative.path}: realtime.namespaces.chat.historySize: must be >= 0`)
    const type = load({ realtime: { namespaces: { chat: { presence: 1 } } } })
    expect(type.options).toThrow(`${type.path}: realtime.namespaces.chat.presence: must be boolean`)
    const name = load({ realtime: { namespaces: { 'chat:room': { presence: true } } } })
    expect(name.options).toThrow(`${name.path}: realtime.namespaces.chat:room: "chat:room" is not a namespace name`)
    const ttl = load({ realtime: { namespaces: { chat: { historySize: 10, historyTtlMs: 0 } } } })
    expect(ttl.options).toThrow(`${ttl.path}: realtime.namespaces.chat.historyTtlMs: must be > 0 when historySize is 10`)
  })

  it('a file that is not JSON, or missing', () => {
    const broken = load('{ "port": 8000,')
    expect(broken.options).toThrow(`${broken.path}: not valid JSON`)
    expect(() => loadConfig({}, ['--config', join(dir, 'absent.json')])).toThrow(`${join(dir, 'absent.json')}: cannot read`)
    expect(() => loadConfig({}, ['--config'])).toThrow('--config needs a file')
  })
})

describe('configuration file: layers', () => {
  it('environment variables override the file key by key; the file overrides the defaults', () => {
    const { options } = load({
      $schema: './docs/config.schema.json',
      port: 9000,
      host: '127.0.0.1',
      realtime: { pingIntervalMs: 7000, defaultNamespace: { historySize: 50, presence: false }, namespaces: { chat: { joinLeave: true } } },
      domain: { typingTtlMs: 1234, defaultMaxChats: 3 },
    }, { PORT: '9100', HISTORY_SIZE: '20', TYPING_TTL: '2', LIVEDESK_CONFIG: '/ignored/when/--config/is/given.json' })
    const o = options()
    expect(o.port).toBe(9100)
    expect(o.host).toBe('127.0.0.1')
    expect(o.dataDir).toBe('./data')
    expect(o.realtime).toMatchObject({ pingIntervalMs: 7000, defaultNamespace: { historySize: 20, presence: false }, namespaces: { chat: { joinLeave: true } } })
    expect(o.domain).toEqual({ typingTtlMs: 2000, defaultMaxChats: 3 })
    expect(o).not.toHaveProperty('$schema')
  })

  it('docs/livedesk.example.json is a valid configuration', () => {
    const options = loadConfig({}, ['--config', join(ROOT, 'docs/livedesk.example.json')])
    expect(options.realtime?.namespaces?.news).toMatchObject({ historySize: 50, allowSubscribe: true })
  })

  it('LIVEDESK_CONFIG names the file when --config is absent', () => {
    const path = configFile({ port: 9200 })
    expect(loadConfig({ LIVEDESK_CONFIG: path }, []).port).toBe(9200)
  })

  it('docs/config.schema.json is the schema the server checks and serves', async () => {
    expect(readFileSync(join(ROOT, 'docs/config.schema.json'), 'utf8')).toBe(configSchemaJson())
    const livedesk = await startTestLivedesk({ hooks: {} })
    const res = await fetch(`${livedesk.url}/config.schema.json`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('application/schema+json')
    expect(await res.json()).toEqual(JSON.parse(configSchemaJson()))
  })
})

describe('npm start -- --print-config', () => {
  it('prints the effective configuration with secrets masked and exits; a bad file stops the start naming the key', () => {
    const main = ensureBuilt()
    const path = configFile({
      apiKey: 'file-api-key', databaseUrl: 'postgres://livedesk:db-password@db.internal:5432/livedesk',
      realtime: { hmacSecret: 'file-hmac', namespaces: { news: { historySize: 5, presence: true } } },
    })
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [main, ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH, ...env } })
    const printed = run(['--config', path, '--print-config'], { METRICS_TOKEN: 'env-metrics-token', PORT: '8123', REDIS_URL: 'redis://:redis-password@127.0.0.1:6379' })
    expect(printed.status, printed.stderr).toBe(0)
    const config = JSON.parse(printed.stdout)
    expect(config).toMatchObject({
      port: 8123, apiKey: '********', metricsToken: '********',
      databaseUrl: 'postgres://livedesk:********@db.internal:5432/livedesk', redisUrl: 'redis://:********@127.0.0.1:6379',
      domain: { typingTtlMs: 5000 },
      httpTimeouts: { headersTimeoutMs: expect.any(Number) },
      realtime: { hmacSecret: '********', pingIntervalMs: 25_000, defaultNamespace: { historySize: 1000, presence: true }, namespaces: { news: { historySize: 5, presence: true } } },
    })
    for (const secret of ['file-api-key', 'db-password', 'file-hmac', 'env-metrics-token', 'redis-password']) expect(printed.stdout).not.toContain(secret)

    const bad = run(['--config', configFile({ realtime: { namespaces: { news: { historySize: 'many' } } } })])
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain('realtime.namespaces.news.historySize: must be integer')
    const badEnv = run(['--print-config'], { PORT: 'eighty' })
    expect(badEnv.status).toBe(1)
    expect(badEnv.stderr).toContain('PORT must be a non-negative number, got "eighty"')
  }, 240_000)
})

describe('a namespace in the file changes what the SDK sees', () => {
  it('history size and presence per namespace; a channel outside the listed namespaces is refused', async () => {
    const secret = 'config-test-secret'
    const path = configFile({
      realtime: {
        hmacSecret: secret,
        namespaces: {
          news: { historySize: 3, historyTtlMs: 60_000, presence: true, allowSubscribe: true, allowHistory: true, allowPresence: true },
          quiet: { historySize: 0, presence: false, allowSubscribe: true, allowHistory: true, allowPresence: true },
        },
      },
    })
    const options = loadConfig({}, ['--config', path])
    const livedesk = await startTestLivedesk({ ...options, port: 0, dataDir: undefined, logLevel: 'silent' })
    const token = await new SignJWT({ sub: 'reader' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(secret))
    const sdk = newSdk(livedesk.wsUrl, { token })
    const connected = nextEvent(sdk, 'connected')
    sdk.connect()
    await connected
    try {
      const news = sdk.newSubscription('news:today')
      const quiet = sdk.newSubscription('quiet:today')
      const other = sdk.newSubscription('other:today')
      const subscribed = Promise.all([nextEvent(news, 'subscribed'), nextEvent(quiet, 'subscribed')])
      const refused = nextEvent(other, 'unsubscribed')
      news.subscribe(); quiet.subscribe(); other.subscribe()
      await subscribed
      expect(await refused).toMatchObject({ code: 103 })

      for (let i = 1; i <= 5; i++) await livedesk.node.publish('news:today', { i })
      await livedesk.node.publish('quiet:today', { i: 1 })
      const history = await news.history({ limit: 10 })
      expect(history.publications.map((p) => p.data)).toEqual([{ i: 3 }, { i: 4 }, { i: 5 }])
      expect(Object.values((await news.presence()).clients).map((c) => c.user)).toEqual(['reader'])

      await expect(quiet.history({ limit: 10 })).rejects.toMatchObject({ code: 108 })
      await expect(quiet.presence()).rejects.toMatchObject({ code: 108 })
    } finally {
      sdk.disconnect()
    }
  })
})
