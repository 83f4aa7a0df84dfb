/**
 * The client widget: a visitor chats with support through the public widget API and receives the
 * operator's messages, edits and typing over the same SDK connection an operator console uses.
 * Its live connection is what makes the client online for operators.
 */
import { Centrifuge } from 'centrifuge'
import { ApiError, apiClient, socketUrl } from '../shared/api.js'
import { byId, formatTime, h, safely } from '../shared/dom.js'
import { attachmentList, composerPicker } from '../shared/attachments.js'
import { mergeMessage } from '../shared/messages.js'
import type { Envelope, Message, SessionRating, Typing } from '../shared/types.js'
import { widgetRating } from './rating.js'

const TOKEN_KEY = 'livedesk.clientToken'
const TYPING_EVERY_MS = 1500

let token: string | null = localStorage.getItem(TOKEN_KEY)
let centrifuge: Centrifuge | null = null
let everConnected = false
const messages = new Map<string, Message>()
/** Keeps a copy of a message that arrived (event or our POST's answer) without losing a newer read time or edit. */
const keepMessage = (m: Message) => messages.set(m.id, mergeMessage(messages.get(m.id), m))
const seen = new Set<string>()
let operatorTyping: Typing | null = null
let lastReadSent: string | null = null

const api = apiClient(() => token)

const el = {
  conn: byId('conn'),
  start: byId<HTMLFormElement>('start'),
  name: byId<HTMLInputElement>('name'),
  startError: byId('start-error'),
  chat: byId('chat'),
  messages: byId('messages'),
  typing: byId('typing'),
  closed: byId('closed'),
  composer: byId<HTMLFormElement>('composer'),
  text: byId<HTMLTextAreaElement>('text'),
  send: byId<HTMLButtonElement>('send'),
  close: byId<HTMLButtonElement>('close'),
}

/** Files go into the client's own chat; a message then carries them (issue 16). */
const picker = composerPicker(() => (token ? { path: '/widget/attachments', scope: 'chat' } : null), () => token)

const rating = widgetRating({ api, after: el.closed })

function setConn(kind: 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected', text: string): void {
  el.conn.dataset.state = kind
  el.conn.textContent = text
}

function showStart(error?: string): void {
  el.chat.hidden = true
  el.start.hidden = false
  el.startError.hidden = !error
  el.startError.textContent = error ?? ''
  el.name.focus()
}

async function begin(): Promise<void> {
  el.start.hidden = true
  el.chat.hidden = false
  try {
    const { items, session } = await api<{ items: Message[]; session: { id: string; status: string; rating?: SessionRating | null } | null }>('GET', '/widget/messages')
    for (const m of items) messages.set(m.id, m)
    setSessionOpen(items.length > 0)
    el.closed.hidden = true
    // The last session was closed while the visitor was away: it may still be rated.
    if (session?.status === 'closed' && !session.rating) rating.offer(session.id)
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return forget('Your previous chat has expired. Start a new one.')
    throw err
  }
  render()
  connect()
  el.text.focus()
}

function forget(why: string): void {
  centrifuge?.removeAllListeners()
  centrifuge?.disconnect()
  centrifuge = null
  token = null
  localStorage.removeItem(TOKEN_KEY)
  messages.clear()
  setConn('disconnected', '')
  showStart(why)
}

function connect(): void {
  if (!token) return
  setConn('connecting', 'Connecting…')
  const c = new Centrifuge(socketUrl(), { data: { application: 'widget', settings: { token } }, maxReconnectDelay: 5000 })
  centrifuge = c
  c.on('connecting', safely(() => setConn(everConnected ? 'reconnecting' : 'connecting', everConnected ? 'Reconnecting…' : 'Connecting…')))
  c.on('connected', safely(() => {
    setConn('connected', 'Online')
    // Messages may have come between the first load and this connect, or during a gap: the server's list is the truth.
    reload().catch(() => undefined)
    everConnected = true
  }))
  c.on('disconnected', safely((ctx: { code: number; reason: string }) => {
    if (centrifuge === c) forget(`The chat was disconnected (${ctx.reason}). Start a new one.`)
  }))
  c.on('publication', safely((ctx: { data: unknown }) => onEnvelope(ctx.data as Envelope)))
  c.connect()
}

async function reload(): Promise<void> {
  const { items } = await api<{ items: Message[] }>('GET', '/widget/messages')
  for (const m of items) messages.set(m.id, m)
  render()
}

function onEnvelope(env: Envelope): void {
  if (!env || typeof env !== 'object') return
  if (env.id) {
    if (seen.has(env.id)) return
    seen.add(env.id)
  }
  const name = env.event ?? env.action
  if (name === 'chatMessageCreated' || name === 'chatMessageEdited') {
    const m = env.data as Message
    keepMessage(m)
    if (m.author.type !== 'client') operatorTyping = null
    if (name === 'chatMessageCreated') setSessionOpen(true)
  } else if (name === 'chatMessageRead') {
    const ids = new Set<string>(Array.isArray(env.data?.messageIds) ? env.data.messageIds : [])
    for (const m of messages.values()) if (ids.has(m.id) && !m.readAt) m.readAt = env.data.readAt
  } else if (name === 'typing') {
    const t = env.data as Typing
    if (t.author?.type === 'client') return
    operatorTyping = t.active && Date.parse(t.until) > Date.now() ? t : null
  } else if (name === 'sessionClosedByClient' || name === 'sessionClosedByOperator') {
    el.closed.textContent = name === 'sessionClosedByOperator' ? 'Support closed this chat. Write again any time to start a new one.' : 'You closed this chat. Write again any time to start a new one.'
    setSessionOpen(false)
    rating.offer(env.data.id)
  }
  render()
}

function render(): void {
  const list = [...messages.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  const atBottom = el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 40
  el.messages.replaceChildren(
    ...(list.length ? list.map(messageItem) : [h('li', { class: 'empty' }, 'Write your question below; an operator will join shortly.')]),
  )
  if (atBottom) el.messages.scrollTop = el.messages.scrollHeight
  el.typing.hidden = !operatorTyping
  el.typing.textContent = operatorTyping ? 'Support is typing…' : ''
  markRead(list)
}

function messageItem(m: Message): HTMLLIElement {
  const mine = m.author.type === 'client'
  return h(
    'li',
    { class: `msg ${m.author.type} ${mine ? 'own' : ''}`, 'data-message': m.id, 'data-author': m.author.type },
    mine ? null : h('span', { class: 'author' }, m.author.name ?? 'Support'),
    h('span', { class: 'text', 'data-testid': 'text' }, m.text),
    attachmentList(m.attachments, () => token),
    h(
      'span',
      { class: 'meta' },
      formatTime(m.createdAt),
      m.editedAt ? h('span', { class: 'edited', 'data-testid': 'edited' }, ' · edited') : null,
      mine ? h('span', { class: `ticks ${m.readAt ? 'read' : ''}`, title: m.readAt ? 'read by support' : 'sent' }, m.readAt ? '✓✓' : '✓') : null,
    ),
  )
}

/** Tells the operator what the visitor has seen: up to the newest message from support, while the page is visible. */
function markRead(list: Message[]): void {
  if (document.visibilityState !== 'visible' || !token) return
  const last = [...list].reverse().find((m) => m.author.type !== 'client')
  if (!last || last.readAt || last.id === lastReadSent) return
  lastReadSent = last.id
  api('POST', '/widget/read', { messageId: last.id }).catch(() => {
    lastReadSent = null
  })
}

async function send(): Promise<void> {
  const text = el.text.value.trim()
  const attachments = picker.ready('chat')
  if ((!text && attachments.length === 0) || !token) return
  if (picker.busy('chat')) {
    el.closed.hidden = false
    el.closed.textContent = 'Wait until the files are uploaded.'
    return
  }
  el.send.disabled = true
  try {
    const m = await api<Message>('POST', '/widget/messages', { ...(text ? { text } : {}), ...(attachments.length ? { attachments } : {}) })
    keepMessage(m)
    picker.clear('chat')
    el.text.value = ''
    setSessionOpen(true)
    render()
  } catch (err) {
    el.closed.hidden = false
    el.closed.textContent = `Not sent: ${(err as Error).message}`
  } finally {
    el.send.disabled = false
    el.text.focus()
  }
}

/** Sends the draft at most every TYPING_EVERY_MS, and the latest draft once the visitor pauses. */
let typingLastSent = 0
let typingTrailing: ReturnType<typeof setTimeout> | null = null
function typingChanged(): void {
  const text = el.text.value
  if (!text.trim() || !token) return
  const wait = typingLastSent + TYPING_EVERY_MS - Date.now()
  if (typingTrailing) clearTimeout(typingTrailing)
  const fire = () => {
    typingTrailing = null
    typingLastSent = Date.now()
    const draft = el.text.value
    if (!draft.trim()) return
    // Over the socket when connected (a refused or rate-limited notice is dropped quietly); else over HTTP.
    if (centrifuge?.state === 'connected') centrifuge.rpc('typing', { text: draft }).catch(() => undefined)
    else api('POST', '/widget/typing', { text: draft }).catch(() => undefined)
  }
  if (wait <= 0) fire()
  else typingTrailing = setTimeout(fire, wait)
}

el.start.addEventListener('submit', safely(async (ev: Event) => {
  ev.preventDefault()
  const name = el.name.value.trim()
  try {
    const res = await api<{ token: string }>('POST', '/widget/clients', name ? { name } : {})
    token = res.token
    localStorage.setItem(TOKEN_KEY, token)
    await begin()
  } catch (err) {
    showStart(`Cannot start the chat: ${(err as Error).message}`)
  }
}))
el.composer.addEventListener('submit', safely((ev: Event) => {
  ev.preventDefault()
  return send()
}))
el.text.addEventListener('keydown', safely((ev: KeyboardEvent) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault()
    if (typingTrailing) clearTimeout(typingTrailing)
    return send()
  }
}))
el.text.addEventListener('input', safely(typingChanged))
el.close.addEventListener('click', safely(async () => {
  el.close.disabled = true
  try {
    const closed = await api<{ id: string }>('POST', '/widget/close')
    rating.offer(closed.id)
    el.closed.textContent = 'You closed this chat. Write again any time to start a new one.'
  } catch (err) {
    // 409: there was no open chat (closed elsewhere meanwhile); the visitor sees the same outcome.
    el.closed.textContent = err instanceof ApiError && err.status === 409 ? 'This chat is already closed.' : `Could not end the chat: ${(err as Error).message}`
  } finally {
    el.close.disabled = false
  }
  setSessionOpen(false)
}))

/** The End chat button shows only while the visitor has a session to end. */
function setSessionOpen(open: boolean): void {
  el.close.hidden = !open
  el.closed.hidden = open
  if (open) rating.withdraw()
}
document.addEventListener('visibilitychange', safely(() => render()))
setInterval(safely(() => {
  if (operatorTyping && Date.parse(operatorTyping.until) <= Date.now()) {
    operatorTyping = null
    render()
  }
}), 1000)

if (token) void begin().catch((err) => showStart(`Cannot load the chat: ${(err as Error).message}`))
else showStart()
