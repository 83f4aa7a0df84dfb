/**
 * One livedesk node of `npm run bench:domain`, started from a built dist/ (`startLivedesk`), driven over IPC by
 * bench/domain.mjs. argv[2] is JSON: { dist, port, apiKey, dataDir, databaseUrl?, redisUrl?, redisPrefix?, nodeId, pgliteDurability? }.
 * Replies `ready { port }`; on `close` shuts down and exits.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { watchStalls } from '../lib/stalls.mjs'

const options = JSON.parse(process.argv[2])
const send = (msg) => process.send?.(msg)
let livedesk

process.on('message', async (msg) => {
  if (msg.type !== 'close') return
  await Promise.race([livedesk?.close(), new Promise((resolve) => setTimeout(resolve, 3_000))]).catch(() => {})
  process.exit(0)
})
process.on('disconnect', () => process.exit(0))

watchStalls(options.nodeId)

try {
  const { startLivedesk } = await import(pathToFileURL(join(options.dist, 'main.js')).href)
  livedesk = await startLivedesk({
    port: options.port ?? 0,
    host: '127.0.0.1',
    apiKey: options.apiKey,
    dataDir: options.dataDir,
    databaseUrl: options.databaseUrl,
    redisUrl: options.redisUrl,
    redisPrefix: options.redisPrefix,
    logLevel: 'silent',
    // The pool size as a deployment sets it (DATABASE_POOL_SIZE), else livedesk's default.
    databasePoolSize: process.env.DATABASE_POOL_SIZE ? Number(process.env.DATABASE_POOL_SIZE) : undefined,
    pgliteDurability: options.pgliteDurability,
    // PGlite's vacuums and analyses as a deployment sets them (PGLITE_MAINTENANCE_INTERVAL, seconds), else the default.
    pgliteMaintenanceIntervalMs: process.env.PGLITE_MAINTENANCE_INTERVAL ? Number(process.env.PGLITE_MAINTENANCE_INTERVAL) * 1000 : undefined,
    realtime: { nodeId: options.nodeId },
    // A few hundred clients carry thousands of messages/s: the per-client limit counts them (its cost is measured)
    // but never refuses.
    clientMessages: { points: 1e9, windowMs: 60_000 },
  })
  send({ type: 'ready', port: livedesk.port })
} catch (err) {
  send({ type: 'error', message: `starting livedesk node ${options.nodeId}: ${err?.stack ?? err}` })
  process.exit(1)
}
