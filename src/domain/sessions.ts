/** Sessions and their messages: writing, reading, editing, closing, bot hand-off, taking from the queue, listing. */
import { randomUUID } from 'node:crypto'
import { Batcher } from '../store/batch.js'
import type { Db } from '../store/db.js'
import {
  clientById,
  insertClientMessageInOpenSession,
  insertClientMessagesInOpenSessions,
  type ClientMessageInput,
  type ClientMessageWritten,
  insertMessage,
  insertSession,
  lastSessionOfChat,
  latestMessages,
  listedSessionIds,
  markRead,
  messageSeqIn,
  messageById,
  messageByIdempotencyKey,
  openSessionOfChat,
  sessionById,
  sessionSeq,
  updateMessageText,
  type Conversation,
  type SessionRow,
} from '../store/chat.js'
import { operatorCapacity, operatorIdentity } from '../store/operators.js'
import { lockedSession, sessionRow, type DomainContext } from './context.js'
import { MAX_TEXT } from './config.js'
import { DomainError } from './errors.js'
import type { ChatSession, Message, SessionRating } from './events.js'
import { transition } from './lifecycle.js'
import { checkNewSessionOfIp } from './ip-limits.js'
import { atMost } from './outbox.js'
import { assign } from './routing.js'
import { groupIdOf } from './groups.js'
import { roleOf } from '../store/availability.js'
import { mayTakeFromGroup } from '../store/groups.js'
import { newId } from './tokens.js'
import type { Typing } from './typing.js'
import { claimForMessage } from './attachments.js'
import { mayReadEarlier } from './history.js'
import { iso, messageView, ratingView, type Page } from './views.js'

export type SessionMode = 'operator' | 'bot'
export type SessionFilter = 'queued' | 'assigned' | 'closed'

/**
 * Client messages in open sessions written at once (store/batch.ts): two statements, then they go together. On
 * PGlite, whose statements take turns, the second runs while the first waits for its WAL fsync off the event loop
 * (store/pglite-durability.ts); there a batch gathers what one event-loop turn read. Those statements skip a session
 * another transaction holds, so a locked chat never takes one of these places.
 */
const MESSAGE_STATEMENTS_IN_FLIGHT = 2
const MESSAGE_BATCH_MAX = 64
/** A message the batcher did not write (its session locked or not open, its key used): written alone, waiting if need be. */
const ALONE = Symbol('alone')

export class Sessions {
  private readonly clientMessages: Batcher<ClientMessageInput & { sending: () => void }, ClientMessageWritten | typeof ALONE>

  constructor(
    private readonly ctx: DomainContext,
    private readonly typing: Typing,
  ) {
    this.clientMessages = new Batcher(async (items) => {
      for (const item of items) item.sending()
      const o = { nodeId: ctx.nodeId, oweWebhooks: ctx.webhooksOwed }
      if (items.length === 1) return [(await insertClientMessageInOpenSession(ctx.db, { ...items[0]!, ...o, skipLocked: true })) ?? ALONE]
      // A batch that fails (one bad item) leaves each of its messages to be written alone.
      const written = await insertClientMessagesInOpenSessions(ctx.db, items, o).catch((err) => {
        ctx.log.warn({ err, messages: items.length }, 'batched client messages failed; writing each alone')
        return []
      })
      return items.map((_, i) => written[i] ?? ALONE)
    }, MESSAGE_STATEMENTS_IN_FLIGHT, MESSAGE_BATCH_MAX, ctx.db.connections === 1)
  }

  // ---- writing ----------------------------------------------------------------------------------

  /**
   * A client's message; opens a session when none is open (`mode` says who gets it). In an open session it
   * is one statement (store/chat.ts); a new session routes under the queue lock. With an `idempotencyKey`, a
   * retry returns the message the first try wrote (on any node), once its events are out.
   */
  async clientMessage(clientId: string, input: { text?: string; mode?: SessionMode; idempotencyKey?: string; group?: string; attachments?: string[] }): Promise<Message> {
    const text = checkText(input.text, input.attachments)
    // The group of a session this message opens (an open session keeps its own); unknown: 400 naming `group`.
    const groupId = input.group === undefined ? undefined : await groupIdOf(this.ctx.db, input.group)
    const chat = await this.ctx.chatKeys.client(clientId)
    const key = input.idempotencyKey === undefined ? undefined : `client:${clientId}:${input.idempotencyKey}`
    const replayed = key && chat ? await this.replay(chat, key) : undefined
    if (replayed) return replayed
    // Files are claimed in the message's transaction: that is the general path, not the one statement.
    const fast = input.attachments?.length ? undefined : await this.clientMessageInOpenSession(clientId, text, key, chat)
    if (fast) {
      // The session says whether the client may be typing: only then does ending the indicator cost a statement.
      if (fast.typingUntil && fast.typingUntil.getTime() > Date.now() - 1_000) await this.typing.stop({ type: 'client', id: clientId }, fast.message.chatId)
      return fast.message
    }
    const message = (key && chat ? await this.replay(chat, key) : undefined) ?? (await this.firstClientMessage(clientId, { ...input, text, groupId }, key, chat))
    await this.typing.stop({ type: 'client', id: clientId }, message.chatId)
    return message
  }

  /** The one-statement path; undefined when the client has no open session (or the key was just used). */
  private async clientMessageInOpenSession(
    clientId: string,
    text: string,
    key: string | undefined,
    chat: string | undefined,
  ): Promise<{ message: Message; typingUntil: Date | null } | undefined> {
    return this.ctx.mutator.onceSent(async (db, out, sending) => {
      const item = { id: newId(), clientId, text, eventId: randomUUID(), idempotencyKey: key, sending }
      const batched = await this.clientMessages.submit(item)
      const written = batched === ALONE
        ? await insertClientMessageInOpenSession(db, { ...item, nodeId: this.ctx.nodeId, oweWebhooks: this.ctx.webhooksOwed })
        : batched
      if (!written) return undefined
      const message = messageView(written.message)
      const { status, operator_id, client_id, group_id } = written.session
      out.written({
        id: written.event.id,
        eventId: item.eventId,
        event: 'chatMessageCreated',
        chatId: message.chatId,
        data: message,
        subject: { session: { status, operator_id, client_id, group_id } },
        at: iso(written.event.created_at)!,
      })
      return { message, typingUntil: written.session.client_typing_until }
    }, { chat })
  }

  /** The client has no open session (or it closed meanwhile): open one and route it. */
  private async firstClientMessage(clientId: string, input: { text: string; mode?: SessionMode; groupId?: string; attachments?: string[] }, key: string | undefined, chat?: string): Promise<Message> {
    const result = await this.ctx.mutator.run(
      async (tx, out) => {
        // load
        const client = await clientById(tx, clientId)
        if (!client) throw new DomainError('not_found', `client ${clientId} not found`)
        let session = await openSessionOfChat(tx, client.chat_id, true)
        // check: a retry that raced its first try finds the message now (both ran under the queue lock)
        const existing = key ? await messageByIdempotencyKey(tx, client.chat_id, key) : undefined
        if (existing) return { message: messageView(existing), replayed: true }
        // change: another request of this chat may have opened the session while we waited for the queue lock
        const starting = !session
        if (starting) await checkNewSessionOfIp(tx, client.ip, this.ctx.config)
        session ??= await insertSession(tx, {
          id: newId(),
          chatId: client.chat_id,
          clientId,
          status: input.mode === 'bot' ? 'bot' : 'queued',
          botStatus: input.mode === 'bot' ? 'BOT' : 'HELP',
          groupId: input.groupId ?? client.group_id,
        })
        const author = { type: 'client' as const, id: clientId, name: client.name }
        const id = newId()
        const attachments = await claimForMessage(tx, input.attachments, { messageId: id, session, author })
        const message = messageView(await insertMessage(tx, { id, session, author, text: input.text, idempotencyKey: key, attachments }))
        // events
        if (starting && session.status === 'queued') await this.ctx.route(tx, out, session, 'chatSessionStarted')
        out.publish('chatMessageCreated', message, { session: (await sessionById(tx, session.id))! })
        return { message, replayed: false }
      },
      { routes: true, chat },
    )
    if (result.replayed) await atMost(this.ctx.publisher.publishChat(result.message.chatId), this.ctx.config.publishWaitMs)
    return result.message
  }

  /** The bot's message (API key). */
  async botMessage(sessionId: string, text: string | undefined, idempotencyKey?: string, attachments?: string[]): Promise<Message> {
    return this.messageInSession(sessionId, text, { type: 'bot', id: null }, idempotencyKey, false, attachments)
  }

  /** An operator's message in a session the operator holds. */
  async operatorMessage(operatorId: string, sessionId: string, text: string | undefined, idempotencyKey?: string, attachments?: string[]): Promise<Message> {
    const message = await this.messageInSession(sessionId, text, { type: 'operator', id: operatorId }, idempotencyKey, false, attachments)
    await this.typing.stop({ type: 'operator', id: operatorId }, message.chatId)
    return message
  }

  /** An internal note (operators and supervisors only): by the holder, a supervisor, or any operator while queued. */
  async operatorNote(operatorId: string, sessionId: string, text: string | undefined, idempotencyKey?: string, attachments?: string[]): Promise<Message> {
    return this.messageInSession(sessionId, text, { type: 'operator', id: operatorId }, idempotencyKey, true, attachments)
  }

  private async messageInSession(
    sessionId: string,
    input: string | undefined,
    author: { type: 'bot' | 'operator'; id: string | null },
    idempotencyKey?: string,
    internal = false,
    attachmentIds?: string[],
  ): Promise<Message> {
    const text = checkText(input, attachmentIds)
    const chat = await this.ctx.chatKeys.session(sessionId)
    const key = idempotencyKey === undefined ? undefined : `${author.type}:${author.id ?? ''}:${idempotencyKey}`
    const result = await this.ctx.mutator.run(async (tx, out) => {
      // load
      const session = await lockedSession(tx, sessionId)
      const existing = key ? await messageByIdempotencyKey(tx, session.chat_id, key) : undefined
      if (existing) return { message: messageView(existing), replayed: true }
      // check
      if (internal) await mayWriteNote(tx, author.id!, session)
      else if (author.type === 'operator' && session.operator_id !== author.id) throw new DomainError('forbidden', 'the session is not assigned to you')
      if (session.status === 'closed') throw new DomainError('conflict', 'the session is closed')
      // change
      const name = author.type === 'bot' ? 'Bot' : ((await operatorIdentity(tx, author.id!))?.name ?? null)
      const id = newId()
      const attachments = await claimForMessage(tx, attachmentIds, { messageId: id, session, author })
      const message = messageView(await insertMessage(tx, { id, session, author: { ...author, name }, text, idempotencyKey: key, internal, attachments }))
      // events
      out.publish('chatMessageCreated', message, { session, internal })
      return { message, replayed: false }
    }, { chat })
    if (result.replayed) await atMost(this.ctx.publisher.publishChat(result.message.chatId), this.ctx.config.publishWaitMs)
    return result.message
  }

  /** A retry of a message already written: the chat's unpublished events go out first, then the same answer. */
  private async replay(chatId: string, key: string): Promise<Message | undefined> {
    const row = await messageByIdempotencyKey(this.ctx.db, chatId, key)
    if (!row) return undefined
    await atMost(this.ctx.publisher.publishChat(chatId), this.ctx.config.publishWaitMs)
    return messageView(row)
  }

  /** Operators edit their own messages in open sessions. */
  async editMessage(operatorId: string, messageId: string, text: string): Promise<Message> {
    checkText(text)
    const chat = await this.ctx.chatKeys.message(messageId)
    return this.ctx.mutator.run(async (tx, out) => {
      const m = await messageById(tx, messageId)
      if (!m) throw new DomainError('not_found', `message ${messageId} not found`)
      if (m.author_type !== 'operator' || m.author_id !== operatorId) throw new DomainError('forbidden', 'only your own messages can be edited')
      const session = await lockedSession(tx, m.session_id)
      if (session.status === 'closed') throw new DomainError('conflict', 'the session is closed')
      const message = messageView(await updateMessageText(tx, messageId, text))
      out.publish('chatMessageEdited', message, { session, internal: m.internal === true })
      return message
    }, { chat })
  }

  // ---- reading -----------------------------------------------------------------------------------

  /** The client read the operators' and bot's messages up to and including `messageId`. */
  async clientRead(clientId: string, messageId: string): Promise<{ chatId: string; sessionId: string; messageIds: string[]; readAt: string }> {
    const chat = await this.ctx.chatKeys.client(clientId)
    return this.ctx.mutator.run(async (tx, out) => {
      const [client, target] = [await clientById(tx, clientId), await messageById(tx, messageId)]
      if (!client || !target || target.chat_id !== client.chat_id) throw new DomainError('not_found', `message ${messageId} not found in this client's chat`)
      const session = await lockedSession(tx, target.session_id)
      const rows = await markRead(tx, { column: 'chat_id', value: target.chat_id, uptoSeq: target.seq, by: 'client' })
      const readAt = rows.length > 0 ? iso(rows[0].read_at)! : new Date().toISOString()
      const result = { chatId: target.chat_id, sessionId: target.session_id, messageIds: rows.map((r) => r.id), readAt }
      if (rows.length > 0) out.publish('chatMessageRead', result, { session, by: 'client' })
      return result
    }, { chat })
  }

  /** The holder read the client's messages up to `messageId` (unread counts); the widget is told. */
  async operatorRead(operatorId: string, sessionId: string, messageId: string): Promise<{ messageIds: string[]; readAt: string }> {
    const chat = await this.ctx.chatKeys.session(sessionId)
    return this.ctx.mutator.run(async (tx, out) => {
      const session = await lockedSession(tx, sessionId)
      if (session.operator_id !== operatorId) throw new DomainError('forbidden', 'the session is not assigned to you')
      const target = await messageById(tx, messageId)
      if (!target || target.session_id !== sessionId) throw new DomainError('not_found', `message ${messageId} not found in this session`)
      const rows = await markRead(tx, { column: 'session_id', value: sessionId, uptoSeq: target.seq, by: 'operator' })
      const readAt = rows.length > 0 ? iso(rows[0].read_at)! : new Date().toISOString()
      const messageIds = rows.map((r) => r.id)
      if (messageIds.length > 0) out.publish('chatMessageRead', { chatId: session.chat_id, sessionId, messageIds, readAt }, { session, by: 'operator' })
      return { messageIds, readAt }
    }, { chat })
  }

  // ---- session state ------------------------------------------------------------------------------
  // Each of these may free an operator's room or fill the queue, so they route under the queue lock.

  async clientClose(clientId: string): Promise<ChatSession> {
    const chat = await this.ctx.chatKeys.client(clientId)
    return this.ctx.mutator.run(
      async (tx, out) => {
        const client = await clientById(tx, clientId)
        if (!client) throw new DomainError('not_found', `client ${clientId} not found`)
        const session = await openSessionOfChat(tx, client.chat_id, true)
        if (!session) throw new DomainError('conflict', 'the client has no open session')
        const closed = await transition(tx, session, 'closed', 'client')
        out.publish('sessionClosedByClient', { id: session.id, chatId: session.chat_id, closedAt: iso(closed.closed_at)! }, { session })
        if (session.status === 'assigned') await this.ctx.drain(tx, out)
        return this.ctx.session(tx, session.id)
      },
      { routes: true, chat },
    )
  }

  async operatorClose(operatorId: string, sessionId: string): Promise<ChatSession> {
    const chat = await this.ctx.chatKeys.session(sessionId)
    return this.ctx.mutator.run(
      async (tx, out) => {
        const session = await lockedSession(tx, sessionId)
        if (session.operator_id !== operatorId && !(await isSupervisor(tx, operatorId))) throw new DomainError('forbidden', 'the session is not assigned to you')
        if (session.status === 'closed') throw new DomainError('conflict', 'the session is already closed')
        const closed = await transition(tx, session, 'closed', 'operator')
        out.publish('sessionClosedByOperator', { id: sessionId, chatId: session.chat_id, closedAt: iso(closed.closed_at)! }, { session })
        // Closed by someone else (a supervisor, or while queued): the holder's console or the queue drops it.
        if (session.operator_id !== operatorId) out.publish('chatSessionDeleted', { id: sessionId, chatId: session.chat_id, reason: 'closed' }, { session })
        await this.ctx.drain(tx, out)
        return this.ctx.session(tx, sessionId)
      },
      { routes: true, chat },
    )
  }

  /** Bot → people: `chatSessionSwitchedFromBotToOperator`, then routing. */
  async handoff(sessionId: string): Promise<ChatSession> {
    const chat = await this.ctx.chatKeys.session(sessionId)
    return this.ctx.mutator.run(
      async (tx, out) => {
        const session = await lockedSession(tx, sessionId)
        if (session.status !== 'bot') throw new DomainError('conflict', `the session is ${session.status}, not with the bot`)
        await this.ctx.route(tx, out, session, 'chatSessionSwitchedFromBotToOperator')
        return this.ctx.session(tx, sessionId)
      },
      { routes: true, chat },
    )
  }

  /** People → bot: the session disappears from its operator (`chatSessionDeleted`). */
  async toBot(sessionId: string, reason?: string): Promise<ChatSession> {
    const chat = await this.ctx.chatKeys.session(sessionId)
    return this.ctx.mutator.run(
      async (tx, out) => {
        const session = await lockedSession(tx, sessionId)
        if (session.status === 'closed') throw new DomainError('conflict', 'the session is closed')
        if (session.status === 'bot') throw new DomainError('conflict', 'the session is already with the bot')
        await transition(tx, session, 'bot')
        const data: { id: string; chatId: string; reason?: string } = { id: sessionId, chatId: session.chat_id }
        if (reason) data.reason = reason
        out.publish('chatSessionDeleted', data, { session })
        if (session.status === 'assigned') await this.ctx.drain(tx, out)
        return this.ctx.session(tx, sessionId)
      },
      { routes: true, chat },
    )
  }

  /** An operator takes a queued session, within maxChats. */
  async accept(operatorId: string, sessionId: string): Promise<ChatSession> {
    const chat = await this.ctx.chatKeys.session(sessionId)
    return this.ctx.mutator.run(
      async (tx, out) => {
        const session = await lockedSession(tx, sessionId)
        if (session.status !== 'queued') throw new DomainError('conflict', `the session is ${session.status}, not queued`)
        const op = await operatorCapacity(tx, operatorId)
        if (!op) throw new DomainError('not_found', `operator ${operatorId} not found`)
        if (op.blocked) throw new DomainError('forbidden', 'operator is blocked')
        // A grouped session is taken by the group's members (and supervisors) only.
        if (session.group_id && !(await mayTakeFromGroup(tx, operatorId, session.group_id))) throw new DomainError('forbidden', 'the session waits for another group')
        if (op.open >= op.max_chats) throw new DomainError('conflict', `maxChats (${op.max_chats}) reached`)
        await assign(tx, session, operatorId)
        const view = await this.ctx.session(tx, sessionId)
        out.publish('chatSessionAdded', view, { operatorId })
        out.publish('chatSessionAssigned', view, {})
        return view
      },
      { routes: true, chat },
    )
  }

  // ---- listing ------------------------------------------------------------------------------------

  /** The operator's sessions and the queue (no filter), or one status: what a console redraws from. */
  async list(operatorId: string, opts: { status?: SessionFilter; limit: number; cursor?: string }): Promise<Page<ChatSession>> {
    // A supervisor sees every open session; an operator the queues of no group and of its groups.
    const supervisor = await isSupervisor(this.ctx.db, operatorId)
    let afterSeq: number | undefined
    if (opts.cursor) {
      afterSeq = await sessionSeq(this.ctx.db, opts.cursor)
      if (afterSeq === undefined) throw new DomainError('bad_request', 'unknown cursor', 'cursor')
    }
    const ids = await listedSessionIds(this.ctx.db, operatorId, { filter: opts.status ?? 'open', supervisor, limit: opts.limit + 1, afterSeq })
    const more = ids.length > opts.limit
    const items = await this.ctx.sessions(this.ctx.db, ids.slice(0, opts.limit))
    return { items, nextCursor: more ? items[items.length - 1].id : null }
  }

  async get(operatorId: string, sessionId: string): Promise<ChatSession> {
    await mayReadSession(this.ctx.db, operatorId, await sessionRow(this.ctx.db, sessionId))
    return this.ctx.session(this.ctx.db, sessionId)
  }

  /** A page of a session's messages, oldest first; `before` pages back in time. */
  async messages(operatorId: string, sessionId: string, opts: { before?: string; limit: number }): Promise<Page<Message>> {
    await mayReadSession(this.ctx.db, operatorId, await sessionRow(this.ctx.db, sessionId))
    return messagePage(this.ctx.db, { column: 'session_id', value: sessionId }, opts)
  }

  /** What the widget shows: the messages of the client's whole chat, newest page first in time order. */
  async chatMessages(clientId: string, opts: { before?: string; limit: number }): Promise<Page<Message> & { session: { id: string; status: string; rating?: SessionRating | null } | null }> {
    const client = await clientById(this.ctx.db, clientId)
    if (!client) throw new DomainError('not_found', `client ${clientId} not found`)
    // its rating tells the widget whether to offer one
    const last = await lastSessionOfChat(this.ctx.db, client.chat_id)
    const page = await messagePage(this.ctx.db, { column: 'chat_id', value: client.chat_id }, opts)
    // only a closed session can be rated, so only a closed one carries `rating`
    return { ...page, session: last ? { id: last.id, status: last.status, ...(last.status === 'closed' ? { rating: ratingView(last) } : {}) } : null }
  }
}

async function isSupervisor(db: Db, operatorId: string): Promise<boolean> {
  return (await roleOf(db, operatorId)) === 'supervisor'
}

/** The message's text; with attachments it may be empty or left out (a file with no caption). */
function checkText(text: unknown, attachments?: string[]): string {
  if ((text === undefined || text === '') && attachments && attachments.length > 0) return ''
  if (typeof text !== 'string' || text.trim().length === 0) throw new DomainError('bad_request', 'text must be a non-empty string', 'text')
  if (text.length > MAX_TEXT) throw new DomainError('payload_too_large', `text is longer than ${MAX_TEXT} characters`, 'text')
  return text
}

/** Notes are written by the holder, a supervisor, or any operator while the session waits in the queue. */
async function mayWriteNote(db: Db, operatorId: string, s: SessionRow): Promise<void> {
  if (s.status === 'queued' || s.operator_id === operatorId) return
  if (await isSupervisor(db, operatorId)) return
  throw new DomainError('forbidden', 'only the holder, a supervisor, or anyone while it is queued may write a note')
}

/**
 * Queued sessions are open to every operator; others to their holder and previous holder, supervisors, and (issue 16,
 * history.ts) an operator who held it before or whose console lists its client's current session.
 */
export async function mayReadSession(db: Db, operatorId: string, s: SessionRow): Promise<void> {
  if (s.status === 'queued' || s.operator_id === operatorId || s.previous_operator_id === operatorId) return
  if ((await isSupervisor(db, operatorId)) || (await mayReadEarlier(db, operatorId, s))) return
  throw new DomainError('forbidden', 'the session is not yours')
}

async function messagePage(db: Db, of: Conversation, opts: { before?: string; limit: number }): Promise<Page<Message>> {
  let beforeSeq: number | undefined
  if (opts.before) {
    beforeSeq = await messageSeqIn(db, opts.before, of)
    if (beforeSeq === undefined) throw new DomainError('bad_request', 'before is not a message of this conversation', 'before')
  }
  // the client's reads (by chat) never include internal notes; operators' (by session) do, marked
  const rows = await latestMessages(db, of, { limit: opts.limit + 1, beforeSeq, notes: of.column === 'session_id' })
  const more = rows.length > opts.limit
  const items = rows.slice(0, opts.limit).reverse().map(messageView)
  return { items, nextCursor: more ? items[0].id : null }
}
