/**
 * The domain's own record of which operators are online, shared by every node through the store: each
 * node adds its operators' connections as they open and removes them as they close, and heartbeats so that
 * the connections of a node that died stop counting after `nodeTtlMs`. Routing reads this record inside its
 * transaction; it never asks the gateway.
 */
import { setConnectionCredentials, type ConnectionCredentials } from '../store/credentials.js'
import { addOperatorConnection, heartbeat, removeConnectionsOf, removeNode, removeOperatorConnection } from '../store/operators.js'
import { consoleOpened } from './availability.js'
import type { DomainContext } from './context.js'

export class OperatorPresence {
  private timer?: NodeJS.Timeout
  /** A connection's registration in flight: its removal waits for it. */
  private readonly opening = new Map<string, Promise<unknown>>()

  constructor(private readonly ctx: DomainContext) {}

  async start(): Promise<void> {
    const { db, nodeId, config } = this.ctx
    const beat = async () => {
      const watermark = this.ctx.publisher.unpublishedSince()
      await heartbeat(db, nodeId, watermark)
      this.ctx.publisher.watermarkStored(watermark)
    }
    await beat()
    this.timer = setInterval(() => {
      beat().catch((err) => this.ctx.log.warn({ err }, 'presence heartbeat failed'))
    }, Math.max(100, Math.floor(config.nodeTtlMs / 3)))
    this.timer.unref()
  }

  /**
   * The operator is online from the commit on (while the connection's credentials hold), and the queue drains to
   * it in the same transaction.
   */
  opened(operatorId: string, connectionId: string, credentials: ConnectionCredentials = {}): Promise<void> {
    const done = this.ctx.mutator.run(
      async (tx, out) => {
        await addOperatorConnection(tx, { connectionId, operatorId, nodeId: this.ctx.nodeId, ...credentials })
        // An auto-set away/offline turns online before the queue drains to it.
        await consoleOpened(tx, out, operatorId)
        await this.ctx.drain(tx, out)
      },
      { routes: true },
    )
    const settled = done.catch(() => {}).finally(() => {
      if (this.opening.get(connectionId) === settled) this.opening.delete(connectionId)
    })
    this.opening.set(connectionId, settled)
    return done
  }

  /** A refreshed connection's new credentials, recorded after its registration if that is still in flight. */
  async refreshed(connectionId: string, credentials: ConnectionCredentials): Promise<void> {
    await this.opening.get(connectionId)
    await setConnectionCredentials(this.ctx.db, connectionId, credentials)
  }

  async closed(connectionId: string): Promise<void> {
    await this.opening.get(connectionId)
    await removeOperatorConnection(this.ctx.db, connectionId)
  }

  /**
   * This node leaves: its connections stop counting at once. With events still unpublished it stays in the record
   * (no more heartbeats), so a relay publishes them once it counts as gone.
   */
  async close(allPublished: boolean): Promise<void> {
    clearInterval(this.timer)
    await Promise.all(this.opening.values())
    if (allPublished) await removeNode(this.ctx.db, this.ctx.nodeId)
    else await removeConnectionsOf(this.ctx.db, this.ctx.nodeId)
  }
}
