/** Sessions and their messages: writing, reading, editing, closing, bot hand-off, taking from the queue, listing. */
import type { Db } from '../store/db.js'
import { QUEUE_CHANNEL, clientChannel, operatorChannel } from './channels.js'
import { audience, everyone, openSessionOfChat, sessionRow, type DomainContext } from './context.js'
import { MAX_TEXT } from './config.js'
import { DomainError } from './errors.js'
import type { AuthorType, ChatSession, Message } from './events.js'
import type { Outbox } from './outbox.js'
import { newId } from './tokens.js'
import type { Typing } from './typing.js'
import { iso, messageView, type Page, type SessionRow } from './views.js'

interface Author {
  type: AuthorType
  id: string | null
  name: string | null
}

export type SessionMode = 'operator' | 'bot'
export type SessionFilter = 'queued' | 'assigned' | 'closed'

export class Sessions {
  constructor(
    private readonly ctx: DomainContext,
    private readonly typing: Typing,
  ) {}

  // ---- writing ----------------------------------------------------------------------------------

  /** A client's message; opens a session when none is open (`mode` says who gets it). */
  async clientMessage(clientId: string, input: { text: string; mode?: SessionMode }): Promise<Message> {
    checkText(input.text)
    const message = await this.ctx.mutator.run(async (tx, out) => {
      const [client] = await tx.query<any>(`SELECT id, name, chat_id FROM clients WHERE id = $1`, [clientId])
      if (!client) throw new DomainError('not_found', `client ${clientId} not found`)
      let session = await openSessionOfChat(tx, client.chat_id)
      const starting = !session
      if (!session) session = await this.open(tx, client, input.mode ?? 'operator')
      const message = await insertMessage(tx, session, { type: 'client', id: client.id, name: client.name }, input.text)
      if (starting && session.status === 'queued') await this.route(tx, out, session.id, 'chatSessionStarted')
      out.publish(everyone(await sessionRow(tx, session.id)), 'chatMessageCreated', message)
      return message
    })
    await this.typing.stop({ type: 'client', id: clientId, name: null }, message.chatId)
    return message
  }

  /** The bot's message (API key). */
  async botMessage(sessionId: string, text: string): Promise<Message> {
    checkText(text)
    return this.ctx.mutator.run(async (tx, out) => {
      const session = await sessionRow(tx, sessionId)
      if (session.status === 'closed') throw new DomainError('conflict', 'the session is closed')
      const message = await insertMessage(tx, session, { type: 'bot', id: null, name: 'Bot' }, text)
      out.publish(everyone(session), 'chatMessageCreated', message)
      return message
    })
  }

  /** An operator's message in a session the operator holds. */
  async operatorMessage(operatorId: string, sessionId: string, text: string): Promise<Message> {
    checkText(text)
    const message = await this.ctx.mutator.run(async (tx, out) => {
      const session = await sessionRow(tx, sessionId)
      if (session.operator_id !== operatorId) throw new DomainError('forbidden', 'the session is not assigned to you')
      if (session.status === 'closed') throw new DomainError('conflict', 'the session is closed')
      const [op] = await tx.query<any>(`SELECT name FROM operators WHERE id = $1`, [operatorId])
      const message = await insertMessage(tx, session, { type: 'operator', id: operatorId, name: op.name }, text)
      out.publish([operatorChannel(operatorId), clientChannel(session.client_id)], 'chatMessageCreated', message)
      return message
    })
    await this.typing.stop({ type: 'operator', id: operatorId, name: null }, message.chatId)
    return message
  }

  /** Operators edit their own messages in open sessions. */
  async editMessage(operatorId: string, messageId: string, text: string): Promise<Message> {
    checkText(text)
    return this.ctx.mutator.run(async (tx, out) => {
      const [m] = await tx.query<any>(`SELECT * FROM messages WHERE id = $1`, [messageId])
      if (!m) throw new DomainError('not_found', `message ${messageId} not found`)
      if (m.author_type !== 'operator' || m.author_id !== operatorId) throw new DomainError('forbidden', 'only your own messages can be edited')
      const session = await sessionRow(tx, m.session_id)
      if (session.status === 'closed') throw new DomainError('conflict', 'the session is closed')
      const [row] = await tx.query<any>(`UPDATE messages SET text = $2, edited_at = clock_timestamp() WHERE id = $1 RETURNING *`, [
        messageId,
        text,
      ])
      const message = messageView(row)
      out.publish(everyone(session), 'chatMessageEdited', message)
      return message
    })
  }

  // ---- reading -----------------------------------------------------------------------------------

  /** The client read the operators' and bot's messages up to and including `messageId`. */
  async clientRead(clientId: string, messageId: string): Promise<{ chatId: string; sessionId: string; messageIds: string[]; readAt: string }> {
    return this.ctx.mutator.run(async (tx, out) => {
      const [target] = await tx.query<any>(
        `SELECT m.* FROM messages m JOIN clients c ON c.chat_id = m.chat_id WHERE m.id = $1 AND c.id = $2`,
        [messageId, clientId],
      )
      if (!target) throw new DomainError('not_found', `message ${messageId} not found in this client's chat`)
      const rows = await tx.query<any>(
        `UPDATE messages SET read_at = clock_timestamp()
          WHERE chat_id = $1 AND seq <= $2 AND author_type <> 'client' AND read_at IS NULL RETURNING id, seq, read_at`,
        [target.chat_id, target.seq],
      )
      rows.sort((a, b) => a.seq - b.seq)
      const readAt = rows.length > 0 ? iso(rows[0].read_at)! : new Date().toISOString()
      const result = { chatId: target.chat_id as string, sessionId: target.session_id as string, messageIds: rows.map((r) => r.id as string), readAt }
      if (rows.length > 0) {
        const session = await sessionRow(tx, target.session_id)
        const channels = audience(session)
        if (channels.length > 0) out.publish(channels, 'chatMessageRead', result)
      }
      return result
    })
  }

  /** The holder read the client's messages up to `messageId` (unread counts); the widget is told. */
  async operatorRead(operatorId: string, sessionId: string, messageId: string): Promise<{ messageIds: string[]; readAt: string }> {
    return this.ctx.mutator.run(async (tx, out) => {
      const session = await sessionRow(tx, sessionId)
      if (session.operator_id !== operatorId) throw new DomainError('forbidden', 'the session is not assigned to you')
      const [target] = await tx.query<any>(`SELECT seq FROM messages WHERE id = $1 AND session_id = $2`, [messageId, sessionId])
      if (!target) throw new DomainError('not_found', `message ${messageId} not found in this session`)
      const rows = await tx.query<any>(
        `UPDATE messages SET read_at = clock_timestamp()
          WHERE session_id = $1 AND seq <= $2 AND author_type = 'client' AND read_at IS NULL RETURNING id, seq, read_at`,
        [sessionId, target.seq],
      )
      rows.sort((a, b) => a.seq - b.seq)
      const readAt = rows.length > 0 ? iso(rows[0].read_at)! : new Date().toISOString()
      const messageIds = rows.map((r) => r.id as string)
      if (messageIds.length > 0) {
        out.publish(clientChannel(session.client_id), 'chatMessageRead', { chatId: session.chat_id, sessionId, messageIds, readAt })
      }
      return { messageIds, readAt }
    })
  }

  // ---- session state ------------------------------------------------------------------------------

  async clientClose(clientId: string): Promise<ChatSession> {
    return this.ctx.mutator.run(async (tx, out) => {
      const [client] = await tx.query<any>(`SELECT chat_id FROM clients WHERE id = $1`, [clientId])
      if (!client) throw new DomainError('not_found', `client ${clientId} not found`)
      const session = await openSessionOfChat(tx, client.chat_id)
      if (!session) throw new DomainError('conflict', 'the client has no open session')
      const closedAt = await close(tx, session.id, 'client')
      out.publish(everyone(session), 'sessionClosedByClient', { id: session.id, chatId: session.chat_id, closedAt })
      if (session.status === 'assigned') await this.ctx.drain(tx, out)
      return this.ctx.session(tx, session.id)
    })
  }

  async operatorClose(operatorId: string, sessionId: string): Promise<ChatSession> {
    return this.ctx.mutator.run(async (tx, out) => {
      const session = await sessionRow(tx, sessionId)
      if (session.operator_id !== operatorId) throw new DomainError('forbidden', 'the session is not assigned to you')
      if (session.status === 'closed') throw new DomainError('conflict', 'the session is already closed')
      const closedAt = await close(tx, sessionId, 'operator')
      out.publish(clientChannel(session.client_id), 'sessionClosedByOperator', { id: sessionId, chatId: session.chat_id, closedAt })
      await this.ctx.drain(tx, out)
      return this.ctx.session(tx, sessionId)
    })
  }

  /** Bot → people: `chatSessionSwitchedFromBotToOperator`, then routing. */
  async handoff(sessionId: string): Promise<ChatSession> {
    return this.ctx.mutator.run(async (tx, out) => {
      const session = await sessionRow(tx, sessionId)
      if (session.status !== 'bot') throw new DomainError('conflict', `the session is ${session.status}, not with the bot`)
      await this.route(tx, out, sessionId, 'chatSessionSwitchedFromBotToOperator')
      return this.ctx.session(tx, sessionId)
    })
  }

  /** People → bot: the session disappears from its operator (`chatSessionDeleted`). */
  async toBot(sessionId: string, reason?: string): Promise<ChatSession> {
    return this.ctx.mutator.run(async (tx, out) => {
      const session = await sessionRow(tx, sessionId)
      if (session.status === 'closed') throw new DomainError('conflict', 'the session is closed')
      if (session.status === 'bot') throw new DomainError('conflict', 'the session is already with the bot')
      await tx.query(
        `UPDATE sessions SET status = 'bot', bot_status = 'BOT', previous_operator_id = COALESCE(operator_id, previous_operator_id),
                operator_id = NULL, operator_assigned_at = NULL, queue_seq = NULL WHERE id = $1`,
        [sessionId],
      )
      const data: { id: string; chatId: string; reason?: string } = { id: sessionId, chatId: session.chat_id }
      if (reason) data.reason = reason
      out.publish(audience(session), 'chatSessionDeleted', data)
      if (session.status === 'assigned') await this.ctx.drain(tx, out)
      return this.ctx.session(tx, sessionId)
    })
  }

  /** An operator takes a queued session, within maxChats. */
  async accept(operatorId: string, sessionId: string): Promise<ChatSession> {
    return this.ctx.mutator.run(async (tx, out) => {
      const session = await sessionRow(tx, sessionId)
      if (session.status !== 'queued') throw new DomainError('conflict', `the session is ${session.status}, not queued`)
      const [op] = await tx.query<any>(
        `SELECT max_chats, blocked, (SELECT count(*)::int FROM sessions s WHERE s.operator_id = o.id AND s.status = 'assigned') AS open
           FROM operators o WHERE id = $1`,
        [operatorId],
      )
      if (op.blocked) throw new DomainError('forbidden', 'operator is blocked')
      if (op.open >= op.max_chats) throw new DomainError('conflict', `maxChats (${op.max_chats}) reached`)
      await tx.query(
        `UPDATE sessions SET status = 'assigned', bot_status = 'OPERATOR', operator_id = $2, operator_assigned_at = clock_timestamp() WHERE id = $1`,
        [sessionId, operatorId],
      )
      await tx.query(`UPDATE operators SET last_assigned_at = clock_timestamp() WHERE id = $1`, [operatorId])
      const view = await this.ctx.session(tx, sessionId)
      out.publish(operatorChannel(operatorId), 'chatSessionAdded', view)
      out.publish(QUEUE_CHANNEL, 'chatSessionAssigned', view)
      return view
    })
  }

  // ---- listing ------------------------------------------------------------------------------------

  /** The operator's sessions and the queue (no filter), or one status: what a console redraws from. */
  async list(operatorId: string, opts: { status?: SessionFilter; limit: number; cursor?: string }): Promise<Page<ChatSession>> {
    const params: unknown[] = [operatorId, opts.limit + 1]
    const where =
      opts.status === 'queued'
        ? `s.status = 'queued' AND $1::text IS NOT NULL` // every query binds $1
        : opts.status === 'assigned'
          ? `s.status = 'assigned' AND s.operator_id = $1`
          : opts.status === 'closed'
            ? `s.status = 'closed' AND s.operator_id = $1`
            : `((s.status = 'assigned' AND s.operator_id = $1) OR s.status = 'queued')`
    let after = ''
    if (opts.cursor) {
      const [c] = await this.ctx.db.query<any>(`SELECT seq FROM sessions WHERE id = $1`, [opts.cursor])
      if (!c) throw new DomainError('bad_request', 'unknown cursor', 'cursor')
      params.push(c.seq)
      after = ' AND s.seq > $3'
    }
    const rows = await this.ctx.db.query<any>(`SELECT s.id FROM sessions s WHERE ${where}${after} ORDER BY s.seq LIMIT $2`, params)
    const more = rows.length > opts.limit
    const items = await this.ctx.sessions(this.ctx.db, rows.slice(0, opts.limit).map((r) => r.id))
    return { items, nextCursor: more ? items[items.length - 1].id : null }
  }

  async get(operatorId: string, sessionId: string): Promise<ChatSession> {
    const session = await sessionRow(this.ctx.db, sessionId)
    mayRead(operatorId, session)
    return this.ctx.session(this.ctx.db, sessionId)
  }

  /** A page of a session's messages, oldest first; `before` pages back in time. */
  async messages(operatorId: string, sessionId: string, opts: { before?: string; limit: number }): Promise<Page<Message>> {
    const session = await sessionRow(this.ctx.db, sessionId)
    mayRead(operatorId, session)
    return messagePage(this.ctx.db, 'session_id', sessionId, opts)
  }

  /** What the widget shows: the messages of the client's whole chat, newest page first in time order. */
  async chatMessages(clientId: string, opts: { before?: string; limit: number }): Promise<Page<Message> & { session: { id: string; status: string } | null }> {
    const [client] = await this.ctx.db.query<any>(`SELECT chat_id FROM clients WHERE id = $1`, [clientId])
    if (!client) throw new DomainError('not_found', `client ${clientId} not found`)
    const [last] = await this.ctx.db.query<any>(`SELECT id, status FROM sessions WHERE chat_id = $1 ORDER BY seq DESC LIMIT 1`, [client.chat_id])
    const page = await messagePage(this.ctx.db, 'chat_id', client.chat_id, opts)
    return { ...page, session: last ? { id: last.id, status: last.status } : null }
  }

  // ---- internals ----------------------------------------------------------------------------------

  private async open(tx: Db, client: { id: string; chat_id: string }, mode: SessionMode): Promise<SessionRow> {
    const [row] = await tx.query<SessionRow>(
      `INSERT INTO sessions (id, chat_id, client_id, status, bot_status) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
      [newId(), client.chat_id, client.id, mode === 'bot' ? 'bot' : 'queued', mode === 'bot' ? 'BOT' : 'HELP'],
    )
    return row
  }

  /**
   * Puts a session in the queue and drains it. Events: `first` (the session as routing left it) to the queue
   * audience, `chatSessionAdded` to each assignee, and `operatorNotFound` when this session stays queued.
   */
  private async route(tx: Db, out: Outbox, sessionId: string, first: 'chatSessionStarted' | 'chatSessionSwitchedFromBotToOperator'): Promise<void> {
    await tx.query(
      `UPDATE sessions SET status = 'queued', bot_status = 'HELP', operator_id = NULL, queue_seq = nextval('session_queue_seq') WHERE id = $1`,
      [sessionId],
    )
    const assignments = await this.ctx.router.drain(tx)
    const ids = [sessionId, ...assignments.map((a) => a.sessionId).filter((id) => id !== sessionId)]
    const views = new Map((await this.ctx.sessions(tx, ids)).map((v) => [v.id, v]))
    const session = views.get(sessionId)!
    out.publish(QUEUE_CHANNEL, first, session)
    for (const a of assignments) {
      out.publish(operatorChannel(a.operatorId), 'chatSessionAdded', views.get(a.sessionId)!)
      // The session just started was shown assigned already; the others leave the queue now.
      if (a.sessionId !== sessionId) out.publish(QUEUE_CHANNEL, 'chatSessionAssigned', views.get(a.sessionId)!)
    }
    if (session.status === 'queued') {
      out.publish(QUEUE_CHANNEL, 'operatorNotFound', {
        botStatus: 'HELP',
        chatId: session.chatId,
        operatorType: 'operator',
        sessionId,
        status: 'queued',
      })
    }
  }
}

function checkText(text: unknown): asserts text is string {
  if (typeof text !== 'string' || text.trim().length === 0) throw new DomainError('bad_request', 'text must be a non-empty string', 'text')
  if (text.length > MAX_TEXT) throw new DomainError('payload_too_large', `text is longer than ${MAX_TEXT} characters`, 'text')
}

/** Queued sessions are open to every operator; others to their holder and previous holder. */
function mayRead(operatorId: string, s: SessionRow): void {
  if (s.status === 'queued' || s.operator_id === operatorId || s.previous_operator_id === operatorId) return
  throw new DomainError('forbidden', 'the session is not yours')
}

async function insertMessage(tx: Db, session: SessionRow, author: Author, text: string): Promise<Message> {
  const [row] = await tx.query<any>(
    `INSERT INTO messages (id, session_id, chat_id, author_type, author_id, author_name, text, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp()) RETURNING *`,
    [newId(), session.id, session.chat_id, author.type, author.id, author.name, text],
  )
  return messageView(row)
}

async function close(tx: Db, sessionId: string, by: 'client' | 'operator'): Promise<string> {
  const [row] = await tx.query<any>(
    `UPDATE sessions SET status = 'closed', closed_at = clock_timestamp(), closed_by = $2, queue_seq = NULL WHERE id = $1 RETURNING closed_at`,
    [sessionId, by],
  )
  return iso(row.closed_at)!
}

async function messagePage(db: Db, column: 'session_id' | 'chat_id', value: string, opts: { before?: string; limit: number }): Promise<Page<Message>> {
  const params: unknown[] = [value, opts.limit + 1]
  let before = ''
  if (opts.before) {
    const [b] = await db.query<any>(`SELECT seq FROM messages WHERE id = $1 AND ${column} = $2`, [opts.before, value])
    if (!b) throw new DomainError('bad_request', 'before is not a message of this conversation', 'before')
    params.push(b.seq)
    before = ' AND seq < $3'
  }
  const rows = await db.query<any>(`SELECT * FROM messages WHERE ${column} = $1${before} ORDER BY seq DESC LIMIT $2`, params)
  const more = rows.length > opts.limit
  const items = rows.slice(0, opts.limit).reverse().map(messageView)
  return { items, nextCursor: more ? items[0].id : null }
}
