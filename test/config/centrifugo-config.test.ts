import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportSPKI, generateKeyPair } from 'jose'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/index.js'
import { fromCentrifugo, isCentrifugoConfig, parseGoDuration } from '../../src/config/centrifugo.js'
import { realtimeConfigOf } from '../../src/config/index.js'
import { withDomainNamespaces } from '../../src/config/standalone.js'

const dir = mkdtempSync(join(tmpdir(), 'livedesk-centrifugo-config-'))
let files = 0
/** Loads a Centrifugo file through `--config`, as `npm start -- --config centrifugo.json` does. */
function load(content: unknown, env: NodeJS.ProcessEnv = {}) {
  const path = join(dir, `centrifugo-${++files}.json`)
  writeFileSync(path, JSON.stringify(content))
  return { path, options: () => loadConfig(env, ['--config', path]) }
}

/** The ConfigError a file gives, for its key and message. */
function errorOf(content: unknown): ConfigError {
  const { options } = load(content)
  try {
    options()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

const UPSTREAM = JSON.parse(readFileSync(new URL('../sdk-suite/upstream/centrifugo_test.json', import.meta.url), 'utf8'))

describe('a Centrifugo v6 configuration file as livedesk configuration', () => {
  it('is told from a livedesk file by its sections', () => {
    expect(isCentrifugoConfig(UPSTREAM)).toBe(true)
    expect(isCentrifugoConfig({ client: { insecure: true } })).toBe(true)
    expect(isCentrifugoConfig({ port: 8000, realtime: { insecure: true } })).toBe(false)
    // One file is one or the other: a livedesk key among Centrifugo's sections is named.
    const mixed = errorOf({ client: { insecure: true }, port: 8000 })
    expect(mixed.key).toBe('port')
    expect(mixed.message).toContain('"port" is a livedesk key in a Centrifugo configuration')
  })

  it('the SDK CI file (upstream/centrifugo_test.json): every key it uses maps, the rest are warnings naming them', () => {
    const { options, warnings } = fromCentrifugo(UPSTREAM)
    expect(options.apiKey).toBe('test-api-key')
    expect(options.logLevel).toBe('trace')
    expect(options.realtime).toMatchObject({ insecure: true, hmacSecret: 'secret' })
    expect(options.realtime!.defaultNamespace).toMatchObject({
      presence: true, historySize: 100, historyTtlMs: 300_000, forceRecovery: true, allowedDeltaTypes: ['fossil'], deltaPublish: true,
      // Centrifugo's defaults, not livedesk's: nothing allowed, nothing forced.
      allowSubscribe: false, allowPublish: false, forcePositioning: false, allowRecovery: false, forcePushJoinLeave: false,
    })
    const ns = options.realtime!.namespaces!
    expect(Object.keys(ns)).toEqual(UPSTREAM.channel.namespaces.map((n: { name: string }) => n.name))
    expect(ns.recovery).toMatchObject({ historySize: 100, historyTtlMs: 300_000, forceRecovery: true, allowSubscribe: true, allowPublish: false, allowPublishForSubscriber: true })
    expect(ns.smallhistory).toMatchObject({ historySize: 2 })
    expect(ns.streamless).toMatchObject({ subscriptionType: 'map', allowSubscribe: true, map: { mode: 'ephemeral', keyTtlMs: 60_000, allowPublishForClient: true, allowRemoveForClient: true } })
    expect(ns.smallstream!.map).toEqual({ mode: 'persistent', streamSize: 2, streamTtlMs: 60_000, allowPublishForClient: true, allowRemoveForClient: true })
    expect(ns.clientkey!.map).toMatchObject({ clientKey: 'client_id', allowPublishForSubscriber: true })
    expect(ns.prestest).toMatchObject({ mapClientsPresenceChannelPrefix: 'prescli:' })
    expect(ns.prescli).toMatchObject({ subscriptionType: 'map_clients' })
    expect(ns.debounced).toMatchObject({ clientPublishDebounceIntervalMs: 50 })
    expect(ns.tagged).toMatchObject({ allowTagsFilter: true })
    expect(ns.mapdelta).toMatchObject({ allowedDeltaTypes: ['fossil'], deltaPublish: true })
    expect(ns.poll).toMatchObject({ subscriptionType: 'shared_poll', sharedPoll: { proxyName: 'poll_backend', mode: 'versioned', refreshIntervalMs: 200, refreshBatchSize: 100, maxKeysPerConnection: 100 } })
    expect(options.realtime!.channelRules).toEqual({ namespaceBoundary: ':', userBoundary: '#', userSeparator: ',', privatePrefix: '$', maxLength: 255, refuseUnknownNamespaces: true })
    expect(options.realtime!.sharedPollHmacSecret).toBe('test-poll-secret')
    expect(warnings).toEqual(expect.arrayContaining([
      expect.stringMatching(/^client\.concurrency: /),
    ]))
    expect(warnings.join('\n')).not.toMatch(/^shared_poll\./m)
    // Keys that do map are not warned about.
    expect(warnings.join('\n')).not.toMatch(/client\.insecure|hmac_secret_key: .*HS256|http_api\.key|history_size|allow_subscribe_for_client|http_stream|sse\.enabled/)
  })

  it('maps every client, channel, server API, transport, log and engine key it names', () => {
    const { options, warnings } = fromCentrifugo({
      client: {
        allowed_origins: ['https://app.example'], channel_limit: 12, user_connection_limit: 3, connection_limit: 500,
        history_max_publication_limit: 50, recovery_max_publication_limit: 40, expired_close_delay: '10s', stale_close_delay: '3s',
        ping_interval: '20s', pong_timeout: '5s', queue_max_size: 2048, disallow_anonymous_connection_tokens: true, allow_anonymous_connect_without_token: true,
        token: { hmac_secret_key: 'k' },
      },
      http_api: { key: 'api' },
      channel: { namespace_boundary: '/', user_boundary: '@', user_separator: ';', private_prefix: '!', max_length: 64, history_meta_ttl: '2h', namespaces: [] },
      websocket: { message_size_limit: 1000 },
      log: { level: 'none' },
      node: { name: 'n1' },
      http_server: { port: 9001, address: '127.0.0.1' },
      engine: { type: 'redis', redis: { address: ['10.0.0.1:6379', '10.0.0.2:6379'], prefix: 'cf', password: 'pw', db: 2 } },
    })
    expect(warnings).toEqual([])
    expect(options).toMatchObject({
      apiKey: 'api', logLevel: 'silent', port: 9001, host: '127.0.0.1', redisPrefix: 'cf',
      redisUrl: 'redis://:pw@10.0.0.1:6379/2,redis://:pw@10.0.0.2:6379/2',
    })
    expect(options.realtime).toMatchObject({
      allowedOrigins: ['https://app.example'], maxSubscriptions: 12, connectionsPerUser: 3, maxConnections: 500,
      clientHistoryMaxPublications: 50, recoveryMaxPublications: 40, expiredCloseDelayMs: 10_000, staleCloseDelayMs: 3_000,
      pingIntervalMs: 20_000, pongTimeoutMs: 5_000, maxQueueBytes: 2048, disallowAnonymousConnectionTokens: true, allowAnonymousConnectWithoutToken: true,
      hmacSecret: 'k', historyMetaTtlMs: 7_200_000, maxFrameBytes: 1000, nodeId: 'n1',
      channelRules: { namespaceBoundary: '/', userBoundary: '@', userSeparator: ';', privatePrefix: '!', maxLength: 64 },
    })
  })

  it('maps every namespace option', () => {
    const { options } = fromCentrifugo({
      channel: {
        namespaces: [{
          name: 'room', presence: true, join_leave: true, force_push_join_leave: true, history_size: 10, history_ttl: '1m',
          history_meta_ttl: '1h', force_positioning: true, allow_positioning: true, force_recovery: true, allow_recovery: true,
          force_recovery_mode: 'cache', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true,
          allow_publish_for_subscriber: true, allow_publish_for_client: true, allow_publish_for_anonymous: true,
          allow_history_for_subscriber: true, allow_history_for_client: true, allow_history_for_anonymous: true,
          allow_presence_for_subscriber: true, allow_presence_for_client: true, allow_presence_for_anonymous: true,
          allow_user_limited_channels: true, channel_regex: '^[a-z]+$', allow_tags_filter: true,
        }],
      },
    })
    expect(options.realtime!.namespaces!.room).toMatchObject({
      presence: true, joinLeave: true, forcePushJoinLeave: true, historySize: 10, historyTtlMs: 60_000, historyMetaTtlMs: 3_600_000,
      forcePositioning: true, allowPositioning: true, forceRecovery: true, allowRecovery: true, recoveryMode: 'cache',
      allowSubscribe: true, allowSubscribeForAnonymous: true, allowPublishForSubscriber: true, allowPublish: true, allowPublishForAnonymous: true,
      allowHistoryForSubscriber: true, allowHistory: true, allowHistoryForAnonymous: true, allowPresenceForSubscriber: true,
      allowPresence: true, allowPresenceForAnonymous: true, allowUserLimitedChannels: true, channelRegex: '^[a-z]+$', allowTagsFilter: true,
    })
  })

  it('reads Go durations', () => {
    const cases: Array<[string, number | undefined]> = [
      ['300s', 300_000], ['1h', 3_600_000], ['1h30m', 5_400_000], ['50ms', 50], ['1.5s', 1_500], ['0', 0], ['2m3s', 123_000],
      ['-1s', -1_000], ['300', undefined], ['5 minutes', undefined], ['', undefined], ['1d', undefined],
    ]
    for (const [text, ms] of cases) expect([text, parseGoDuration(text)]).toEqual([text, ms])
  })

  it('a wrong type, a bad value or a security key livedesk cannot honour stops the start, naming the key', () => {
    const cases: Array<[unknown, string, string]> = [
      [{ client: { channel_limit: 'many' } }, 'client.channel_limit', 'must be an integer'],
      [{ client: { insecure: 'yes' } }, 'client.insecure', 'must be true or false'],
      [{ client: { expired_close_delay: 25 } }, 'client.expired_close_delay', 'must be a duration such as "300s"'],
      [{ client: { token: { rsa_public_key: '-----BEGIN PUBLIC KEY-----' } } }, 'client.token.rsa_public_key', 'must be a PEM RSA public key'],
      [{ client: { token: { hmac_secret_key: 's', ecdsa_public_key: 'x' } } }, 'client.token.ecdsa_public_key', 'one key'],
      [{ client: { token: { jwks_public_endpoint: 'https://idp.example/jwks' } } }, 'client.token.jwks_public_endpoint', 'JWKS-verified tokens are not implemented'],
      [{ client: { token: { audience: 'app' } } }, 'client.token.audience', 'aud'],
      [{ client: { subscription_token: { enabled: true } } }, 'client.subscription_token.enabled', 'separate subscription token keys'],
      [{ channel: { namespaces: [{ name: 'a', history_size: 10 }] } }, 'channel.namespaces[0].name', 'must match'],
      [{ channel: { namespaces: [{ name: 'chat', history_size: 10 }] } }, 'channel.namespaces[0].history_ttl', 'must be set when history_size is 10'],
      [{ channel: { namespaces: [{ name: 'chat', history_ttl: '5 minutes' }] } }, 'channel.namespaces[0].history_ttl', 'must be a duration'],
      [{ channel: { namespaces: [{ name: 'chat' }, { name: 'chat' }] } }, 'channel.namespaces[1].name', 'listed twice'],
      [{ channel: { namespaces: [{ name: 'chat', channel_regex: '([a-z' }] } }, 'channel.namespaces[0].channel_regex', 'not a valid regular expression'],
      [{ channel: { without_namespace: { force_recovery_mode: 'snapshot' } } }, 'channel.without_namespace.force_recovery_mode', 'must be one of stream, cache'],
      [{ channel: { without_namespace: { allowed_delta_types: ['xdelta'] } } }, 'channel.without_namespace.allowed_delta_types', 'unknown delta type "xdelta"'],
      [{ channel: { without_namespace: { force_recovery: true } } }, 'channel.without_namespace.history_size', 'need history'],
      [{ channel: { namespaces: { chat: {} } } }, 'channel.namespaces', 'must be a list of objects'],
      [{ engine: { type: 'nats' } }, 'engine.type', 'not a livedesk broker'],
      [{ websocket: { disabled: true } }, 'websocket.disabled', 'livedesk always serves WebSocket'],
    ]
    for (const [config, key, message] of cases) {
      const err = errorOf(config)
      expect([key, err.key]).toEqual([key, key])
      expect(err.message).toContain(`${key}: `)
      expect(err.message).toContain(message)
    }
  })

  it('a key livedesk does not implement is a start-up warning naming it, with the file', () => {
    const { path, options } = load({
      client: { insecure: false, concurrency: 4, bogus: 1, token: { hmac_previous_secret_key: 'old' } },
      channel: { without_namespace: { auto_cache_recover: true, frobnicate: true }, namespaces: [{ name: 'chat', publication_data_format: 'json' }] },
      admin: { enabled: true },
      uni_websocket: { enabled: false },
    })
    const warnings = options().startupWarnings ?? []
    for (const key of ['client.concurrency', 'client.bogus', 'client.token.hmac_previous_secret_key', 'channel.without_namespace.auto_cache_recover',
      'channel.without_namespace.frobnicate', 'channel.namespaces[0].publication_data_format', 'admin', 'uni_websocket.enabled']) {
      expect(warnings.some((w) => w.startsWith(`${path}: ${key}: `))).toBe(true)
    }
    expect(warnings.every((w) => w.startsWith(`${path}: `))).toBe(true)
    expect(warnings).toHaveLength(8)
  })

  it("the operator-chat domain's namespaces stay its own: listed with livedesk's options, closed to clients, never the file's", () => {
    const { options } = fromCentrifugo({
      channel: { without_namespace: { allow_subscribe_for_client: true }, namespaces: [{ name: 'client', allow_subscribe_for_client: true, allow_publish_for_client: true }] },
    })
    const { realtime, replaced } = withDomainNamespaces(realtimeConfigOf(options))
    expect(replaced).toEqual(['client'])
    for (const name of ['operator', 'operators', 'client']) {
      expect(realtime.namespaces[name]).toMatchObject({ serverSideOnly: true, historySize: 1000, presence: true, forceRecovery: true, allowSubscribe: false, allowPublish: false })
      // What livedesk's namespace leaves out is unset, not the file's without_namespace.
      expect(realtime.namespaces[name]!.forcePositioning).toBeUndefined()
    }
    const slash = fromCentrifugo({ channel: { namespace_boundary: '/' } })
    expect(() => withDomainNamespaces(realtimeConfigOf(slash.options))).toThrow('channel.namespace_boundary: must be ":"')
  })

  it('the same settings from the environment: HISTORY_META_TTL, CLIENT_HISTORY_MAX_PUBLICATIONS, GATEWAY_ANONYMOUS_WITHOUT_TOKEN, GATEWAY_TOKEN_PUBLIC_KEY', async () => {
    const { publicKey } = await generateKeyPair('ES256')
    const pem = await exportSPKI(publicKey)
    const options = loadConfig({ HISTORY_META_TTL: '60', CLIENT_HISTORY_MAX_PUBLICATIONS: '50', GATEWAY_ANONYMOUS_WITHOUT_TOKEN: '1', GATEWAY_TOKEN_PUBLIC_KEY: pem }, [])
    expect(options.realtime).toMatchObject({ historyMetaTtlMs: 60_000, clientHistoryMaxPublications: 50, allowAnonymousConnectWithoutToken: true, tokenPublicKey: { pem, algorithm: 'ES256' } })
    expect(() => loadConfig({ GATEWAY_TOKEN_PUBLIC_KEY: 'not a key' }, [])).toThrow('GATEWAY_TOKEN_PUBLIC_KEY must be a PEM RSA or EC public key')
  })

  it('loads through --config and LIVEDESK_CONFIG, with the environment over the file', () => {
    const file = { client: { insecure: true, ping_interval: '20s' }, http_api: { key: 'from-file' }, http_server: { port: 9100 } }
    const { path, options } = load(file, { PORT: '9200', PING_INTERVAL: '7' })
    const loaded = options()
    expect(loaded).toMatchObject({ apiKey: 'from-file', port: 9200, realtime: { insecure: true, pingIntervalMs: 7_000 } })
    expect(loadConfig({ LIVEDESK_CONFIG: path }, [])).toMatchObject({ apiKey: 'from-file', port: 9100, realtime: { pingIntervalMs: 20_000 } })
  })
})
