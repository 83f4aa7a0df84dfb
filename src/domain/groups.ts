/**
 * Groups: named teams of operators. A session in a group goes only to its members and waits in the group's queue
 * channel; outside the group's working hours (or with no member online, when it has a fallback) it goes to the
 * fallback group; closed with no fallback, it waits (`groupClosed`) until the hours open.
 */
import type { Db } from '../store/db.js'
import {
  closedQueueOf,
  groupById,
  groupByIdOrName,
  groupHasOnlineMember,
  groupsWithClosedQueue,
  insertGroup,
  listGroups,
  roleAndGroupsOf,
  sessionGroup,
  setGroupMembers,
  setSessionGroup,
  unknownOperators,
  updateGroup,
  type GroupRow,
} from '../store/groups.js'
import { liveConnection } from '../store/availability.js'
import { QUEUE_CHANNEL, SUPERVISORS_CHANNEL, groupQueueChannel, operatorChannel, operatorUser } from './channels.js'
import type { DomainContext } from './context.js'
import { DomainError } from './errors.js'
import { newId } from './tokens.js'
import { iso } from './views.js'

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const
export type Weekday = (typeof WEEKDAYS)[number]
/** Per weekday, intervals [start, end) as "HH:MM" in the group's time zone ("24:00" ends a day); a day left out is closed. */
export type WorkingHours = Partial<Record<Weekday, Array<[string, string]>>>

export interface Group {
  id: string
  name: string
  fallbackGroupId: string | null
  workingHours: WorkingHours | null
  timeZone: string | null
  operatorIds: string[]
  /** Within working hours now (always, without working hours). */
  open: boolean
  createdAt: string
}

const TIME = /^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/

/** The weekday and "HH:MM" of `now` in `timeZone` (UTC when null). */
function localTime(now: Date, timeZone: string | null): { day: Weekday; time: string } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: timeZone ?? 'UTC', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(now)
  const part = (type: string) => parts.find((p) => p.type === type)!.value
  return { day: part('weekday').toLowerCase().slice(0, 3) as Weekday, time: `${part('hour')}:${part('minute')}` }
}

/** The rule: open at `now` (a fixed input, never read from the clock here) when no hours are set or `now` falls in one interval of its weekday. */
export function isOpenAt(hours: WorkingHours | null, timeZone: string | null, now: Date): boolean {
  if (!hours) return true
  const { day, time } = localTime(now, timeZone)
  return (hours[day] ?? []).some(([start, end]) => start <= time && time < end)
}

/** 400 naming the field for a malformed time zone or hours (the shape is checked by the HTTP schema too). */
export function checkWorkingHours(hours: unknown, timeZone: unknown): void {
  if (timeZone !== null && timeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: String(timeZone) })
    } catch {
      throw new DomainError('bad_request', `timeZone: unknown time zone ${JSON.stringify(timeZone)}`, 'timeZone')
    }
  }
  if (hours === null || hours === undefined) return
  if (typeof hours !== 'object' || Array.isArray(hours)) throw new DomainError('bad_request', 'workingHours must be an object of weekdays or null', 'workingHours')
  for (const [day, intervals] of Object.entries(hours)) {
    const field = `workingHours.${day}`
    if (!(WEEKDAYS as readonly string[]).includes(day)) throw new DomainError('bad_request', `${field}: weekdays are ${WEEKDAYS.join(', ')}`, field)
    if (!Array.isArray(intervals)) throw new DomainError('bad_request', `${field} must be a list of ["HH:MM", "HH:MM"]`, field)
    intervals.forEach((iv, i) => {
      const ok = Array.isArray(iv) && iv.length === 2 && iv.every((t) => typeof t === 'string' && TIME.test(t)) && iv[0] < iv[1]
      if (!ok) throw new DomainError('bad_request', `${field}.${i} must be ["HH:MM", "HH:MM"] with the start before the end`, `${field}.${i}`)
    })
  }
}

export function groupView(r: GroupRow, now = new Date()): Group {
  return {
    id: r.id,
    name: r.name,
    fallbackGroupId: r.fallback_group_id,
    workingHours: r.working_hours,
    timeZone: r.time_zone,
    operatorIds: r.operator_ids ?? [],
    open: isOpenAt(r.working_hours, r.time_zone, now),
    createdAt: iso(r.created_at)!,
  }
}

/** The channels an operator's console is subscribed to server-side: its own, the shared queue, its groups' queues, and the supervisors'. */
export async function consoleChannels(db: Db, operatorId: string): Promise<string[]> {
  const row = await roleAndGroupsOf(db, operatorId)
  return [
    operatorChannel(operatorId),
    QUEUE_CHANNEL,
    ...(row?.group_ids ?? []).map(groupQueueChannel),
    ...(row?.role === 'supervisor' ? [SUPERVISORS_CHANNEL] : []),
  ]
}

/**
 * Where a queued session waits: its group when open and (with a fallback) with a member online; otherwise along
 * the fallbacks. Closed at the end of the chain, it waits there with `group_closed`. Caller holds the queue lock.
 */
export async function placeInGroup(tx: Db, sessionId: string, nodeTtlMs: number, now = new Date()): Promise<void> {
  const groupId = await sessionGroup(tx, sessionId)
  if (!groupId) return
  let group = await groupById(tx, groupId)
  const seen = new Set<string>()
  while (group) {
    seen.add(group.id)
    const open = isOpenAt(group.working_hours, group.time_zone, now)
    const fallback = group.fallback_group_id && !seen.has(group.fallback_group_id) ? group.fallback_group_id : null
    const usable = open && (!fallback || (await groupHasOnlineMember(tx, group.id, liveConnection(`${Number(nodeTtlMs)}`))))
    if (usable || !fallback) {
      await setSessionGroup(tx, sessionId, group.id, !open)
      return
    }
    group = await groupById(tx, fallback)
  }
}

/** The id of the group `ref` names (id or name); 400 naming `field` when none does. */
export async function groupIdOf(db: Db, ref: string, field = 'group'): Promise<string> {
  const row = await groupByIdOrName(db, ref)
  if (!row) throw new DomainError('bad_request', `${field}: no group with id or name ${JSON.stringify(ref)}`, field)
  return row.id
}

export class Groups {
  constructor(private readonly ctx: DomainContext) {}

  async list(): Promise<Group[]> {
    const now = new Date()
    return (await listGroups(this.ctx.db)).map((g) => groupView(g, now))
  }

  async get(id: string): Promise<Group> {
    const row = await groupById(this.ctx.db, id)
    if (!row) throw new DomainError('not_found', `group ${id} not found`)
    return groupView(row)
  }

  async create(input: { name: string; fallbackGroupId?: string | null; workingHours?: WorkingHours | null; timeZone?: string | null }): Promise<Group> {
    checkWorkingHours(input.workingHours, input.timeZone)
    if (input.fallbackGroupId && !(await groupById(this.ctx.db, input.fallbackGroupId))) {
      throw new DomainError('bad_request', `fallbackGroupId: group ${input.fallbackGroupId} not found`, 'fallbackGroupId')
    }
    const id = newId()
    const row = await insertGroup(this.ctx.db, {
      id,
      name: input.name,
      fallbackGroupId: input.fallbackGroupId ?? null,
      workingHours: input.workingHours ?? null,
      timeZone: input.timeZone ?? null,
    })
    if (!row) throw new DomainError('conflict', `a group named ${JSON.stringify(input.name)} exists`, 'name')
    return groupView(row)
  }

  /** New hours or a new fallback may open the group's waiting sessions: they are placed and routed again. */
  async update(id: string, input: { name?: string; fallbackGroupId?: string | null; workingHours?: WorkingHours | null; timeZone?: string | null }): Promise<Group> {
    checkWorkingHours(input.workingHours, input.timeZone)
    if (input.fallbackGroupId === id) throw new DomainError('bad_request', 'fallbackGroupId: a group cannot fall back to itself', 'fallbackGroupId')
    await this.ctx.mutator.run(async (tx, out) => {
      if (!(await groupById(tx, id))) throw new DomainError('not_found', `group ${id} not found`)
      if (input.fallbackGroupId && !(await groupById(tx, input.fallbackGroupId))) {
        throw new DomainError('bad_request', `fallbackGroupId: group ${input.fallbackGroupId} not found`, 'fallbackGroupId')
      }
      if (!(await updateGroup(tx, id, input))) throw new DomainError('conflict', `a group named ${JSON.stringify(input.name)} exists`, 'name')
      await this.reopen(tx, id)
      await this.ctx.drain(tx, out)
    }, { routes: true })
    return this.get(id)
  }

  /** Replaces the members; new members' consoles are subscribed to the group's queue, former ones unsubscribed. */
  async setMembers(id: string, operatorIds: string[]): Promise<Group> {
    const ids = [...new Set(operatorIds)]
    const { joined, left } = await this.ctx.mutator.run(async (tx, out) => {
      if (!(await groupById(tx, id))) throw new DomainError('not_found', `group ${id} not found`)
      const unknown = await unknownOperators(tx, ids)
      if (unknown.length > 0) throw new DomainError('bad_request', `operatorIds: no operator ${unknown[0]}`, 'operatorIds')
      const changed = await setGroupMembers(tx, id, ids)
      await this.ctx.drain(tx, out)
      return changed
    }, { routes: true })
    await this.resubscribe(joined, left, groupQueueChannel(id))
    return this.get(id)
  }

  /** Live consoles follow a change of membership or role (best effort: a reconnect subscribes them anyway). */
  async resubscribe(joined: string[], left: string[], channel: string): Promise<void> {
    const { live, log } = this.ctx
    await Promise.all([
      ...joined.map((op) => live.subscribeUser?.(operatorUser(op), channel)),
      ...left.map((op) => live.unsubscribeUser?.(operatorUser(op), channel)),
    ]).catch((err) => log.warn({ err, channel }, 'resubscribing consoles failed'))
  }

  /** The group's sessions that waited for its hours, placed again (caller holds the queue lock and drains after). */
  async reopen(tx: Db, groupId: string, now = new Date()): Promise<void> {
    for (const s of await closedQueueOf(tx, groupId)) await placeInGroup(tx, s.id, this.ctx.config.nodeTtlMs, now)
  }

  /** The sweeper's part: groups whose hours opened route their waiting sessions. */
  async sweep(now = new Date()): Promise<void> {
    for (const groupId of await groupsWithClosedQueue(this.ctx.db)) {
      const group = await groupById(this.ctx.db, groupId)
      if (!group || !isOpenAt(group.working_hours, group.time_zone, now)) continue
      await this.ctx.mutator.run(async (tx, out) => {
        await this.reopen(tx, groupId, now)
        await this.ctx.drain(tx, out)
      }, { routes: true })
    }
  }
}
