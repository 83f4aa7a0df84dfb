/**
 * The console's state and how each live event of events.md changes it. No DOM and no I/O, so the
 * rules can be read (and tested) on their own; src/console/main.ts renders what `apply` reports.
 */
import type { ChatSession, Envelope, Message, Operator, Typing } from '../shared/types.js'

/** Why the console session ended, from the events that throw an operator out. */
export type EndReason = { kind: 'operatorBlocked' | 'chatUserExists' | 'operatorLoggedOut' | 'unauthorized'; message: string }

export interface Change {
  sessions?: boolean
  chat?: boolean
  end?: EndReason
  /** The event referred to a session this console does not know: its list is stale. */
  unknownSession?: boolean
  notice?: string
}

const SEEN_IDS_KEPT = 2000

export class ConsoleState {
  me: Operator | null = null
  readonly sessions = new Map<string, ChatSession>()
  /** Messages of sessions whose chat has been opened, by session id, oldest first. */
  readonly messages = new Map<string, Message[]>()
  /** The client's typing, by chat id. */
  readonly typing = new Map<string, Typing>()
  openSessionId: string | null = null
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
    return !this.isMine(s) && s.status !== 'closed' && s.status !== 'bot' && (s.status === 'queued' || (s.operatorId === null && s.botStatus === 'HELP'))
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

  /** Adds or replaces a message (by id) and keeps the session's summary fields in step. */
  upsertMessage(m: Message): { known: boolean } {
    const list = this.messages.get(m.sessionId)
    if (list) {
      const i = list.findIndex((x) => x.id === m.id)
      if (i >= 0) list[i] = m
      else {
        list.push(m)
        list.sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      }
    }
    const s = this.sessions.get(m.sessionId)
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
      case 'chatSessionAssigned':
        this.upsertSession(d as ChatSession)
        return { sessions: true, chat: this.openSessionId === d.id }
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
      case 'sessionClosedByClient': {
        const s = this.sessions.get(d.id)
        if (!s) return {}
        const wasOpen = this.openSessionId === s.id
        let notice: string | undefined
        if (name === 'chatSessionDeleted') {
          this.sessions.delete(s.id)
          this.messages.delete(s.id)
          if (wasOpen) this.openSessionId = null
          notice = `The chat with ${s.name} went back to the bot${d.reason ? ` (${d.reason})` : ''}.`
        } else {
          // A closed chat stays on screen only while it is the open one (see dropClosed).
          s.status = 'closed'
          if (!wasOpen) this.sessions.delete(s.id)
          notice = this.isMine(s) ? `${s.name} closed the chat.` : undefined
        }
        return { sessions: true, chat: wasOpen, notice }
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

function activity(s: ChatSession): string {
  return s.lastMessageCreatedAt ?? s.operatorAssignedAt ?? s.startedAt
}
