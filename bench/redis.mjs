/**
 * `npm run bench:redis -- --redis-url=redis://127.0.0.1:6379`: the Redis broker's own figures
 * (performance.md §9 goal 6), measured on livedesk's RedisBroker from dist/ in one process:
 * publishes per second with and without history (commands pipelined by ioredis, a bounded number in flight),
 * and the time to read back 100 missed publications, as a recovering subscribe does.
 * Writes results/<date>-redis.json. G over Redis end to end is `npm run bench -- --redis-url=…` (g-redis).
 */
import { writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { environment } from './lib/environment.mjs'
import { latencySummary } from './lib/ratios.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=').slice(1).join('=')
const redisUrl = arg('redis-url') ?? process.env.BENCH_REDIS_URL
if (!redisUrl) {
  console.error('bench/redis.mjs needs --redis-url=redis://host:port (or BENCH_REDIS_URL)')
  process.exit(2)
}
const PUBLISHES = Number(arg('publishes') ?? 50_000)
const IN_FLIGHT = Number(arg('in-flight') ?? 256)
const READS = Number(arg('reads') ?? 2_000)
const CHANNELS = 100
const PAYLOAD = JSON.stringify({ t: 0, s: 0, p: 'x'.repeat(200) }) // ~230 B, the shape of the fan-out bench

const { RedisBroker } = await import('../dist/realtime/broker-redis.js')
const prefix = `bench${process.pid}`
const broker = new RedisBroker({ url: redisUrl, prefix })
// This node subscribes to nothing: the figures are Redis's side of publishing and recovering.
await broker.run({ handlePublication() {}, handleJoin() {}, handleLeave() {}, handleControl() {} })

const withHistory = { historySize: 1000, historyTtlMs: 600_000, historyMetaTtlMs: 3_600_000 }
const withoutHistory = { historySize: 0, historyTtlMs: 0, historyMetaTtlMs: 0 }

/** `total` publishes round-robin over the channels, at most IN_FLIGHT unanswered: publishes per second. */
async function publishRate(opts, total, tag) {
  let next = 0
  const started = performance.now()
  const worker = async () => {
    while (next < total) {
      const i = next++
      await broker.publish(`${tag}:${i % CHANNELS}`, { data: PAYLOAD }, opts)
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  return (total * 1000) / (performance.now() - started)
}

/** Reads the 100 publications after `top - 100` of a channel holding 1000, READS times in sequence. */
async function recoveryReads() {
  const channel = 'recover:0'
  let position
  for (let i = 0; i < 1000; i++) position = await broker.publish(channel, { data: PAYLOAD }, withHistory)
  const since = { offset: position.offset - 100, epoch: position.epoch }
  const times = []
  for (let i = 0; i < READS; i++) {
    const t0 = performance.now()
    const { publications } = await broker.history(channel, { since, limit: -1, historyMetaTtlMs: withHistory.historyMetaTtlMs })
    times.push(performance.now() - t0)
    if (publications.length !== 100) throw new Error(`recovery read returned ${publications.length} publications, not 100`)
  }
  return latencySummary(times.sort((a, b) => a - b))
}

await publishRate(withHistory, 2_000, 'warm') // scripts loaded, connections warm
const result = {
  date: new Date().toISOString(),
  environment: environment(join(here, '..')),
  redis: redisUrl.replace(/\/\/[^@]*@/, '//'),
  settings: { publishes: PUBLISHES, inFlight: IN_FLIGHT, channels: CHANNELS, payloadBytes: PAYLOAD.length, reads: READS },
  publishesPerSecWithHistory: await publishRate(withHistory, PUBLISHES, 'hist'),
  publishesPerSecWithoutHistory: await publishRate(withoutHistory, PUBLISHES, 'plain'),
  recoveryOf100: await recoveryReads(),
}
result.goals = {
  'publish with history ≥ 20k/s from one process': result.publishesPerSecWithHistory >= 20_000,
  'recovery of 100 missed publications p99 ≤ 5 ms': result.recoveryOf100.p99Ms <= 5,
}
await broker.close()
// Best effort: remove this run's keys so repeated runs do not fill the Redis.
const { Redis } = await import('ioredis')
const redis = new Redis(redisUrl)
const keys = await redis.keys(`${prefix}*`)
for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500))
await redis.quit()

const out = arg('out') ?? join(here, 'results')
mkdirSync(out, { recursive: true })
const file = join(out, `${result.date.replace(/[:.]/g, '-').slice(0, 19)}Z-redis.json`)
writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
console.log(JSON.stringify(result, null, 2))
console.log(`wrote ${file}`)
