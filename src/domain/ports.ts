/**
 * What the domain needs from the outside, and nothing more. src/main.ts adapts the gateway to
 * `LiveGateway`; the domain never imports src/realtime, src/http or `ws`.
 */

/** The real-time side as the domain sees it. Users are the strings the domain returned from `authenticate`. */
export interface LiveGateway {
  /**
   * Publishes to a channel; resolves once the publication has its place in the channel's history. A repeat of
   * an `idempotencyKey` in the same channel within the broker's window publishes nothing.
   */
  publish(channel: string, data: unknown, opts?: { idempotencyKey?: string }): Promise<void>
  /** Closes every connection of `user` on every node with this code and reason (terminal codes: 3500–3999, 4500–4999). */
  disconnectUser(user: string, code: number, reason: string): Promise<void>
  /** Closes one connection of this node, if it is still open (the revocation sweep's own connections). */
  closeConnection?(client: string, code: number, reason: string): void
  /** Live connections of `user` across all nodes that are subscribed to `channel`. */
  connectionCount(channel: string): Promise<number>
  /** Subscribes / unsubscribes every connection of `user` on every node to `channel` server-side (group queues, supervisors). */
  subscribeUser?(user: string, channel: string): Promise<void>
  unsubscribeUser?(user: string, channel: string): Promise<void>
}
