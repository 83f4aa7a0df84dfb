/** Presence for a single process: a map per channel. */
import type { ClientInfo } from '../protocol/types.js'
import type { PresenceManager, PresenceStats } from './presence.js'

export class MemoryPresenceManager implements PresenceManager {
  private readonly channels = new Map<string, Map<string, ClientInfo>>()

  async add(channel: string, client: string, info: ClientInfo): Promise<void> {
    let members = this.channels.get(channel)
    if (!members) this.channels.set(channel, (members = new Map()))
    members.set(client, info)
  }

  async remove(channel: string, client: string): Promise<void> {
    const members = this.channels.get(channel)
    if (!members) return
    members.delete(client)
    if (members.size === 0) this.channels.delete(channel)
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    return Object.fromEntries(this.channels.get(channel) ?? [])
  }

  async stats(channel: string): Promise<PresenceStats> {
    const members = this.channels.get(channel)
    if (!members) return { numClients: 0, numUsers: 0 }
    return { numClients: members.size, numUsers: new Set([...members.values()].map((i) => i.user)).size }
  }

  async close(): Promise<void> {
    this.channels.clear()
  }
}
