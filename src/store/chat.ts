/**
 * The SQL of chats: clients, sessions and messages, behind typed functions. Row types are the tables'
 * columns; the domain turns them into the shapes of events.md (src/domain/views.ts).
 *
 * Locking contract (src/domain/outbox.ts): a use case that changes a chat locks its session row
 * (`FOR UPDATE`) and nothing wider; a use case that routes takes the queue lock before any row lock.
 */
import type { Db } from './db.js'
import { oweDeliveries } from './webhooks.js'

export type SessionStatus = 'bot' | 'queued' | 'assigned' | 'closed'
export type AuthorType = 'client' | 'operator' | 'bot' | 'system'

export interface ClientRow {
  id: string
  chat_id: string
  name: string
  external_id: string | null
  channel: string
  messenger_type: string | null
  whatsapp_phone: string | null
  ip: string | null
  referer: string | null
  coordinates: unknown
  banned: boolean
  online: boolean
  online_at: Date | null
  offline_at: Date | null
  created_at: Date
  /** The group its sessions start in (migration 007). */
  group_id: string | null
}

export interface SessionRow {
  id: string
  seq: number
  chat_id: string
  client_id: string
  status: SessionStatus
  bot_status: string | null
  operator_id: string | null
  previous_operator_id: string | null
  queue_seq: number | null
  started_at: Date
  operator_assigned_at: Date | null
  closed_at: Date | null
  closed_by: string | null
  /** Until when the client's typing indicator may show (a message of the client ends it before then). */
  client_typing_until: Date | null
  /** The group it is routed in (migration 007); null: any operator, the shared queue. */
  group_id: string | null
  /** Queued in a group outside its working hours with no fallback (routed when they open). */
  group_closed: boolean
}

export interface MessageRow {
  id: string
  seq: number
  session_id: string
  chat_id: string
  author_type: AuthorType
  author_id: string | null
  author_name: string | null
  text: string
  attachments: unknown[]
  created_at: Date
  edited_at: Date | null
  /** Its receipt's time (message_reads, migration 020): statements that return messages add it with `readAtOf`. */
  read_at: Date | null
  /** An internal note: operators and supervisors only (migration 009). */
  internal: boolean
}

/**
 * The time of the receipt (migration 020) of the message row `alias`, NULL while it is unread: a lookup by the
 * receipts' key per row, so it goes where the rows are already few (after a LIMIT, a DISTINCT ON).
 */
export const receiptOf = (alias: string) => `(SELECT r.read_at FROM message_reads r WHERE r.message_id = ${alias}.id)`

/** `read_at` for the message rows `alias` a statement returns. */
export const readAtOf = (alias: string) => `${receiptOf(alias)} AS read_at`

/** A message row as JSON (`to_jsonb(m)` in a bigger query): its times as text. */
export type MessageJson = Omit<MessageRow, 'created_at' | 'edited_at' | 'read_at'> & { created_at: string; edited_at: string | null; read_at: string | null }

export interface Author {
  type: AuthorType
  id: string | null
  name: string | null
}

// ---- clients ---------------------------------------------------------------------------------------

export async function clientById(db: Db, id: string): Promise<ClientRow | undefined> {
  const [row] = await db.query<ClientRow>(`SELECT * FROM clients WHERE id = $1`, [id])
  return row
}

/** A new client's columns: those of its row that are not defaults, and the hash of its widget token. */
export type NewClientRow = Pick<
  ClientRow,
  'id' | 'chat_id' | 'name' | 'external_id' | 'channel' | 'messenger_type' | 'whatsapp_phone' | 'ip' | 'referer' | 'coordinates' | 'group_id'
> & { token_hash: string }

export async function insertClient(db: Db, c: NewClientRow): Promise<ClientRow> {
  const [row] = await db.query<ClientRow>(
    `INSERT INTO clients (id, chat_id, name, external_id, channel, messenger_type, whatsapp_phone, ip, referer, coordinates, token_hash, group_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
    [
      c.id,
      c.chat_id,
      c.name,
      c.external_id,
      c.channel,
      c.messenger_type,
      c.whatsapp_phone,
      c.ip,
      c.referer,
      c.coordinates ? JSON.stringify(c.coordinates) : null,
      c.token_hash,
      c.group_id,
    ],
  )
  return row
}

/** Replaces the client's token, counted as used now (the one before stops working); false when there is no such client. */
export async function setClientToken(db: Db, id: string, tokenHash: string): Promise<boolean> {
  const rows = await db.query(`UPDATE clients SET token_hash = $2, token_used_at = now() WHERE id = $1 RETURNING id`, [id, tokenHash])
  return rows.length > 0
}

/** A widget token's client and the token's age (idleTtlMs 0: it never expires): unused past its idle lifetime, last use older than `useResolutionMs`. */
export interface ClientOfTokenRow extends ClientRow {
  token_idle_expired: boolean
  token_use_stale: boolean
}

export async function clientOfToken(db: Db, tokenHash: string, o: { idleTtlMs: number; useResolutionMs: number }): Promise<ClientOfTokenRow | undefined> {
  const [row] = await db.query<ClientOfTokenRow>(
    `SELECT *, ($2::float8 > 0 AND token_used_at <= now() - make_interval(secs => $2::float8 / 1000)) AS token_idle_expired,
              ($2::float8 > 0 AND token_used_at < now() - make_interval(secs => $3::float8 / 1000)) AS token_use_stale
         FROM clients WHERE token_hash = $1`,
    [tokenHash, o.idleTtlMs, o.useResolutionMs],
  )
  return row
}

/**
 * Sets the client's presence (its row locked `FOR NO KEY UPDATE`), stamping `online_at`/`offline_at` on a change;
 * coming online clears a due offline. With whether it was online before; undefined when there is no such client.
 */
export async function setClientOnline(db: Db, id: string, online: boolean): Promise<(ClientRow & { was_online: boolean }) | undefined> {
  const [row] = await db.query<ClientRow & { was_online: boolean }>(
    `WITH before AS (SELECT online FROM clients WHERE id = $1 FOR NO KEY UPDATE)
         UPDATE clients c SET online = $2,
                online_at = CASE WHEN $2 AND NOT before.online THEN clock_timestamp() ELSE c.online_at END,
                offline_at = CASE WHEN NOT $2 AND before.online THEN clock_timestamp() ELSE c.offline_at END,
                -- a connection is back: no offline is due any more
                offline_due_at = CASE WHEN $2 THEN NULL ELSE c.offline_due_at END
           FROM before WHERE c.id = $1 RETURNING c.*, before.online AS was_online`,
    [id, online],
  )
  return row
}

/** The chat a client, session or message belongs to (it never changes once written). */
export async function chatOf(db: Db, table: 'clients' | 'sessions' | 'messages', id: string): Promise<string | undefined> {
  const [row] = await db.query<{ chat_id: string }>(`SELECT chat_id FROM ${table} WHERE id = $1`, [id])
  return row?.chat_id
}

/** What an operator typing in a chat needs: the chat's client, its open session (nulls when none), the operator's name. */
export type TypingTargetRow = { client_id: string; operator_name: string | null } & (
  | { session_id: string; status: SessionStatus; operator_id: string | null }
  | { session_id: null; status: null; operator_id: null }
)

export async function typingTarget(db: Db, chatId: string, operatorId: string): Promise<TypingTargetRow | undefined> {
  const [row] = await db.query<TypingTargetRow>(
    `SELECT c.id AS client_id, s.id AS session_id, s.status, s.operator_id, o.name AS operator_name
         FROM clients c LEFT JOIN sessions s ON s.chat_id = c.chat_id AND s.status <> 'closed'
         LEFT JOIN operators o ON o.id = $2
        WHERE c.chat_id = $1`,
    [chatId, operatorId],
  )
  return row
}

// ---- sessions --------------------------------------------------------------------------------------

/** The session, locked for the rest of the transaction when `lock`. */
export async function sessionById(db: Db, id: string, lock = false): Promise<SessionRow | undefined> {
  const [row] = await db.query<SessionRow>(`SELECT * FROM sessions WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id])
  return row
}

export async function openSessionOfChat(db: Db, chatId: string, lock = false): Promise<SessionRow | undefined> {
  const [row] = await db.query<SessionRow>(`SELECT * FROM sessions WHERE chat_id = $1 AND status <> 'closed'${lock ? ' FOR UPDATE' : ''}`, [chatId])
  return row
}

export async function insertSession(
  db: Db,
  s: { id: string; chatId: string; clientId: string; status: 'bot' | 'queued'; botStatus: string; groupId?: string | null },
): Promise<SessionRow> {
  const [row] = await db.query<SessionRow>(
    // A session born queued takes its place in the queue now; it keeps it when it comes back (ENTER.queued).
    `INSERT INTO sessions (id, chat_id, client_id, status, bot_status, group_id, queue_seq, queued_at)
     VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $4 = 'queued' THEN nextval('session_queue_seq') END, CASE WHEN $4 = 'queued' THEN clock_timestamp() END) RETURNING *`,
    [s.id, s.chatId, s.clientId, s.status, s.botStatus, s.groupId ?? null],
  )
  return row
}

/** How each status is entered: the columns a move into it sets (the allowed moves are in src/domain/lifecycle.ts). */
const ENTER: Record<SessionStatus, string> = {
  // A requeued session keeps its place; a new or handed-off one gets the next.
  queued: `bot_status = 'HELP', previous_operator_id = COALESCE(operator_id, previous_operator_id), operator_id = NULL,
           queue_seq = COALESCE(queue_seq, nextval('session_queue_seq')), queued_at = COALESCE(queued_at, clock_timestamp())`,
  assigned: `bot_status = 'OPERATOR', operator_id = $3, operator_assigned_at = clock_timestamp()`,
  bot: `bot_status = 'BOT', previous_operator_id = COALESCE(operator_id, previous_operator_id), operator_id = NULL,
        operator_assigned_at = NULL, queue_seq = NULL`,
  closed: `closed_at = clock_timestamp(), closed_by = $3, queue_seq = NULL`,
}

/**
 * Moves a session from `from` to `to`; undefined when it is no longer in `from` (a concurrent change won).
 * `arg` is the operator for 'assigned' and who closed for 'closed'.
 */
export async function setSessionStatus(db: Db, id: string, from: SessionStatus, to: SessionStatus, arg: string | null = null): Promise<SessionRow | undefined> {
  const uses = to === 'assigned' || to === 'closed'
  const [row] = await db.query<SessionRow>(
    `UPDATE sessions SET status = '${to}', ${ENTER[to]} WHERE id = $1 AND status = $2 RETURNING *`,
    uses ? [id, from, arg] : [id, from],
  )
  return row
}

/** The session's `seq` (a page cursor); with `clientId`, only when it is that client's session. */
export async function sessionSeq(db: Db, id: string, clientId?: string): Promise<number | undefined> {
  const [row] =
    clientId === undefined
      ? await db.query<{ seq: number }>(`SELECT seq FROM sessions WHERE id = $1`, [id])
      : await db.query<{ seq: number }>(`SELECT seq FROM sessions WHERE id = $1 AND client_id = $2`, [id, clientId])
  return row === undefined ? undefined : Number(row.seq)
}

/** A session's rating as columns of a joined row (`session_ratings`); nulls while unrated. */
export interface RatingColumns {
  rating_score: number | null
  rating_comment: string | null
  rated_at: Date | null
}

/** The chat's latest session with its rating. */
export async function lastSessionOfChat(db: Db, chatId: string): Promise<(Pick<SessionRow, 'id' | 'status'> & RatingColumns) | undefined> {
  const [row] = await db.query<Pick<SessionRow, 'id' | 'status'> & RatingColumns>(
    `SELECT s.id, s.status, sr.score AS rating_score, sr.comment AS rating_comment, sr.created_at AS rated_at
         FROM sessions s LEFT JOIN session_ratings sr ON sr.session_id = s.id WHERE s.chat_id = $1 ORDER BY s.seq DESC LIMIT 1`,
    [chatId],
  )
  return row
}

/** What a console lists (GET /sessions): its open sessions (held and queued), or those of one status. */
export type SessionListFilter = 'open' | 'queued' | 'assigned' | 'closed'

/** The queues operator $1 sees: the shared one and its groups'. */
const MY_QUEUES = `(s.group_id IS NULL OR s.group_id IN (SELECT og.group_id FROM operator_groups og WHERE og.operator_id = $1))`

/** What an operator $1 lists: the sessions it holds and the queues it sees. */
const OPERATOR_LIST: Record<SessionListFilter, string> = {
  open: `((s.status = 'assigned' AND s.operator_id = $1) OR (s.status = 'queued' AND ${MY_QUEUES}))`,
  queued: `s.status = 'queued' AND ${MY_QUEUES}`,
  assigned: `s.status = 'assigned' AND s.operator_id = $1`,
  closed: `s.status = 'closed' AND s.operator_id = $1`,
}

/** What a supervisor $1 lists: every open session, or every one of a status (closed: its own). */
const SUPERVISOR_LIST: Record<SessionListFilter, string> = {
  open: `s.status <> 'closed' AND $1::text IS NOT NULL`,
  queued: `s.status = 'queued' AND $1::text IS NOT NULL`,
  assigned: `s.status = 'assigned' AND $1::text IS NOT NULL`,
  closed: `s.status = 'closed' AND s.operator_id = $1`,
}

/** Up to `limit` ids of the sessions operator `operatorId` lists, in `seq` order, after the session of `afterSeq` when given. */
export async function listedSessionIds(
  db: Db,
  operatorId: string,
  q: { filter: SessionListFilter; supervisor: boolean; limit: number; afterSeq?: number },
): Promise<string[]> {
  const params: unknown[] = [operatorId, q.limit]
  const where = (q.supervisor ? SUPERVISOR_LIST : OPERATOR_LIST)[q.filter]
  let after = ''
  if (q.afterSeq !== undefined) {
    params.push(q.afterSeq)
    after = ' AND s.seq > $3'
  }
  const rows = await db.query<{ id: string }>(`SELECT s.id FROM sessions s WHERE ${where}${after} ORDER BY s.seq LIMIT $2`, params)
  return rows.map((r) => r.id)
}

/** The queue in arrival order, locked: a session being changed by its chat is waited for, never skipped. */
export async function queuedSessions(db: Db): Promise<SessionRow[]> {
  return db.query<SessionRow>(`SELECT * FROM sessions WHERE status = 'queued' ORDER BY queue_seq, seq FOR UPDATE`)
}

/** The sessions an operator holds, locked. */
export async function heldSessions(db: Db, operatorId: string): Promise<SessionRow[]> {
  return db.query<SessionRow>(`SELECT * FROM sessions WHERE operator_id = $1 AND status = 'assigned' ORDER BY seq FOR UPDATE`, [operatorId])
}

// ---- messages --------------------------------------------------------------------------------------

/** The `chatMessageCreated` subject of a client message's outbox row, from the locked session `s` (audience.ts). */
const MESSAGE_EVENT_SUBJECT = `jsonb_build_object('session', jsonb_build_object('status', s.status, 'operator_id', s.operator_id, 'client_id', s.client_id, 'group_id', s.group_id))`

/** The CTE that owes the events of `o` to the webhooks subscribed (store/webhooks.ts); none while there is no webhook. */
const owedCte = (oweWebhooks: boolean | undefined) => (oweWebhooks === false ? '' : `,
     owed AS (${oweDeliveries('o')})`)

/** What the message statements return of the session: what the event's audience and the typing indicator need. */
export type WrittenSession = Pick<SessionRow, 'id' | 'status' | 'operator_id' | 'client_id' | 'group_id' | 'client_typing_until'>

/**
 * The session's columns in a message statement's result, prefixed apart from the message's. Only these: the whole
 * row as JSON was most of a result's bytes, parsed and turned into objects per message for nothing.
 */
const WRITTEN_SESSION_COLUMNS = `s.id AS s_id, s.status AS s_status, s.operator_id AS s_operator_id, s.client_id AS s_client_id,
            s.group_id AS s_group_id, s.client_typing_until AS s_client_typing_until`

interface WrittenRow extends MessageRow {
  s_id: string
  s_status: SessionRow['status']
  s_operator_id: string | null
  s_client_id: string
  s_group_id: string | null
  s_client_typing_until: Date | null
  outbox_id: number
  outbox_at: Date
}

/** A row of the message statements: the message, its session's columns and its outbox event. */
function writtenOf(row: WrittenRow) {
  const { s_id, s_status, s_operator_id, s_client_id, s_group_id, s_client_typing_until, outbox_id, outbox_at, ...message } = row
  const session: WrittenSession = { id: s_id, status: s_status, operator_id: s_operator_id, client_id: s_client_id, group_id: s_group_id, client_typing_until: s_client_typing_until }
  return { message: message as MessageRow, session, event: { id: Number(outbox_id), created_at: outbox_at } }
}

/**
 * A client's message in its open session, in one statement: the session row is locked (the chat's writes keep
 * their order), the message inserted, and its `chatMessageCreated` written to the outbox (a reference to the
 * message, and the session as its audience sees it), owed to the webhooks subscribed unless `oweWebhooks` is false
 * (store/outbox.ts `insertEvents`). Undefined when the client has no open session; with `skipLocked`, also when
 * another transaction holds the session (nothing waits for it).
 */
export async function insertClientMessageInOpenSession(
  db: Db,
  m: { id: string; clientId: string; text: string; eventId: string; idempotencyKey?: string; nodeId: string; oweWebhooks?: boolean; skipLocked?: boolean },
): Promise<{ message: MessageRow; session: WrittenSession; event: { id: number; created_at: Date } } | undefined> {
  const [row] = await db.query<WrittenRow>(
    `WITH s AS (
       SELECT s.*, c.name AS client_name FROM clients c JOIN sessions s ON s.chat_id = c.chat_id AND s.status <> 'closed'
        WHERE c.id = $2 FOR UPDATE OF s${m.skipLocked ? ' SKIP LOCKED' : ''}),
     m AS (
       INSERT INTO messages (id, session_id, chat_id, author_type, author_id, author_name, text, created_at, idempotency_key)
       SELECT $1, s.id, s.chat_id, 'client', $2, s.client_name, $3, clock_timestamp(), $5 FROM s
       ON CONFLICT (chat_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *, NULL::timestamptz AS read_at),
     o AS (
       INSERT INTO outbox (event_id, event, chat_id, form, data, subject, node_id)
       SELECT $4, 'chatMessageCreated', m.chat_id, 'message_ref', jsonb_build_object('id', m.id),
              ${MESSAGE_EVENT_SUBJECT}, $6
         FROM m, s RETURNING id, event_id, event, created_at)${owedCte(m.oweWebhooks)}
     SELECT m.*, ${WRITTEN_SESSION_COLUMNS}, o.id AS outbox_id, o.created_at AS outbox_at FROM m, s, o`,
    [m.id, m.clientId, m.text, m.eventId, m.idempotencyKey ?? null, m.nodeId],
  )
  if (!row) return undefined
  return writtenOf(row)
}

export interface ClientMessageInput {
  id: string
  clientId: string
  text: string
  eventId: string
  idempotencyKey?: string
}

export type ClientMessageWritten = NonNullable<Awaited<ReturnType<typeof insertClientMessageInOpenSession>>>

/**
 * Several clients' messages in their open sessions, in one statement, as `insertClientMessageInOpenSession` writes
 * one (messages and events in input order). A session another transaction holds is skipped (`SKIP LOCKED`), not
 * waited for, so one locked chat never holds the others back: its message, like one of a client with no open
 * session or one whose key was used, comes back undefined for the caller to write alone. Each input row finds its
 * client and session by key in a LATERAL subquery, a nested loop whatever the statistics say. Joins over the input
 * were planned for the 100 rows a set-returning function is assumed to return: with a few thousand open sessions they
 * read every one of them for each batch (PGlite, 2,000 open sessions: a batch of 1 took 1.29 ms, of 8 2.26 ms; this
 * way 0.70 and 1.66 ms, bench/batched-messages.mjs), and with a few thousand clients every client (`IN (SELECT … FROM i)`).
 */
export async function insertClientMessagesInOpenSessions(
  db: Db,
  items: ClientMessageInput[],
  o: { nodeId: string; oweWebhooks?: boolean },
): Promise<Array<ClientMessageWritten | undefined>> {
  const input = items.map((m, n) => ({ n, id: m.id, client_id: m.clientId, text: m.text, event_id: m.eventId, idem: m.idempotencyKey ?? null }))
  const rows = await db.query<WrittenRow & { n: number }>(
    `WITH i AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(n int, id text, client_id text, text text, event_id text, idem text)),
     s AS (
       SELECT i.n, i.id AS message_id, i.client_id AS author_id, i.text AS message_text, i.idem, i.event_id, l.* FROM i CROSS JOIN LATERAL (
         SELECT s.*, c.name AS client_name FROM clients c JOIN sessions s ON s.chat_id = c.chat_id AND s.status <> 'closed'
          WHERE c.id = i.client_id FOR UPDATE OF s SKIP LOCKED) l),
     m AS (
       INSERT INTO messages (id, session_id, chat_id, author_type, author_id, author_name, text, created_at, idempotency_key)
       SELECT message_id, id, chat_id, 'client', author_id, client_name, message_text, clock_timestamp(), idem FROM s ORDER BY n
       ON CONFLICT (chat_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *, NULL::timestamptz AS read_at),
     o AS (
       INSERT INTO outbox (event_id, event, chat_id, form, data, subject, node_id)
       SELECT s.event_id, 'chatMessageCreated', m.chat_id, 'message_ref', jsonb_build_object('id', m.id),
              ${MESSAGE_EVENT_SUBJECT}, $2
         FROM m JOIN s ON s.message_id = m.id ORDER BY m.seq RETURNING id, event_id, event, created_at)${owedCte(o.oweWebhooks)}
     SELECT m.*, ${WRITTEN_SESSION_COLUMNS}, o.id AS outbox_id, o.created_at AS outbox_at, s.n
       FROM m JOIN s ON s.message_id = m.id JOIN o ON o.event_id = s.event_id`,
    [JSON.stringify(input), o.nodeId],
  )
  const out: Array<ClientMessageWritten | undefined> = items.map(() => undefined)
  for (const { n, ...row } of rows) out[n] = writtenOf(row)
  return out
}

/** A message in a session the caller has locked. */
export async function insertMessage(
  db: Db,
  m: { id: string; session: SessionRow; author: Author; text: string; idempotencyKey?: string; internal?: boolean; attachments?: unknown[] },
): Promise<MessageRow> {
  const [row] = await db.query<MessageRow>(
    `INSERT INTO messages (id, session_id, chat_id, author_type, author_id, author_name, text, created_at, idempotency_key, internal, attachments)
     VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp(), $8, $9, $10::jsonb) RETURNING *, NULL::timestamptz AS read_at`,
    [m.id, m.session.id, m.session.chat_id, m.author.type, m.author.id, m.author.name, m.text, m.idempotencyKey ?? null, m.internal === true, JSON.stringify(m.attachments ?? [])],
  )
  return row
}

/** The message a chat already has under this idempotency key. */
export async function messageByIdempotencyKey(db: Db, chatId: string, key: string): Promise<MessageRow | undefined> {
  const [row] = await db.query<MessageRow>(`SELECT m.*, ${readAtOf('m')} FROM messages m WHERE chat_id = $1 AND idempotency_key = $2`, [chatId, key])
  return row
}

export async function messageById(db: Db, id: string): Promise<MessageRow | undefined> {
  const [row] = await db.query<MessageRow>(`SELECT m.*, ${readAtOf('m')} FROM messages m WHERE id = $1`, [id])
  return row
}

export async function updateMessageText(db: Db, id: string, text: string): Promise<MessageRow> {
  const [row] = await db.query<MessageRow>(`WITH m AS (UPDATE messages SET text = $2, edited_at = clock_timestamp() WHERE id = $1 RETURNING *)
     SELECT m.*, ${readAtOf('m')} FROM m`, [id, text])
  return row
}

/** The messages of one session, or of a whole chat. */
export interface Conversation {
  column: 'chat_id' | 'session_id'
  value: string
}

/** The message's `seq` when it is one of the conversation's (a `before` cursor). */
export async function messageSeqIn(db: Db, id: string, of: Conversation): Promise<number | undefined> {
  const [row] = await db.query<{ seq: number }>(`SELECT seq FROM messages WHERE id = $1 AND ${of.column} = $2`, [id, of.value])
  return row === undefined ? undefined : Number(row.seq)
}

/** Up to `limit` of the conversation's messages, newest first, before `beforeSeq` when given; internal notes only with `notes`. */
export async function latestMessages(db: Db, of: Conversation, page: { limit: number; beforeSeq?: number; notes: boolean }): Promise<MessageRow[]> {
  const params: unknown[] = [of.value, page.limit]
  let before = ''
  if (page.beforeSeq !== undefined) {
    params.push(page.beforeSeq)
    before = ' AND seq < $3'
  }
  const notes = page.notes ? '' : ' AND NOT internal'
  return db.query<MessageRow>(`SELECT p.*, ${readAtOf('p')} FROM (SELECT * FROM messages WHERE ${of.column} = $1${before}${notes} ORDER BY seq DESC LIMIT $2) p ORDER BY p.seq DESC`, params)
}

/**
 * Marks unread messages up to `seq` read, oldest first: the client's (`by` operator) or everyone else's (`by` client).
 * A receipt is inserted once (migration 020): those the messages have already are found by the receipts' key, in the
 * insert's conflict check, which no plan changes (a join with the receipts was planned, on statistics of an empty
 * table, as a scan of every receipt for each message: 2 → 20 ms a read after 40,000 receipts, measured on PGlite).
 */
export async function markRead(
  db: Db,
  where: Conversation & { uptoSeq: number; by: 'client' | 'operator' },
): Promise<Array<{ id: string; seq: number; read_at: Date }>> {
  const authors = where.by === 'client' ? `m.author_type <> 'client'` : `m.author_type = 'client'`
  const rows = await db.query<{ id: string; seq: number; read_at: Date }>(
    `WITH upto AS (SELECT m.id, m.seq FROM messages m WHERE m.${where.column} = $1 AND m.seq <= $2 AND ${authors} AND NOT m.internal),
     r AS (INSERT INTO message_reads (message_id, read_at) SELECT id, clock_timestamp() FROM upto
             ON CONFLICT (message_id) DO NOTHING RETURNING message_id, read_at)
     SELECT upto.id, upto.seq, r.read_at FROM upto JOIN r ON r.message_id = upto.id`,
    [where.value, where.uptoSeq],
  )
  return rows.sort((a, b) => a.seq - b.seq)
}
