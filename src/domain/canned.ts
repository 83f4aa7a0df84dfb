/**
 * Canned replies: shared ones (managed with the API key or by a supervisor) and each operator's own. An operator
 * lists the shared ones and its own; on a shortcut both have, its own comes first.
 */
import { roleOf } from '../store/availability.js'
import { cannedById, deleteCanned, insertCanned, listCanned, updateCanned, type CannedRow } from '../store/canned.js'
import type { DomainContext } from './context.js'
import { DomainError } from './errors.js'
import { newId } from './tokens.js'
import { iso } from './views.js'

export interface CannedReply {
  id: string
  shortcut: string
  title: string
  text: string
  shared: boolean
  /** The owner of a personal reply; null for a shared one. */
  operatorId: string | null
  createdAt: string
  updatedAt: string
}

/** Who asks: the API key, or an operator (a supervisor may manage the shared replies). */
export type CannedActor = { kind: 'apiKey' } | { kind: 'operator'; operatorId: string }

export const SHORTCUT = /^[a-z0-9_-]{1,32}$/
export const CANNED_TEXT_MAX = 4000
export const CANNED_TITLE_MAX = 200

const view = (r: CannedRow): CannedReply => ({
  id: r.id,
  shortcut: r.shortcut,
  title: r.title,
  text: r.text,
  shared: r.operator_id === null,
  operatorId: r.operator_id,
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
})

function check(c: { shortcut?: string; title?: string; text?: string }): void {
  if (c.shortcut !== undefined && !SHORTCUT.test(c.shortcut)) throw new DomainError('bad_request', 'shortcut must match [a-z0-9_-]{1,32}', 'shortcut')
  if (c.title !== undefined && (c.title.trim() === '' || c.title.length > CANNED_TITLE_MAX)) throw new DomainError('bad_request', `title must be 1..${CANNED_TITLE_MAX} characters`, 'title')
  if (c.text !== undefined && (c.text.trim() === '' || c.text.length > CANNED_TEXT_MAX)) throw new DomainError('bad_request', `text must be 1..${CANNED_TEXT_MAX} characters`, 'text')
}

export class CannedReplies {
  constructor(private readonly ctx: DomainContext) {}

  /** The API key sees the shared replies; an operator the shared ones and its own, its own first on a clash. */
  async list(actor: CannedActor): Promise<CannedReply[]> {
    return (await listCanned(this.ctx.db, actor.kind === 'operator' ? actor.operatorId : null)).map(view)
  }

  async create(actor: CannedActor, c: { shortcut: string; title: string; text: string; shared?: boolean }): Promise<CannedReply> {
    check(c)
    const shared = actor.kind === 'apiKey' ? c.shared !== false : c.shared === true
    if (actor.kind === 'apiKey' && c.shared === false) throw new DomainError('bad_request', 'the API key manages shared replies only', 'shared')
    if (shared) await this.mayManageShared(actor)
    const row = await insertCanned(this.ctx.db, {
      id: newId(),
      operatorId: shared ? null : (actor as { operatorId: string }).operatorId,
      shortcut: c.shortcut,
      title: c.title,
      text: c.text,
    })
    if (!row) throw new DomainError('conflict', `shortcut ${c.shortcut} is taken`, 'shortcut')
    return view(row)
  }

  async update(actor: CannedActor, id: string, c: { shortcut?: string; title?: string; text?: string }): Promise<CannedReply> {
    check(c)
    await this.owned(actor, id)
    const row = await updateCanned(this.ctx.db, id, c)
    if (!row) {
      if (!(await cannedById(this.ctx.db, id))) throw new DomainError('not_found', `canned reply ${id} not found`)
      throw new DomainError('conflict', `shortcut ${c.shortcut} is taken`, 'shortcut')
    }
    return view(row)
  }

  async remove(actor: CannedActor, id: string): Promise<void> {
    await this.owned(actor, id)
    await deleteCanned(this.ctx.db, id)
  }

  /** 404 for a reply the actor cannot see (another operator's own), 403 for a shared one it cannot manage. */
  private async owned(actor: CannedActor, id: string): Promise<CannedRow> {
    const row = await cannedById(this.ctx.db, id)
    const visible = row && (row.operator_id === null || (actor.kind === 'operator' && row.operator_id === actor.operatorId))
    if (!row || !visible) throw new DomainError('not_found', `canned reply ${id} not found`, 'id')
    if (row.operator_id === null) await this.mayManageShared(actor)
    return row
  }

  private async mayManageShared(actor: CannedActor): Promise<void> {
    if (actor.kind === 'apiKey') return
    if ((await roleOf(this.ctx.db, actor.operatorId)) !== 'supervisor') throw new DomainError('forbidden', 'shared replies are managed with the API key or by a supervisor', 'shared')
  }
}
