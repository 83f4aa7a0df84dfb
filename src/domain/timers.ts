/**
 * The shared timers' sweeper: every node looks for due timers now and then, and the store hands each due one to
 * exactly one node. Typing indicators that ran out get their stop; clients whose offline grace ended go offline
 * unless a widget connection came back on any node meanwhile.
 */
import { clientChannel } from './channels.js'
import type { Clients } from './clients.js'
import type { DomainContext } from './context.js'
import { Periodic } from './periodic.js'
import type { Typing } from './typing.js'
import { pruneKeys } from '../store/idempotency.js'
import { expireTyping, pruneTyping, takeDueOffline } from '../store/timers.js'

export class TimerSweeper {
  private readonly every: Periodic
  private sweeps = 0

  constructor(
    private readonly ctx: DomainContext,
    private readonly typing: Typing,
    private readonly clients: Clients,
  ) {
    this.every = new Periodic(() => this.sweep(), ctx.config.timerSweepMs, (err) => ctx.log.warn({ err }, 'timer sweep failed'))
  }

  start(): void {
    this.every.start()
  }

  async sweep(): Promise<void> {
    const { db, live } = this.ctx
    await this.typing.stopped(await expireTyping(db))
    for (const clientId of await takeDueOffline(db)) {
      // Counted across nodes: a reload may have reconnected to another node.
      if ((await live.connectionCount(clientChannel(clientId))) > 0) continue
      await this.clients.setPresence(clientId, false)
    }
    if (++this.sweeps % 600 === 0) {
      await pruneTyping(db, 3_600_000)
      await pruneKeys(db, this.ctx.config.idempotencyWindowMs)
    }
  }

  async close(): Promise<void> {
    await this.every.stop()
  }
}
