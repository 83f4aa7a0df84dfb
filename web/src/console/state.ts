/**
 * The console's state and how each live event of events.md changes it. No DOM and no I/O, so the
 * rules can be read (and tested) on their own; src/console/main.ts renders what `apply` reports.
 */
import { mergeMessage } from '../shared/messages.js'
import type { ChatSession, Envelope, Message, Operator, OperatorStatus, OperatorStatusRow, SessionTransfer, Typing } from '../shared/types.js'

/** Why the console session ended, from the events that throw an operator out. */
export type EndReason = { kind: 'operatorBlocked' | 'chatUserExists' | 'operatorLoggedOut' | 'unauthorized'; message: string }

export interface Change {
  sessions?: boolean
  chat?: boolean
  end?: EndReason
  /** The event referred to a session this console does not know: its list is stale. */
  unknownSession?: boolean
  notice?: string
  /** An operator's status or load changed (the supervisor view and the transfer targets). */
  operators?: boolean
  /** My own status changed (the status switch). */
  status?: boolean
}

/** Why a session left its holder without going to the bot (issue 15): the old holder's list drops it with a notice. */
const MOVED = new Set(['transferred', 'reassigned'])

const SEEN_IDS_KEPT = 2000

export class ConsoleState {
  me: Operator | null = null
  readonly sessions = new Map<string, ChatSession>()
  /** Messages of sessions whose chat has been opened, by session id, oldest first. */
  readonly messages = new Map<string, Message[]>()
  /** The client's typing, by chat id. */
  readonly typing = new Map<string, Typing>()
  openSessionId: string | null = null
  /** Operators' status and load by id (`GET /operators/status`, then `operatorStatusChanged`). */
  readonly operators = new Map<string, OperatorStatusRow>()
  /** Group names by id (`GET /groups`); a group not in it shows its id. */
  readonly groupNames = new Map<string, string>()
  /** The transfer that brought each session here, with its note (operators only; never the client's). */
  readonly transfers = new Map<string, SessionTransfer>()
  private readonly seen = new Set<string>()

  /** Whether this envelope id was applied already (drops duplicates; remembers the newest ids only). */
  isDuplicate(id: string | undefined): boolean {
    if (!id) return false
    if (this.seen.has(id)) return true
    this.seen.add(id)
    if (this.seen.size > SEEN_IDS_KEPT) this.seen.delete(this.seen.values().next().value as string)
    return false
  }

  isMine(s: ChatSession): boolean {
    return this.me !== null && s.operatorId !== null && String(s.operatorId) === String(this.me.id)
  }

  isQueued(s: ChatSession): boolean {
    if (this.isMine(s) || s.status === 'closed' || s.status === 'bot') return false
    if (!(s.status === 'queued' || (s.operatorId === null && s.botStatus === 'HELP'))) return false
    // A supervisor's channel carries every group's queue; its own queues are the shared one and its groups'.
    return !this.isSupervisor() || !s.groupId || (this.me?.groups ?? []).includes(s.groupId)
  }

  isSupervisor(): boolean {
    return this.me?.role === 'supervisor'
  }

  /** My status as the switch shows it; a server without issue 15 has everyone online. */
  myStatus(): { status: OperatorStatus; auto: boolean } {
    return { status: this.me?.status ?? 'online', auto: this.me?.auto ?? this.me?.statusAuto ?? false }
  }

  /** The queues I take from: the shared one, then one per group of mine (and any group a queued session names), by name. */
  queues(): Array<{ groupId: string | null; sessions: ChatSession[] }> {
    const queued = this.queue()
    const groups = new Set<string>(this.me?.groups ?? [])
    for (const s of queued) if (s.groupId) groups.add(s.groupId)
    const byName = [...groups].sort((a, b) => this.groupName(a).localeCompare(this.groupName(b)))
    return [{ groupId: null, sessions: queued.filter((s) => !s.groupId) }, ...byName.map((id) => ({ groupId: id, sessions: queued.filter((s) => s.groupId === id) }))]
  }

  groupName(id: string): string {
    return this.groupNames.get(id) ?? id
  }

  operatorName(id: string | null | undefined): string | null {
    if (id === null || id === undefined) return null
    if (this.me && String(this.me.id) === String(id)) return this.me.name
    return this.operators.get(String(id))?.name ?? null
  }

  /** Every open session (a supervisor's channel carries them all), oldest first. */
  supervised(): ChatSession[] {
    return [...this.sessions.values()].filter((s) => s.status !== 'closed').sort((a, b) => a.startedAt.localeCompare(b.startedAt))
  }

  /** An operator's open sessions: counted from the sessions a supervisor sees (live), else as last reported. */
  loadOf(row: OperatorStatusRow): number {
    if (!this.isSupervisor()) return row.openSessions
    let n = 0
    for (const s of this.sessions.values()) if (s.status === 'assigned' && s.operatorId !== null && String(s.operatorId) === String(row.id)) n += 1
    return n
  }

  /** The operators' list replaces ours (`GET /operators/status`). */
  setOperators(rows: OperatorStatusRow[]): void {
    this.operators.clear()
    for (const r of rows) this.operators.set(String(r.id), { ...r, id: String(r.id) })
  }

  /** Who did a transfer, as a person reads it. */
  transferredBy(t: SessionTransfer): string {
    if (t.by.type === 'api') return 'an administrator'
    return (t.by.id !== null && this.me && String(t.by.id) === String(this.me.id) ? 'you' : t.by.name) ?? 'someone'
  }

  /** Where a transfer sent the session, as a person reads it. */
  transferTarget(t: SessionTransfer): string {
    if (t.toOperatorId) return this.operatorName(t.toOperatorId) ?? 'another operator'
    if (t.toGroupId) return `the ${this.groupName(t.toGroupId)} queue`
    return 'the queue'
  }

  /** Sessions this console shows: mine first (newest activity first), then the queue (oldest first). */
  mine(): ChatSession[] {
    return [...this.sessions.values()].filter((s) => this.isMine(s)).sort((a, b) => activity(b).localeCompare(activity(a)))
  }

  queue(): ChatSession[] {
    return [...this.sessions.values()].filter((s) => this.isQueued(s)).sort((a, b) => a.startedAt.localeCompare(b.startedAt))
  }

  visible(s: ChatSession): boolean {
    return this.isMine(s) || this.isQueued(s)
  }

  openSession(): ChatSession | null {
    return this.openSessionId ? (this.sessions.get(this.openSessionId) ?? null) : null
  }

  /** The server's list replaces ours (after the first connect or an unrecoverable gap). */
  replaceSessions(items: ChatSession[]): void {
    this.sessions.clear()
    for (const s of items) this.sessions.set(s.id, s)
    for (const id of [...this.messages.keys()]) if (!this.sessions.has(id)) this.messages.delete(id)
    for (const id of [...this.transfers.keys()]) if (!this.sessions.has(id)) this.transfers.delete(id)
    if (this.openSessionId && !this.sessions.has(this.openSessionId)) this.openSessionId = null
  }

  setMessages(sessionId: string, items: Message[]): void {
    this.messages.set(sessionId, [...items].sort((a, b) => a.createdAt.localeCompare(b.createdAt)))
  }

  upsertSession(s: ChatSession): void {
    const old = this.sessions.get(s.id)
    // A session event may be older than what a message event already told us; keep the newest message fields.
    if (old && old.lastMessageCreatedAt && s.lastMessageCreatedAt && old.lastMessageCreatedAt > s.lastMessageCreatedAt) {
      this.sessions.set(s.id, { ...s, lastMessage: old.lastMessage, lastMessageCreatedAt: old.lastMessageCreatedAt })
    } else {
      this.sessions.set(s.id, s)
    }
  }

  /** Adds or updates a message (by id; a copy older than what is held keeps its read time and edit) and keeps the session's summary fields in step. */
  upsertMessage(incoming: Message): { known: boolean } {
    const list = this.messages.get(incoming.sessionId)
    const s = this.sessions.get(incoming.sessionId)
    const i = list ? list.findIndex((x) => x.id === incoming.id) : -1
    const m = mergeMessage(i >= 0 ? list![i] : s?.lastMessage?.id === incoming.id ? s.lastMessage : undefined, incoming)
    if (list) {
      if (i >= 0) list[i] = m
      else {
        list.push(m)
        list.sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      }
    }
    if (!s) return { known: false }
    if (s.lastMessage?.id === m.id || !s.lastMessageCreatedAt || m.createdAt >= s.lastMessageCreatedAt) {
      s.lastMessage = m
      s.lastMessageCreatedAt = m.createdAt
    }
    if (s.lastOperatorMessage?.id === m.id) s.lastOperatorMessage = m
    if (s.firstClientMessageAfterLastOperatorMessage?.id === m.id) s.firstClientMessageAfterLastOperatorMessage = m
    return { known: true }
  }

  apply(env: Envelope): Change {
    const name = env.event ?? env.action
    const d = env.data ?? {}
    switch (name) {
      case 'chatSessionStarted':
      case 'chatSessionAdded':
      case 'chatSessionSwitchedFromBotToOperator':
      // Not in events.md yet (proposed): a queued session was assigned, sent to the queue audience so it leaves other queues.
      case 'chatSessionAssigned': {
        const s = d as ChatSession
        this.upsertSession(s)
        if (s.transfer) this.transfers.set(s.id, s.transfer)
        // Added to a holder without a transfer (routing, reassignment): an older note no longer says how it came here.
        else if (name === 'chatSessionAdded') this.transfers.delete(s.id)
        return { sessions: true, chat: this.openSessionId === s.id, notice: name === 'chatSessionAdded' ? this.addedNotice(s) : undefined }
      }
      case 'operatorNotFound': {
        const s = this.sessions.get(d.sessionId)
        if (!s) return { unknownSession: true }
        s.status = d.status ?? s.status
        s.botStatus = d.botStatus ?? s.botStatus
        return { sessions: true, chat: this.openSessionId === s.id }
      }
      case 'chatMessageCreated':
        return this.messageCreated(d as Message)
      case 'chatMessageEdited': {
        const { known } = this.upsertMessage(d as Message)
        return { sessions: known, chat: this.openSessionId === d.sessionId }
      }
      case 'chatMessageRead': {
        const list = this.messages.get(d.sessionId)
        const ids = new Set<string>(Array.isArray(d.messageIds) ? d.messageIds : [])
        for (const m of list ?? []) if (ids.has(m.id) && !m.readAt) m.readAt = d.readAt
        const s = this.sessions.get(d.sessionId)
        if (s?.lastMessage && ids.has(s.lastMessage.id)) s.lastMessage.readAt = d.readAt
        return { chat: this.openSessionId === d.sessionId, sessions: true }
      }
      case 'chatSessionDeleted':
      case 'sessionClosedByClient':
      // Supervisors only: an operator (or a supervisor) closed a session.
      case 'sessionClosedByOperator': {
        const s = this.sessions.get(d.id)
        if (!s) return {}
        const wasOpen = this.openSessionId === s.id
        let notice: string | undefined
        if (name === 'chatSessionDeleted' && MOVED.has(d.reason)) {
          const transfer = d.transfer as SessionTransfer | undefined
          const wasMine = transfer ? this.me !== null && String(transfer.fromOperatorId) === String(this.me.id) : this.isMine(s)
          notice = !wasMine
            ? undefined
            : transfer
              ? `The chat with ${s.name} was transferred to ${this.transferTarget(transfer)}${transfer.by.type === 'operator' ? '' : ` by ${this.transferredBy(transfer)}`}.`
              : `The chat with ${s.name} went to another operator: it waited too long for your answer, or you were offline.`
          // A supervisor keeps watching it: the chatSessionAdded/Started of its new place (same channel) updates it.
          if (this.isSupervisor()) return { sessions: true, chat: wasOpen, notice }
          this.sessions.delete(s.id)
          this.messages.delete(s.id)
          this.transfers.delete(s.id)
          if (wasOpen) this.openSessionId = null
        } else if (name === 'chatSessionDeleted' && d.reason !== 'closed') {
          this.sessions.delete(s.id)
          this.messages.delete(s.id)
          if (wasOpen) this.openSessionId = null
          notice = `The chat with ${s.name} went back to the bot${d.reason ? ` (${d.reason})` : ''}.`
        } else {
          // Closed (`chatSessionDeleted` reason `closed`: by a supervisor, or while queued). A closed chat stays on
          // screen only while it is the open one (see dropClosed).
          const closedHere = s.status === 'closed'
          s.status = 'closed'
          if (!wasOpen) this.sessions.delete(s.id)
          // An operator's close reaches the holder only when someone else (a supervisor) closed it; ours was applied already.
          notice = !this.isMine(s) ? undefined : name === 'sessionClosedByClient' ? `${s.name} closed the chat.` : closedHere ? undefined : `The chat with ${s.name} was closed by someone else.`
        }
        return { sessions: true, chat: wasOpen, notice }
      }
      // Issue 16: the client rated a closed session (to its holder and the supervisors).
      case 'sessionRated': {
        const s = this.sessions.get(d.sessionId)
        if (s) s.rating = { score: d.score, comment: d.comment ?? null, ratedAt: d.ratedAt }
        const who = s?.name || 'A client'
        return { sessions: !!s, chat: this.openSessionId === d.sessionId, notice: `${who} rated the chat ${d.score}/5${d.comment ? `: “${d.comment}”` : '.'}` }
      }
      case 'typing': {
        const t = d as Typing
        // Other operators' typing in a watched session is not the client's.
        if (t.author && t.author.type !== 'client') return {}
        if (t.active && Date.parse(t.until) > Date.now()) this.typing.set(t.chatId, t)
        else this.typing.delete(t.chatId)
        return { sessions: true, chat: this.openSession()?.chatId === t.chatId }
      }
      case 'clientOnline':
      case 'clientOffline': {
        const online = name === 'clientOnline'
        const at = d.at ?? env.at ?? new Date().toISOString()
        let touched = false
        for (const s of this.sessions.values()) {
          if (s.clientId !== d.id && !(d.chatId && s.chatId === d.chatId)) continue
          if (online) s.clientOnlineAt = at
          else s.clientOfflineAt = at
          s.clientOnline = online
          touched = true
        }
        if (!online) for (const s of this.sessions.values()) if (s.clientId === d.id) this.typing.delete(s.chatId)
        return { sessions: touched, chat: touched && this.openSession()?.clientId === d.id }
      }
      case 'operatorStatusChanged': {
        const o = d.operator
        if (!o || o.id === undefined || o.id === null) return {}
        const id = String(o.id)
        const old = this.operators.get(id)
        // The timers act only without a console; a console connecting is what undoes their away/offline.
        const connected = o.auto ? o.status === 'online' : old?.connected
        this.operators.set(id, { ...old, id, name: o.name, status: o.status, auto: !!o.auto, connected, openSessions: o.openSessions, maxChats: o.maxChats })
        if (!this.me || String(this.me.id) !== id) return { operators: true }
        this.me.status = o.status
        this.me.auto = !!o.auto
        const notice = !o.auto ? undefined : o.status === 'online' ? 'Your console connected, so your status is online again.' : `Your status was set to ${o.status} automatically: no console of yours was connected.`
        return { operators: true, status: true, notice }
      }
      case 'operatorBlocked':
        return { end: { kind: 'operatorBlocked', message: `You were blocked on the platform${d.reason ? `: ${d.reason}` : ''}. Ask an administrator to unblock you.` } }
      case 'chatUserExists':
        return { end: { kind: 'chatUserExists', message: `Someone signed in as you elsewhere${d.userAgent ? ` (${d.userAgent})` : ''}${d.ip ? ` from ${d.ip}` : ''}, so this console session was closed.` } }
      // Published by an administrator (the admin page's test event) to this operator or to the queue.
      case 'adminNotice':
        return typeof d.text === 'string' ? { notice: `From the administrators: ${d.text}` } : {}
      case 'operatorLoggedOut':
        return { end: { kind: 'operatorLoggedOut', message: `You were signed out${d.reason ? `: ${d.reason}` : ' (in another tab or by an administrator)'}.` } }
      default:
        return {}
    }
  }

  /** What the new holder is told about a session that came from a colleague: who sent it and the note. */
  private addedNotice(s: ChatSession): string | undefined {
    if (!this.isMine(s)) return undefined
    const t = s.transfer
    if (t) return `${capitalize(this.transferredBy(t))} transferred the chat with ${s.name} to you${t.note ? `: “${t.note}”` : '.'}`
    if (s.previousOperator && String(s.previousOperator.id) !== String(this.me?.id)) return `The chat with ${s.name} came to you from ${s.previousOperator.name ?? 'another operator'}.`
    return undefined
  }

  private messageCreated(m: Message): Change {
    const before = this.sessions.get(m.sessionId)
    // Replayed after a refetch, or our own POST's echo: counted once.
    const seen = before?.lastMessage?.id === m.id || !!this.messages.get(m.sessionId)?.some((x) => x.id === m.id)
    const { known } = this.upsertMessage(m)
    if (!known) return { unknownSession: true }
    const s = this.sessions.get(m.sessionId)!
    if (seen) return { sessions: true, chat: this.openSessionId === s.id }
    if (m.author.type === 'client') {
      this.typing.delete(m.chatId)
      s.firstClientMessageAfterLastOperatorMessage ??= m
      if (this.openSessionId !== s.id) {
        s.unreadClientMessageCount = (s.unreadClientMessageCount ?? 0) + 1
        s.unreadClientMessageExists = true
      }
    } else if (m.author.type === 'operator') {
      s.lastOperatorMessage = m
      s.firstClientMessageAfterLastOperatorMessage = null
    }
    return { sessions: true, chat: this.openSessionId === s.id }
  }

  /** Forgets closed sessions other than the open one (called when the operator moves on). */
  dropClosed(): void {
    for (const s of [...this.sessions.values()]) {
      if (s.status === 'closed' && s.id !== this.openSessionId) {
        this.sessions.delete(s.id)
        this.messages.delete(s.id)
      }
    }
  }

  markOpenRead(): void {
    const s = this.openSession()
    if (s) {
      s.unreadClientMessageCount = 0
      s.unreadClientMessageExists = false
    }
  }

  /** When the operator must answer by (ms since epoch), or null when no answer is due. */
  answerDeadline(s: ChatSession): number | null {
    const waiting = s.firstClientMessageAfterLastOperatorMessage
    if (!waiting || s.status === 'closed') return null
    const seconds = s.lastOperatorMessage ? s.timerNextAnswers : s.timerFirstAnswer
    if (typeof seconds !== 'number' || seconds <= 0) return null
    return Date.parse(waiting.createdAt) + seconds * 1000
  }

  /** Drops typing indicators whose `until` has passed; true when one was dropped. */
  expireTyping(now = Date.now()): boolean {
    let changed = false
    for (const [chatId, t] of this.typing) {
      if (Date.parse(t.until) <= now) {
        this.typing.delete(chatId)
        changed = true
      }
    }
    return changed
  }
}

export function isClientOnline(s: ChatSession): boolean {
  if (typeof s.clientOnline === 'boolean') return s.clientOnline
  if (!s.clientOnlineAt) return false
  return !s.clientOfflineAt || s.clientOnlineAt > s.clientOfflineAt
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

function activity(s: ChatSession): string {
  return s.lastMessageCreatedAt ?? s.operatorAssignedAt ?? s.startedAt
}
