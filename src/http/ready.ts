/**
 * Readiness (`GET /ready`): 200 while this node can serve, 503 naming what fails otherwise: the database answers
 * and has every migration this version knows, each Redis shard answers, and the node is not draining. `/health`
 * stays the liveness probe (the process answers). On SIGTERM the node drains first (`/ready` 503 for the drain
 * delay), so a load balancer stops sending before sockets close.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { Db } from '../store/db.js'
import { MIGRATIONS } from '../store/migrations/index.js'

/** One dependency's probe: resolves when reachable, rejects with why not. */
export interface ReadinessCheck {
  name: string
  check(): Promise<void>
}

/** A probe that has not answered within this is failed (a hung connection must not hang the probe). @default 1000 */
const CHECK_TIMEOUT_MS = 1_000

export class Readiness {
  private drainingSince: number | undefined

  constructor(private readonly checks: ReadinessCheck[], private readonly timeoutMs = CHECK_TIMEOUT_MS) {}

  /** From now on `/ready` answers 503 `draining`; there is no way back (the process is stopping). */
  drain(): void {
    this.drainingSince ??= Date.now()
  }

  get draining(): boolean {
    return this.drainingSince !== undefined
  }

  /** Every check, run at once; `failed` maps each failing check to its reason. */
  async probe(): Promise<{ ready: boolean; failed: Record<string, string> }> {
    const failed: Record<string, string> = {}
    if (this.draining) failed.node = 'draining'
    await Promise.all(this.checks.map(async ({ name, check }) => {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs) })
      try {
        await Promise.race([check(), timeout])
      } catch (err) {
        // An error code (ECONNREFUSED, a SQLSTATE) rather than its message: /ready is public and a message may name internal addresses.
        const code = (err as { code?: unknown })?.code
        failed[name] = typeof code === 'string' && code ? code : (err as Error)?.message || 'failed'
      } finally {
        clearTimeout(timer)
      }
    }))
    return { ready: Object.keys(failed).length === 0, failed }
  }
}

/** The database answers and holds every migration this version knows (a node never serves an older schema). */
export function databaseCheck(db: Db): ReadinessCheck {
  const latest = Math.max(...MIGRATIONS.map((m) => m.id))
  return {
    name: 'database',
    async check() {
      const [row] = await db.query<{ id: number | null }>('SELECT max(id) AS id FROM schema_migrations')
      const applied = Number(row?.id ?? 0)
      if (applied < latest) throw new Error(`migrations pending: schema at ${applied}, this version needs ${latest}`)
    },
  }
}

/** Each Redis shard answers PING on a connection of the probe's own that never queues commands while down. */
export async function redisChecks(url: string): Promise<{ checks: ReadinessCheck[]; close(): void }> {
  const { Redis } = await import('ioredis')
  const { parseRedisUrl } = await import('../realtime/redis-topology.js')
  const shards = parseRedisUrl(url)
  const clients = shards.map((shard) => {
    const redis = new Redis({ ...shard.options, connectionName: 'livedesk:ready', enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: false })
    redis.on('error', () => {}) // its state is what the probe reports
    return redis
  })
  return {
    checks: clients.map((redis, i) => ({
      name: shards.length === 1 ? 'redis' : `redis[${i}]`,
      async check() {
        await redis.ping()
      },
    })),
    close: () => clients.forEach((c) => c.disconnect()),
  }
}

/** `GET /ready`: 200 `{status:'ready'}`, or 503 `{status:'not ready', failed:{name: reason}}`. */
export function readyRoute(readiness: Readiness): FastifyPluginAsync {
  return async (app) => {
    app.get('/ready', { schema: { hide: true } }, async (_req, reply) => {
      const { ready, failed } = await readiness.probe()
      reply.header('cache-control', 'no-store')
      return ready ? { status: 'ready' } : reply.code(503).send({ status: 'not ready', failed })
    })
  }
}
