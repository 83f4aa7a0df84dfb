/**
 * The server process of one contender, driven over IPC by bench/run.mjs. Messages in:
 * publish {rate, channels, payloadBytes} | stop-publish | mem | stats | heap-snapshot {path} | window-start | window-end | close.
 * Run with --expose-gc so `mem` measures RSS after collection.
 */
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'
import { writeHeapSnapshot } from 'node:v8'
import { startPublisher } from '../lib/publisher.mjs'

const options = JSON.parse(process.argv[2])
const CONTENDERS = { b1: './b1.mjs', b1c: './b1c.mjs', b2: './b2.mjs', g: './g.mjs' }

const send = (msg) => process.send?.(msg)
let server
let publisher
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
let gcMs = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration
}).observe({ entryTypes: ['gc'] })

async function collect() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.()
    await new Promise((resolve) => setImmediate(resolve))
  }
  const m = process.memoryUsage()
  return { rssKb: Math.round(m.rss / 1024), heapUsedKb: Math.round(m.heapUsed / 1024), externalKb: Math.round(m.external / 1024) }
}

async function handle(msg) {
  switch (msg.type) {
    case 'publish':
      publisher?.stop()
      publisher = startPublisher({ ...msg, publish: server.publish })
      return send({ type: 'publishing' })
    case 'stop-publish': {
      const result = publisher ? publisher.stop() : { published: 0, perChannel: {}, errors: 0 }
      publisher = undefined
      return send({ type: 'published', ...result })
    }
    case 'heap-snapshot':
      return send({ type: 'heap-snapshot', path: writeHeapSnapshot(msg.path) })
    case 'stats':
      return send({ type: 'stats', connections: server.connections(), stats: server.stats?.() })
    case 'mem':
      return send({ type: 'mem', ...(await collect()) })
    case 'window-start':
      loopDelay.reset()
      loopDelay.enable()
      gcMs = 0
      return send({ type: 'window-started' })
    case 'window-end': {
      loopDelay.disable()
      const m = process.memoryUsage()
      return send({
        type: 'window',
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        gcMs,
        rssKb: Math.round(m.rss / 1024),
        heapUsedKb: Math.round(m.heapUsed / 1024),
        connections: server.connections(),
        stats: server.stats?.(),
      })
    }
    case 'close':
      publisher?.stop()
      await Promise.race([server.close(), new Promise((resolve) => setTimeout(resolve, 3_000))])
      process.exit(0)
  }
}

process.on('message', (msg) => {
  handle(msg).catch((err) => send({ type: 'error', message: String(err?.stack ?? err) }))
})
process.on('disconnect', () => process.exit(0))

try {
  const mod = await import(CONTENDERS[options.contender])
  server = await mod.start(options)
  send({ type: 'ready', port: server.port, path: server.path, apiKey: server.apiKey })
} catch (err) {
  send({ type: 'error', message: `starting ${options.contender}: ${err?.stack ?? err}` })
  process.exit(1)
}
