/**
 * Which map broker a node uses (Centrifugo's `map_broker.type`): by default as the stream broker is chosen, in
 * this process without Redis and on Redis with it (with several Redis shards each map channel lives on the shard
 * `shardOf(channel)` picks, as its stream would); `postgres` keeps map state in livedesk's database.
 */
import type { StreamPosition } from '../protocol/types.js'
import type {
  MapBroker, MapBrokerEventHandler, MapChannelOptions, MapPublishOptions, MapRemoveOptions, MapStateResult, MapStreamResult, MapUpdateResult,
} from './map-broker.js'
import { MemoryMapBroker } from './map-broker-memory.js'
import { shardOf, splitRedisUrl } from './redis-topology.js'

/** `memory`: this process; `redis`: REDIS_URL, shared by the nodes; `postgres`: the database, durable, one node. */
export type MapBrokerType = 'memory' | 'redis' | 'postgres'

export interface MapBrokerChoice {
  /** @default 'redis' with a Redis URL, else 'memory' */
  type?: MapBrokerType
  /** For `postgres`: livedesk's database (absent in gateway-only mode). */
  db?: import('../store/db.js').Db
  redisUrl?: string
  redisPrefix?: string
  /** How often expired keys are removed. */
  expireIntervalMs: number
  onError?: (err: Error) => void
}

export async function createMapBroker(opts: MapBrokerChoice): Promise<MapBroker> {
  const type = opts.type ?? (opts.redisUrl ? 'redis' : 'memory')
  if (type === 'postgres') {
    if (!opts.db) throw new Error('mapBroker postgres keeps map state in the database, and gateway-only mode (hooks) opens none')
    const { PostgresMapBroker } = await import('./map-broker-postgres.js')
    return new PostgresMapBroker({ db: opts.db, expireIntervalMs: opts.expireIntervalMs, onError: opts.onError })
  }
  if (type === 'redis' && !opts.redisUrl) throw new Error('mapBroker redis needs REDIS_URL')
  if (type === 'memory' || !opts.redisUrl) return new MemoryMapBroker({ expireIntervalMs: opts.expireIntervalMs })
  const { RedisMapBroker } = await import('./map-broker-redis.js')
  const shards = splitRedisUrl(opts.redisUrl).map((url) => new RedisMapBroker({ url, prefix: opts.redisPrefix, onError: opts.onError, expireIntervalMs: opts.expireIntervalMs }))
  return shards.length === 1 ? shards[0]! : new ShardedMapBroker(shards)
}

/** Several map brokers as one: every call for a channel goes to that channel's shard. */
export class ShardedMapBroker implements MapBroker {
  constructor(private readonly shards: MapBroker[]) {}

  private of(channel: string): MapBroker {
    return this.shards[shardOf(channel, this.shards.length)]!
  }

  async run(handler: MapBrokerEventHandler): Promise<void> {
    await Promise.all(this.shards.map((s) => s.run(handler)))
  }

  async subscribe(channel: string): Promise<void> {
    await this.of(channel).subscribe(channel)
  }

  async unsubscribe(channel: string): Promise<void> {
    await this.of(channel).unsubscribe(channel)
  }

  async publish(channel: string, key: string, opts: MapPublishOptions, chOpts: MapChannelOptions): Promise<MapUpdateResult> {
    return this.of(channel).publish(channel, key, opts, chOpts)
  }

  async remove(channel: string, key: string, opts: MapRemoveOptions, chOpts: MapChannelOptions): Promise<MapUpdateResult> {
    return this.of(channel).remove(channel, key, opts, chOpts)
  }

  async readState(channel: string, opts: { cursor?: string; limit: number; revision?: StreamPosition }, chOpts: MapChannelOptions): Promise<MapStateResult> {
    return this.of(channel).readState(channel, opts, chOpts)
  }

  async readStream(channel: string, opts: { since?: StreamPosition; limit: number }, chOpts: MapChannelOptions): Promise<MapStreamResult> {
    return this.of(channel).readStream(channel, opts, chOpts)
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()))
  }
}
