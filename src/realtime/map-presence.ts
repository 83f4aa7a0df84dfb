/**
 * Presence that map subscriptions keep besides map client presence (centrifuge `client_map.go`,
 * `setupMapPresenceAndJoin` / `updateMapPresence` / `removeMapPresence`):
 * - map users presence (`map_users_presence_channel_prefix`): one entry per distinct user (key: user id, no data) in
 *   the map channel `<prefix><channel>`, added on the user's first subscription and removed when its last one leaves
 *   on every node, refreshed within its key TTL so a dead node's users expire;
 * - the namespace's `presence` and `join_leave` on a map channel: the channel's ordinary presence (presence and
 *   presence_stats commands, server API) and join/leave publications, as a stream subscription keeps them.
 */
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { ClientInfo } from '../protocol/types.js'
import type { Broker } from './broker.js'
import type { MapChannelOptions } from './map-broker.js'
import type { MapNode } from './map-node.js'
import type { PresenceManager } from './presence.js'

/**
 * Each node holding a user in a users presence channel is a key (its node id) of this hidden ephemeral map; the
 * user's entry goes when the last holder leaves. `$` makes it a private channel name: no client subscribes to it.
 */
export const mapUsersHoldersChannel = (presenceChannel: string, user: string) => `$livedesk.map_users_holders:${presenceChannel}:${user}`

export interface MapPresenceOptions {
  maps: MapNode
  /** The channels' ordinary presence (namespace `presence`); absent: not kept. */
  presence?: PresenceManager
  /** Publishes join/leave (namespace `join_leave`); absent: not published. */
  joinLeave?: Pick<Broker, 'publishJoin' | 'publishLeave'>
  /** TTL of holder entries when the users presence namespace's keys do not expire (persistent mode). */
  presenceTtlMs: number
  log: Logger
}

export class MapPresenceKeeper {
  /** This node's key in holder maps. */
  readonly nodeId = randomBytes(8).toString('base64url')
  /** Users presence channel → user → this node's client ids subscribed for that user. */
  private readonly users = new Map<string, Map<string, Set<string>>>()
  /** Map channel → client id → info, for the namespace's ordinary presence. */
  private readonly channelPresence = new Map<string, Map<string, ClientInfo>>()

  constructor(private readonly o: MapPresenceOptions) {}

  private holderOptions(presenceChannel: string): MapChannelOptions {
    const keyTtlMs = this.o.maps.channel(presenceChannel)?.chOpts.keyTtlMs || this.o.presenceTtlMs
    return { mode: 'ephemeral', keyTtlMs, streamSize: 0, streamTtlMs: 0, metaTtlMs: 0 }
  }

  // ---- map users presence ------------------------------------------------------------------------

  /** The client's subscription counts for its user; an anonymous client (user '') has no user entry, as in centrifuge. */
  async addUser(presenceChannel: string, user: string, client: string): Promise<void> {
    if (!user) return
    let byUser = this.users.get(presenceChannel)
    if (!byUser) this.users.set(presenceChannel, (byUser = new Map()))
    let clients = byUser.get(user)
    const first = !clients
    if (!clients) byUser.set(user, (clients = new Set()))
    clients.add(client)
    if (first) await this.publishUser(presenceChannel, user)
  }

  async removeUser(presenceChannel: string, user: string, client: string): Promise<void> {
    const byUser = this.users.get(presenceChannel)
    const clients = byUser?.get(user)
    if (!clients?.delete(client) || clients.size > 0) return
    byUser!.delete(user)
    if (byUser!.size === 0) this.users.delete(presenceChannel)
    const holders = mapUsersHoldersChannel(presenceChannel, user)
    const chOpts = this.holderOptions(presenceChannel)
    await this.o.maps.broker.remove(holders, this.nodeId, {}, chOpts)
    const left = await this.o.maps.broker.readState(holders, { limit: 1 }, chOpts)
    // Another node holds the user, or this one took it back meanwhile.
    if (left.publications.length > 0 || this.holds(presenceChannel, user)) return
    await this.o.maps.remove(presenceChannel, user)
    // A subscribe of the user on this node that raced the removal puts the entry back.
    if (this.holds(presenceChannel, user)) await this.publishUser(presenceChannel, user)
  }

  private holds(presenceChannel: string, user: string): boolean {
    return this.users.get(presenceChannel)?.has(user) ?? false
  }

  /** Holder first: a node seeing no holder after removing its own never drops a user another node is adding. */
  private async publishUser(presenceChannel: string, user: string): Promise<void> {
    if (!this.o.maps.channel(presenceChannel)) return void this.o.log.warn({ channel: presenceChannel }, 'map users presence channel is not in a map namespace')
    const keepAlive = { data: '', keyMode: 'if_new' as const, refreshTtlOnSuppress: true }
    await this.o.maps.broker.publish(mapUsersHoldersChannel(presenceChannel, user), this.nodeId, keepAlive, this.holderOptions(presenceChannel))
    await this.o.maps.publish(presenceChannel, user, keepAlive)
  }

  // ---- the namespace's presence and join/leave on a map channel ----------------------------------

  /** A map subscription went live: presence entry (namespace `presence`) and join (namespace `join_leave`). */
  async joined(channel: string, info: ClientInfo, ns: { presence: boolean; joinLeave: boolean }): Promise<void> {
    if (ns.presence && this.o.presence) {
      let entries = this.channelPresence.get(channel)
      if (!entries) this.channelPresence.set(channel, (entries = new Map()))
      entries.set(info.client, info)
      await this.o.presence.add(channel, info.client, info)
    }
    if (ns.joinLeave && this.o.joinLeave) await this.o.joinLeave.publishJoin(channel, info)
  }

  async left(channel: string, info: ClientInfo, ns: { presence: boolean; joinLeave: boolean }): Promise<void> {
    if (ns.presence && this.o.presence) {
      const entries = this.channelPresence.get(channel)
      entries?.delete(info.client)
      if (entries?.size === 0) this.channelPresence.delete(channel)
      await this.o.presence.remove(channel, info.client)
    }
    if (ns.joinLeave && this.o.joinLeave) await this.o.joinLeave.publishLeave(channel, info)
  }

  /** Re-adds every entry this node keeps (called within the entries' TTL). */
  async refresh(): Promise<void> {
    const writes: Array<Promise<void>> = []
    const flush = async () => {
      if (writes.length >= 500) await Promise.all(writes.splice(0))
    }
    const warn = (err: unknown) => this.o.log.warn({ err }, 'map presence refresh failed')
    for (const [presenceChannel, byUser] of this.users) {
      for (const user of byUser.keys()) {
        writes.push(this.publishUser(presenceChannel, user).catch(warn))
        await flush()
      }
    }
    for (const [channel, entries] of this.channelPresence) {
      for (const info of entries.values()) {
        writes.push(this.o.presence!.add(channel, info.client, info).catch(warn))
        await flush()
      }
    }
    await Promise.all(writes)
  }
}
