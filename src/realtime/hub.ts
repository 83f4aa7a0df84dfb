/** This node's registry: connections by id and by user, and the local subscribers of each channel. */
import type { Client } from './client.js'

export class Hub {
  readonly clients = new Map<string, Client>()
  readonly users = new Map<string, Set<Client>>()
  readonly channels = new Map<string, Set<Client>>()
  /** Connections over emulated transports, by Centrifugo session id. */
  readonly sessions = new Map<string, Client>()

  addClient(client: Client, user: string): void {
    this.clients.set(client.id, client)
    if (client.session) this.sessions.set(client.session, client)
    let set = this.users.get(user)
    if (!set) this.users.set(user, (set = new Set()))
    set.add(client)
  }

  removeClient(client: Client, user: string | undefined): void {
    this.clients.delete(client.id)
    if (client.session) this.sessions.delete(client.session)
    if (user === undefined) return
    const set = this.users.get(user)
    if (!set) return
    set.delete(client)
    if (set.size === 0) this.users.delete(user)
  }

  /** Returns true when this is the channel's first local subscriber. */
  addSubscriber(channel: string, client: Client): boolean {
    let set = this.channels.get(channel)
    const first = !set
    if (!set) this.channels.set(channel, (set = new Set()))
    set.add(client)
    return first
  }

  /** Returns true when the channel has no local subscriber left. */
  removeSubscriber(channel: string, client: Client): boolean {
    const set = this.channels.get(channel)
    if (!set) return false
    set.delete(client)
    if (set.size > 0) return false
    this.channels.delete(channel)
    return true
  }

  /** The user's connections, or only the one with id `client` when given. */
  userClients(user: string, client?: string): Client[] {
    const set = this.users.get(user)
    if (!set) return []
    return client ? [...set].filter((c) => c.id === client) : [...set]
  }

  numSubscriptions(): number {
    let n = 0
    for (const set of this.channels.values()) n += set.size
    return n
  }
}
