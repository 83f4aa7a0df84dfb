/**
 * livedesk configured as the SDK's CI configures Centrifugo v6 (upstream/centrifugo_test.json), key by key.
 * What livedesk cannot express yet is named here and its tests are listed in expected.ts.
 */
import type { LivedeskOptions } from '../../src/main.js'
import { DEFAULT_NAMESPACE, type NamespaceOptions } from '../../src/realtime/config.js'

/** `history_size: 100, history_ttl: "300s", force_recovery: true` */
const STREAM = { historySize: 100, historyTtlMs: 300_000, forceRecovery: true }

/** `allow_subscribe_for_client: true, allow_publish_for_subscriber: true` (livedesk has no "for subscriber": publish for client). */
const CLIENT_SUBSCRIBE_AND_PUBLISH = { allowSubscribe: true, allowPublish: true }

export function centrifugoTestOptions(dataDir: string): LivedeskOptions {
  const withoutNamespace: NamespaceOptions = {
    ...DEFAULT_NAMESPACE,
    // channel.without_namespace: presence, history and recovery. `allowed_delta_types: ["fossil"]` and
    // `delta_publish`: no delta compression in livedesk yet.
    presence: true,
    ...STREAM,
  }
  return {
    port: 0,
    host: '127.0.0.1',
    dataDir,
    // http_api.key
    apiKey: 'test-api-key',
    logLevel: process.env.LOG_LEVEL ?? 'silent',
    // Gateway only (no operator-chat domain): no connect proxy, no RPC proxy (so rpc answers 108), no
    // subscribe or publish proxies, as in the CI's Centrifugo. The memory broker: the CI runs one node.
    hooks: {},
    realtime: {
      // client.insecure: connect without a token as anonymous; every channel operation allowed.
      insecure: true,
      // client.token.hmac_secret_key
      hmacSecret: 'secret',
      defaultNamespace: withoutNamespace,
      namespaces: {
        // `allowed_delta_types`, `delta_publish`: not served yet (delta tests are listed in expected.ts).
        delta: { ...STREAM, ...CLIENT_SUBSCRIBE_AND_PUBLISH },
        recovery: { ...STREAM, ...CLIENT_SUBSCRIBE_AND_PUBLISH },
        smallhistory: { ...STREAM, historySize: 2, ...CLIENT_SUBSCRIBE_AND_PUBLISH },
        // Not expressible: the `subscription_type: "map"` namespaces (streamless, positioned, smallstream,
        // mapdelta, shortttl, clientkey, prestest, debounced, tagged), `map_clients` (prescli), and
        // `shared_poll` (poll, pollvl, pollpb) with the `poll_backend` proxies and `shared_poll.hmac_secret_key`;
        // `map_broker`. Their channels get the options above, and map or shared poll subscribes are refused.
      },
    },
    // Not expressible yet: `http_stream.enabled`, `sse.enabled` (livedesk serves WebSocket only);
    // `client.concurrency` (livedesk handles a connection's commands in order); `log.level: trace` (LOG_LEVEL).
  }
}
