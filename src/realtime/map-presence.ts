/**
 * Presence that map subscriptions keep besides map client presence (centrifuge `client_map.go`,
 * `setupMapPresenceAndJoin` / `updateMapPresence` / `removeMapPresence`):
 * - map users presence (`map_users_presence_channel_prefix`): one entry per distinct user (key: user id, no data) in
 *   the map channel `<prefix><channel>`, added on subscribe and refreshed while the user stays subscribed on this node;
 *   as in centrifuge it is never removed on unsubscribe or disconnect, only by the `map_users` namespace's key TTL
 *   (the map broker's expiry sweep publishes that removal once), a grace period for quick reconnects;
 * - the namespace's `presence` and `join_leave` on a map channel: the channel's ordinary presence (presence and
 *   presence_stats commands, server API) and join/leave publications, as a stream subscription keeps them.
 */
import type { Logger } from 'pino'
import type { ClientInfo } from '../protocol/types.js'
import type { Broker } from './broker.js'
import type { MapNode } from './map-node.js'
import type { PresenceManager } from './presence.js'

export interface MapPresenceOptions {
  maps: MapNode
  /** The channels' ordinary presence (namespace `presence`); absent: not kept. */
  presence?: PresenceManager
  /** Publishes join/leave (namespace `join_leave`); absent: not published. */
  joinLeave?: Pick<Broker, 'publishJoin' | 'publishLeave'>
  log: Logger
}

export class MapPresenceKeeper {
  /** Users presence channel → user → this node's client ids subscribed for that user: whose entries it refreshes. */
  private readonly users = new Map<string, Map<string, Set<string>>>()
  /** Map channel → client id → info, for the namespace's ordinary presence. */
  private readonly channelPresence = new Map<string, Map<string, ClientInfo>>()

  constructor(private readonly o: MapPresenceOptions) {}

  // ---- map users presence ------------------------------------------------------------------------

  /** The client's subscription counts for its user; an anonymous client (user '') has no user entry, as in centrifuge. */
  async addUser(presenceChannel: string, user: string, client: string): Promise<void> {
    if (!user) return
    let byUser = this.users.get(presenceChannel)
    if (!byUser) this.users.set(presenceChannel, (byUser = new Map()))
    let clients = byUser.get(user)
    if (!clients) byUser.set(user, (clients = new Set()))
    clients.add(client)
    // Every subscribe writes: a new user is added (one update to watchers), a present one only has its TTL refreshed.
    await this.publishUser(presenceChannel, user)
  }

  /** Stops refreshing the user's entry once none of its clients here is subscribed; the entry itself stays until its TTL. */
  removeUser(presenceChannel: string, user: string, client: string): void {
    const byUser = this.users.get(presenceChannel)
    const clients = byUser?.get(user)
    if (!clients?.delete(client) || clients.size > 0) return
    byUser!.delete(user)
    if (byUser!.size === 0) this.users.delete(presenceChannel)
  }

  private async publishUser(presenceChannel: string, user: string): Promise<void> {
    await this.o.maps.publish(presenceChannel, user, { data: '', keyMode: 'if_new', refreshTtlOnSuppress: true })
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
