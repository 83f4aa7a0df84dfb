/**
 * Operators' availability: `online` takes new chats, `away` keeps its chats and takes none, `offline` takes none.
 * A person sets it (PUT /me/status, PUT /operators/{id}/status); the auto-away timers set it when no console of the
 * operator is connected on any node for `operatorAutoAwayAfterMs` (→ away) or `operatorAutoOfflineAfterMs`
 * (→ offline); a console connecting undoes only what the timers set. Every change is `operatorStatusChanged`.
 */
import type { Db } from '../store/db.js'
import {
  anyDisconnected,
  consoleConnected,
  lockedStatus,
  setStatus,
  statusList,
  takeDisconnected,
  type DisconnectedQuery,
  type OperatorStatus,
  type StatusRow,
} from '../store/availability.js'
import type { DomainContext } from './context.js'
import { DomainError } from './errors.js'
import type { Groups } from './groups.js'
import type { Outbox } from './outbox.js'
import { Periodic } from './periodic.js'

export const OPERATOR_STATUSES: readonly OperatorStatus[] = ['online', 'away', 'offline']

export interface OperatorStatusView {
  id: string
  name: string
  status: OperatorStatus
  auto: boolean
  role: 'operator' | 'supervisor'
  connected: boolean
  openSessions: number
  maxChats: number
  groups: string[]
}

function statusChanged(out: Outbox, row: StatusRow, previous: OperatorStatus, auto: boolean): void {
  out.publish('operatorStatusChanged', {
    operator: { id: row.id, name: row.name, status: row.status, previousStatus: previous, auto, openSessions: row.open, maxChats: row.max_chats },
  }, { operatorId: row.id })
}

/** A console of the operator opened (inside its registration's transaction, before the queue drains). */
export async function consoleOpened(tx: Db, out: Outbox, operatorId: string): Promise<void> {
  const changed = await consoleConnected(tx, operatorId)
  if (changed) statusChanged(out, changed, changed.previous, true)
}

export class Availability {
  private readonly every: Periodic

  constructor(
    private readonly ctx: DomainContext,
    private readonly groups: Groups,
  ) {
    this.every = new Periodic(() => this.sweep(), ctx.config.timerSweepMs, (err) => ctx.log.warn({ err }, 'availability sweep failed'))
  }

  start(): void {
    this.every.start()
  }

  async close(): Promise<void> {
    await this.every.stop()
  }

  /** A person sets the status; becoming `online` drains the queue to the operator. 400 naming `status` for another value. */
  async set(operatorId: string, status: unknown): Promise<OperatorStatusView> {
    if (typeof status !== 'string' || !(OPERATOR_STATUSES as readonly string[]).includes(status)) {
      throw new DomainError('bad_request', `status must be one of ${OPERATOR_STATUSES.join(', ')}`, 'status')
    }
    await this.ctx.mutator.run(async (tx, out) => {
      const row = await lockedStatus(tx, operatorId)
      if (!row) throw new DomainError('not_found', `operator ${operatorId} not found`)
      await setStatus(tx, operatorId, status as OperatorStatus, false)
      if (row.status !== status) statusChanged(out, { ...row, status: status as OperatorStatus }, row.status, false)
      if (status === 'online') await this.ctx.drain(tx, out)
    }, { routes: true })
    return this.get(operatorId)
  }

  async get(operatorId: string): Promise<OperatorStatusView> {
    const view = (await this.list()).find((o) => o.id === operatorId)
    if (!view) throw new DomainError('not_found', `operator ${operatorId} not found`)
    return view
  }

  /** Every operator's status, whether a console is connected, load and groups. */
  async list(): Promise<OperatorStatusView[]> {
    return (await statusList(this.ctx.db, this.ctx.config.nodeTtlMs)).map((r) => ({
      id: r.id,
      name: r.name,
      status: r.status,
      auto: r.status_auto,
      role: r.role,
      connected: r.connected,
      openSessions: r.open,
      maxChats: r.max_chats,
      groups: r.group_ids ?? [],
    }))
  }

  /** The timers, on every node: each operator that is due is taken by one node; groups whose hours opened route. */
  async sweep(): Promise<void> {
    const { operatorAutoAwayAfterMs: awayMs, operatorAutoOfflineAfterMs: offlineMs, nodeTtlMs } = this.ctx.config
    const timers: DisconnectedQuery[] = [
      { from: ['online', 'away'], to: 'offline', afterMs: offlineMs, nodeTtlMs, sinceAnyChange: false },
      { from: ['online'], to: 'away', afterMs: awayMs, nodeTtlMs, sinceAnyChange: true },
    ]
    for (const q of timers) {
      // A transaction only when someone is due: most sweeps find nobody.
      if (q.afterMs <= 0 || !(await anyDisconnected(this.ctx.db, q))) continue
      await this.ctx.mutator.run(async (tx, out) => {
        for (const r of await takeDisconnected(tx, q)) statusChanged(out, r, r.previous, true)
      })
    }
    await this.groups.sweep()
  }
}
