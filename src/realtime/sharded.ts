/**
 * Several Redis servers (or Sentinel groups) as one broker and one presence store: each channel lives on the
 * shard `shardOf(channel)` picks (its history, offsets, pub/sub, idempotency results and presence together).
 * Every node listens for node-to-node control on every shard; a control message travels on the shard of the
 * publication made just before it, so "publish, then disconnect" arrives in that order everywhere.
 * Every node must list the shards in the same order.
 */
import type { ClientInfo, StreamPosition } from '../protocol/types.js'
import type { Broker, BrokerEventHandler, BrokerPublication, ControlMessage, HistoryOptions, HistoryResult, PublishOptions } from './broker.js'
import type { PresenceManager, PresenceStats } from './presence.js'
import { shardOf } from './redis-topology.js'

/** Remembers each channel's shard: hashing a name costs more than a map lookup. */
class ShardMap<T> {
  private readonly cache = new Map<string, T>()

  constructor(readonly shards: readonly T[]) {}

  of(channel: string): T {
    let shard = this.cache.get(channel)
    if (shard === undefined) {
      shard = this.shards[shardOf(channel, this.shards.length)]!
      if (this.cache.size > 100_000) this.cache.clear()
      this.cache.set(channel, shard)
    }
    return shard
  }
}

export class ShardedBroker implements Broker {
  private readonly map: ShardMap<Broker>
  /** Where the last publication went: the next control message follows it on the same connection. */
  private lastShard: Broker

  constructor(shards: Broker[]) {
    this.map = new ShardMap(shards)
    this.lastShard = shards[0]!
  }

  async run(handler: BrokerEventHandler): Promise<void> {
    await Promise.all(this.map.shards.map((b) => b.run(handler)))
  }

  subscribe(channel: string): Promise<void> {
    return this.map.of(channel).subscribe(channel)
  }

  unsubscribe(channel: string): Promise<void> {
    return this.map.of(channel).unsubscribe(channel)
  }

  publish(channel: string, pub: BrokerPublication, opts: PublishOptions): Promise<StreamPosition | null> {
    this.lastShard = this.map.of(channel)
    return this.lastShard.publish(channel, pub, opts)
  }

  publishJoin(channel: string, info: ClientInfo): Promise<void> {
    return this.map.of(channel).publishJoin(channel, info)
  }

  publishLeave(channel: string, info: ClientInfo): Promise<void> {
    return this.map.of(channel).publishLeave(channel, info)
  }

  publishControl(message: ControlMessage): Promise<void> {
    return this.lastShard.publishControl(message)
  }

  history(channel: string, opts: HistoryOptions): Promise<HistoryResult> {
    return this.map.of(channel).history(channel, opts)
  }

  removeHistory(channel: string): Promise<void> {
    return this.map.of(channel).removeHistory(channel)
  }

  async close(): Promise<void> {
    await Promise.all(this.map.shards.map((b) => b.close()))
  }
}

export class ShardedPresenceManager implements PresenceManager {
  private readonly map: ShardMap<PresenceManager>

  constructor(shards: PresenceManager[]) {
    this.map = new ShardMap(shards)
  }

  add(channel: string, client: string, info: ClientInfo): Promise<void> {
    return this.map.of(channel).add(channel, client, info)
  }

  remove(channel: string, client: string): Promise<void> {
    return this.map.of(channel).remove(channel, client)
  }

  presence(channel: string): Promise<Record<string, ClientInfo>> {
    return this.map.of(channel).presence(channel)
  }

  stats(channel: string): Promise<PresenceStats> {
    return this.map.of(channel).stats(channel)
  }

  async close(): Promise<void> {
    await Promise.all(this.map.shards.map((p) => p.close()))
  }
}
