/** A Redis Sentinel group of the test's own: a primary, a replica and one sentinel (quorum 1), on loopback. */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll } from 'vitest'
import { freePort, startRedisProcess, waitUntil, type RedisProcess } from './processes.js'

export interface SentinelGroup {
  /** REDIS_URL naming the group. */
  url: string
  name: string
  primary: RedisProcess
  replica: RedisProcess
  /** The port of the server the sentinel calls primary now. */
  primaryPort(): Promise<number>
}

const stops: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const stop of stops.splice(0)) await stop().catch(() => {})
})

export async function startSentinelGroup(name = 'livedesk'): Promise<SentinelGroup> {
  const primary = await startRedisProcess({ appendonly: true })
  const replica = await startRedisProcess({ appendonly: true, args: ['--replicaof', '127.0.0.1', String(primary.port)] })
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'livedesk-sentinel-'))
  const conf = join(dir, 'sentinel.conf')
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
      `sentinel down-after-milliseconds ${name} 500`,
      `sentinel failover-timeout ${name} 3000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  )
  const child: ChildProcess = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
  stops.push(async () => {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  const sentinel = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 })
  sentinel.on('error', () => {})
  stops.push(async () => sentinel.disconnect())
  const primaryPort = async () => {
    const [, p] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string]
    return Number(p)
  }
  await waitUntil(async () => (await primaryPort()) === primary.port, 10_000, 'the sentinel to watch the primary')
  // The replica has caught up once it reports a live link.
  const replicaAdmin = new Redis(replica.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  replicaAdmin.on('error', () => {})
  await waitUntil(async () => /master_link_status:up/.test(await replicaAdmin.info('replication')), 10_000, 'the replica to sync')
  replicaAdmin.disconnect()
  return { url: `redis+sentinel://127.0.0.1:${port}/${name}`, name, primary, replica, primaryPort }
}
