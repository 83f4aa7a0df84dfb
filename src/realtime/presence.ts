/** The presence contract: who is in a channel, across every node. */
import type { ClientInfo } from '../protocol/types.js'

export interface PresenceStats {
  numClients: number
  numUsers: number
}

/** Entries expire unless re-added within the TTL, so a crashed node's clients disappear by themselves. */
export interface PresenceManager {
  add(channel: string, client: string, info: ClientInfo): Promise<void>
  remove(channel: string, client: string): Promise<void>
  presence(channel: string): Promise<Record<string, ClientInfo>>
  stats(channel: string): Promise<PresenceStats>
  close(): Promise<void>
}
