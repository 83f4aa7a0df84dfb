/**
 * livedesk started from the SDK CI's own Centrifugo v6 configuration (upstream/centrifugo_test.json), read by the
 * translator `npm start -- --config centrifugo.json` uses (src/config/centrifugo.ts). Only what a test run must
 * change is overridden here; the keys livedesk ignores are the translator's warnings (`SDK_SUITE_WARNINGS=1` prints them).
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { fromCentrifugo } from '../../src/config/centrifugo.js'
import type { LivedeskOptions } from '../../src/main.js'

export const CENTRIFUGO_TEST_JSON = fileURLToPath(new URL('./upstream/centrifugo_test.json', import.meta.url))

export function centrifugoTestOptions(dataDir: string): LivedeskOptions {
  const { options, warnings } = fromCentrifugo(JSON.parse(readFileSync(CENTRIFUGO_TEST_JSON, 'utf8')))
  if (process.env.SDK_SUITE_WARNINGS) for (const w of warnings) console.warn(`centrifugo_test.json: ${w}`)
  return {
    ...options,
    // A free loopback port (the shims send upstream's localhost:8000 there) and a temporary data directory.
    port: 0,
    host: '127.0.0.1',
    dataDir,
    // The file's `log.level: trace` would bury the test output.
    logLevel: process.env.LOG_LEVEL ?? 'silent',
    // Gateway only, as the CI's Centrifugo: no operator-chat domain, no database.
    hooks: {},
    // The CI's Centrifugo runs in Docker and reaches the tests' mock backends (shared poll refresh) on the host.
    proxy: options.proxy && {
      ...options.proxy,
      named: Object.fromEntries(Object.entries(options.proxy.named ?? {}).map(([name, p]) => [name, { ...p, endpoint: p.endpoint.replace('//host.docker.internal:', '//127.0.0.1:') }])),
    },
  }
}
