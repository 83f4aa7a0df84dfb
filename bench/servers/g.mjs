/**
 * G, livedesk itself from dist/: the real gateway, Centrifugo JWT connects, in-process `node.publish`.
 * With `databaseUrl` the store is PostgreSQL, else PGlite in a temporary data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export async function start({ host, hmacSecret, apiKey, databaseUrl, redisUrl, realtime = {} }) {
  const { startLivedesk } = await import('../../dist/main.js')
  const dataDir = mkdtempSync(join(tmpdir(), 'livedesk-bench-'))
  const livedesk = await startLivedesk({
    port: 0,
    host,
    apiKey,
    dataDir,
    databaseUrl,
    redisUrl,
    logLevel: 'silent',
    // The load generator is one address opening thousands of sockets: the per-IP limits would refuse it.
    realtime: { connectionsPerIp: 0, connectsPerIp: { points: 0, windowMs: 1_000 }, ...realtime, hmacSecret },
  })
  return {
    port: livedesk.port,
    path: '/connection/websocket',
    apiKey: livedesk.apiKey,
    connections: () => livedesk.node.hub.clients.size,
    stats: () => ({ ...livedesk.node.stats }),
    publish: (channel, data) => livedesk.node.publish(channel, data),
    async close() {
      await livedesk.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
