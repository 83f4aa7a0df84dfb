import { configDefaults, defineConfig } from 'vitest/config'

/**
 * Gateway test files the per-transport projects leave out: raw WebSocket frames or whole-server restarts (each
 * marked describeWebSocketOnly), and transport-gaps and delta, which pick their transports themselves.
 */
const NOT_PER_TRANSPORT_GATEWAY_FILES = ['bad-input', 'delta', 'fan-out', 'shutdown', 'slow-consumer', 'transport-gaps'].map((name) => `test/gateway/${name}.test.ts`)

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'livedesk', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/sdk-suite/**'] } },
      // centrifuge-js's own integration tests against livedesk (test/sdk-suite/README.md).
      'test/sdk-suite/vitest.config.ts',
      // The gateway's suite again over each other transport (test/helpers/transports.ts); `livedesk` runs it over
      // WebSocket + JSON.
      ...(['websocket-protobuf', 'http_stream', 'sse'] as const).map((transport) => ({
        extends: true as const,
        test: {
          name: `gateway:${transport}`,
          include: ['test/gateway/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...NOT_PER_TRANSPORT_GATEWAY_FILES],
          env: { GATEWAY_TRANSPORT: transport },
        },
      })),
    ],
  },
})
