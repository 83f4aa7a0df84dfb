/**
 * The operator console: signs in with an operator token, connects with the official SDK exactly as
 * the seed shows, applies live events to ConsoleState and renders it; acts through /api/v1.
 */
import { Centrifuge } from 'centrifuge'
import type { ServerSubscribedContext } from 'centrifuge'
import { ApiError, apiClient, emulationUrl, transportEndpoints } from '../shared/api.js'
import { byId, formatCountdown, formatTime, h, safely, throttle } from '../shared/dom.js'
import type { ChatSession, Envelope, Message, Operator } from '../shared/types.js'
import { consoleRouting } from './routing.js'
import { consoleCanned } from './canned.js'
import { attachmentList, composerPicker } from '../shared/attachments.js'
import { consoleAlerts } from './alerts.js'
import { chatRating } from './rating.js'
import { consoleHistory } from './history.js'
import { ConsoleState, isClientOnline, type EndReason } from './state.js'

const TOKEN_KEY = 'livedesk.operatorToken'
const TYPING_RPC_EVERY_MS = 2000

let token: string | null = null
let centrifuge: Centrifuge | null = null
let state = new ConsoleState()
let everConnected = false
let editingId: string | null = null
/** Envelopes that arrive while a refetch is in flight, replayed over its result. */
let refetchBuffer: Envelope[] | null = null
let refetchTimer: ReturnType<typeof setTimeout> | null = null
let unknownRefetchAt = 0

const api = apiClient(() => token)

const el = {
  conn: byId('conn'),
  notice: byId('notice'),
  meName: byId('me-name'),
  logout: byId<HTMLButtonElement>('logout'),
  signin: byId('signin'),
  signinForm: byId<HTMLFormElement>('signin-form'),
  tokenInput: byId<HTMLInputElement>('token'),
  signinError: byId('signin-error'),
  ended: byId('ended'),
  app: byId('app'),
  mine: byId('mine'),
  queue: byId('queue'),
  mineCount: byId('mine-count'),
  queueCount: byId('queue-count'),
  chatEmpty: byId('chat-empty'),
  chat: byId('chat'),
  back: byId<HTMLButtonElement>('back'),
  chatName: byId('chat-name'),
  chatPresence: byId('chat-presence'),
  chatStatus: byId('chat-status'),
  chatTimer: byId('chat-timer'),
  accept: byId<HTMLButtonElement>('accept'),
  closeChat: byId<HTMLButtonElement>('close-chat'),
  messages: byId('messages'),
  typing: byId('typing'),
  composer: byId<HTMLFormElement>('composer'),
  editing: byId('editing'),
  text: byId<HTMLTextAreaElement>('text'),
  send: byId<HTMLButtonElement>('send'),
  noteToggle: byId<HTMLInputElement>('note-toggle'),
  attach: byId<HTMLButtonElement>('attach'),
}

/** Files upload into the open session at once; the next message (or note) carries them (issue 16). */
const picker = composerPicker(
  () => {
    const s = state.openSession()
    return s && s.status !== 'closed' ? { path: `/sessions/${encodeURIComponent(s.id)}/attachments`, scope: s.id } : null
  },
  () => token,
)

// Issue 15: status switch, group queues, supervisor view, transfer dialog (routing.ts).
const routing = consoleRouting({ api, state: () => state, notice, sessionItem: (s) => sessionItem(s), openChat: (id) => openChat(id), renderAll: () => renderAll() })
consoleCanned({ api, text: el.text, composer: el.composer, notice })
// Issue 16: alerts while the tab is hidden (sound, notification, title count); the client's rating of a closed chat.
const alerts = consoleAlerts({ state: () => state, openChat: (id) => void openChat(id), rerender: () => renderSidebar() })
const rating = chatRating(el.chatStatus)
// Issue 16: the open chat's client history, and message search above the chat lists.
const clientHistory = consoleHistory({ api, sidebar: document.querySelector<HTMLElement>('nav.sidebar')!, after: byId('chat-transfer'), notice })

// ---- connection banner and notices ----

function setConn(kind: 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected', text: string): void {
  el.conn.dataset.state = kind
  el.conn.textContent = text
}

let noticeTimer: ReturnType<typeof setTimeout> | null = null
function notice(text: string, ms = 8000): void {
  el.notice.textContent = text
  el.notice.hidden = false
  if (noticeTimer) clearTimeout(noticeTimer)
  noticeTimer = setTimeout(() => (el.notice.hidden = true), ms)
}

// ---- sign in / out ----

async function signIn(candidate: string): Promise<void> {
  el.signinError.hidden = true
  token = candidate
  let me: Operator
  try {
    me = await api<Operator>('GET', '/me')
  } catch (err) {
    token = null
    const refused = err instanceof ApiError && (err.status === 401 || err.status === 403)
    showSignIn()
    if (refused) sessionStorage.removeItem(TOKEN_KEY)
    // Otherwise (server unreachable, say) the token stays in the form: Enter tries again.
    else el.tokenInput.value = candidate
    el.signinError.textContent = refused ? 'This token is not valid (expired, revoked, or the operator is blocked).' : `Cannot sign in: ${(err as Error).message}. Press Enter to try again.`
    el.signinError.hidden = false
    return
  }
  sessionStorage.setItem(TOKEN_KEY, candidate)
  state = new ConsoleState()
  state.me = me
  el.meName.textContent = me.name
  el.logout.hidden = false
  el.signin.hidden = true
  el.ended.hidden = true
  el.app.hidden = false
  alerts.setSignedIn(true)
  renderAll()
  routing.renderStatus()
  connect(candidate)
}

function showSignIn(): void {
  el.app.hidden = true
  el.signin.hidden = false
  el.logout.hidden = true
  el.meName.textContent = ''
  el.tokenInput.value = ''
  el.tokenInput.focus()
}

/** Ends the console session as the seed asks: stop the SDK, forget the token, say why. */
function endSession(reason: EndReason): void {
  centrifuge?.removeAllListeners()
  centrifuge?.disconnect()
  centrifuge = null
  token = null
  everConnected = false
  sessionStorage.removeItem(TOKEN_KEY)
  state = new ConsoleState()
  routing.reset()
  clientHistory.reset()
  routing.renderStatus()
  setConn('disconnected', 'Signed out')
  document.title = 'livedesk console'
  alerts.setSignedIn(false)
  document.body.dataset.ended = reason.kind
  el.ended.textContent = reason.message
  el.ended.dataset.kind = reason.kind
  el.ended.hidden = false
  showSignIn()
}

// ---- the SDK ----

function connect(tok: string): void {
  everConnected = false
  setConn('connecting', 'Connecting…')
  // WebSocket first; behind a proxy that refuses upgrades the SDK falls back to HTTP-streaming, then SSE.
  const c = new Centrifuge(transportEndpoints(), { data: { application: 'notifications', settings: { token: tok } }, maxReconnectDelay: 5000, emulationEndpoint: emulationUrl() })
  centrifuge = c
  c.on('connecting', safely((ctx: { code: number; reason: string }) => {
    setConn(everConnected ? 'reconnecting' : 'connecting', everConnected ? `Reconnecting… (${ctx.reason})` : 'Connecting…')
  }))
  c.on('connected', safely(() => {
    setConn('connected', 'Connected')
    if (!everConnected) {
      everConnected = true
      scheduleRefetch(FIRST_LOAD)
    }
  }))
  // Without getToken the SDK ends the connection itself when its token's ttl runs out: a configuration error, then code 1.
  let tokenExpired = false
  c.on('error', safely((ctx: { type: string }) => { if (ctx.type === 'configuration') tokenExpired = true }))
  c.on('disconnected', safely((ctx: { code: number; reason: string }) => {
    if (centrifuge !== c) return
    // 110: the server refused an expired token (a reconnect after its 3005 close).
    if (tokenExpired || ctx.code === 110) return endSession({ kind: 'unauthorized', message: 'Your sign-in has expired. Sign in again.' })
    // Terminal codes: the token was refused (101 from connect, 3500 invalid token, 3507 permission denied, ...).
    endSession({ kind: 'unauthorized', message: `The server closed this console session: ${ctx.reason} (${ctx.code}). Sign in again.` })
  }))
  c.on('subscribed', safely((ctx: ServerSubscribedContext) => {
    if (ctx.wasRecovering && !ctx.recovered) scheduleRefetch('The connection was restored but some events could not be recovered, so the chats were reloaded from the server.')
    else if (ctx.wasRecovering && ctx.recovered && ctx.hasRecoveredPublications) notice('Reconnected; missed events were recovered.', 4000)
  }))
  c.on('publication', safely((ctx: { data: unknown }) => onEnvelope(ctx.data as Envelope)))
  c.connect()
}

function onEnvelope(env: Envelope): void {
  if (!env || typeof env !== 'object') return
  if (state.isDuplicate(env.id)) return
  if (refetchBuffer) refetchBuffer.push(env)
  handleChange(env)
  alerts.onEvent(env)
}

function handleChange(env: Envelope): void {
  const change = state.apply(env)
  if (change.end) return endSession(change.end)
  if (change.unknownSession && Date.now() - unknownRefetchAt > 3000) {
    unknownRefetchAt = Date.now()
    scheduleRefetch(null)
  }
  if (change.notice) notice(change.notice)
  if (change.status) routing.renderStatus()
  if (change.operators && !change.sessions) routing.renderSidebar()
  if (change.chat && state.openSessionId) {
    if (document.visibilityState === 'visible') state.markOpenRead()
    renderChat()
  }
  if (change.sessions || change.chat) renderSidebar()
}

// ---- refetch over HTTP (first connect, unrecoverable gaps) ----

/** The notice after the first load, with what it found. */
const FIRST_LOAD = (): string => `Loaded ${state.mine().length} of your chats and ${state.queue().length} waiting in the queue from the server.`

/** `reason` is said in the notice bar once the refetch is done; null refetches quietly. */
function scheduleRefetch(reason: string | (() => string) | null): void {
  if (refetchTimer) clearTimeout(refetchTimer)
  // Several channels report in one connect reply: one refetch for all of them.
  refetchTimer = setTimeout(() => {
    refetchTimer = null
    refetch(reason).catch((err) => notice(`Could not reload the chats: ${(err as Error).message}`))
  }, 30)
}

async function refetch(reason: string | (() => string) | null): Promise<void> {
  if (!token) return
  refetchBuffer = []
  try {
    const { items } = await api<{ items: ChatSession[] }>('GET', '/sessions')
    const openId = state.openSessionId
    state.replaceSessions(items)
    const reopen = openId && state.sessions.has(openId) ? openId : null
    if (reopen) await loadMessages(reopen)
    const missed = refetchBuffer
    refetchBuffer = null
    for (const env of missed) handleChange(env)
    state.markOpenRead()
    renderAll()
    document.body.dataset.refetchedAt = new Date().toISOString()
    if (reason) notice(typeof reason === 'function' ? reason() : reason, typeof reason === 'function' ? 4000 : 8000)
    // The team's status may have moved during the gap too.
    void routing.load()
  } finally {
    refetchBuffer = null
  }
}

async function loadMessages(sessionId: string): Promise<void> {
  const { items } = await api<{ items: Message[] }>('GET', `/sessions/${encodeURIComponent(sessionId)}/messages?limit=100`)
  state.setMessages(sessionId, items)
}

// ---- actions ----

async function openChat(sessionId: string): Promise<void> {
  state.openSessionId = sessionId
  state.dropClosed()
  cancelEdit()
  state.markOpenRead()
  document.body.classList.add('chat-open')
  renderAll()
  if (!state.messages.has(sessionId)) {
    await loadMessages(sessionId)
    if (state.openSessionId === sessionId) renderChat()
  }
  el.text.focus()
}

async function accept(): Promise<void> {
  const s = state.openSession()
  if (!s) return
  el.accept.disabled = true
  try {
    state.upsertSession(await api<ChatSession>('POST', `/sessions/${encodeURIComponent(s.id)}/accept`))
    renderAll()
    el.text.focus()
  } catch (err) {
    notice(`Could not accept: ${(err as Error).message}`)
    scheduleRefetch(null)
  } finally {
    el.accept.disabled = false
  }
}

/** The client's messages shown in an open, visible chat are read: the server counts unread and tells the widget. */
let readSentFor: string | null = null
function markReadOnServer(sessionId: string, list: Message[]): void {
  if (document.visibilityState !== 'visible') return
  const last = [...list].reverse().find((m) => m.author.type === 'client')
  if (!last || last.readAt || readSentFor === last.id) return
  readSentFor = last.id
  api<{ messageIds: string[]; readAt: string }>('POST', `/sessions/${encodeURIComponent(sessionId)}/read`, { messageId: last.id })
    .then((r) => {
      for (const m of state.messages.get(sessionId) ?? []) if (r.messageIds.includes(m.id)) m.readAt = r.readAt
    })
    .catch(() => {
      readSentFor = null
    })
}

async function closeChat(): Promise<void> {
  const s = state.openSession()
  if (!s) return
  el.closeChat.disabled = true
  try {
    state.upsertSession(await api<ChatSession>('POST', `/sessions/${encodeURIComponent(s.id)}/close`))
    notice(`You closed the chat with ${s.name}.`, 4000)
    renderAll()
  } catch (err) {
    notice(`Could not close: ${(err as Error).message}`)
  } finally {
    el.closeChat.disabled = false
  }
}

async function submit(): Promise<void> {
  const s = state.openSession()
  const text = el.text.value.trim()
  const attachments = s && !editingId ? picker.ready(s.id) : []
  if (!s || (!text && attachments.length === 0)) return
  if (!editingId && picker.busy(s.id)) return notice('Wait until the files are uploaded.')
  el.send.disabled = true
  try {
    const body = { ...(text ? { text } : {}), ...(el.noteToggle.checked ? { internal: true } : {}), ...(attachments.length ? { attachments } : {}) }
    const m = editingId
      ? await api<Message>('PATCH', `/messages/${encodeURIComponent(editingId)}`, { text })
      : await api<Message>('POST', `/sessions/${encodeURIComponent(s.id)}/messages`, body)
    handleChange({ event: editingId ? 'chatMessageEdited' : 'chatMessageCreated', data: m })
    if (!editingId) picker.clear(s.id)
    el.text.value = ''
    cancelEdit()
  } catch (err) {
    notice(`Not sent: ${(err as Error).message}`)
  } finally {
    el.send.disabled = el.text.disabled
    el.text.focus()
  }
}

function startEdit(m: Message): void {
  editingId = m.id
  el.text.value = m.text
  el.editing.hidden = false
  el.composer.classList.add('is-editing')
  el.send.textContent = 'Save'
  el.text.focus()
}

function cancelEdit(): void {
  if (!editingId) return
  editingId = null
  el.text.value = ''
  el.editing.hidden = true
  el.composer.classList.remove('is-editing')
  el.send.textContent = 'Send'
}

const sendTyping = throttle(TYPING_RPC_EVERY_MS, () => {
  const s = state.openSession()
  if (!s || !centrifuge || !state.isMine(s) || s.status === 'closed') return
  centrifuge.rpc('typing', { chatId: s.chatId }).catch(() => {
    // typing is best effort: a refused or rate-limited one is simply dropped
  })
})

function isOwn(m: Message): boolean {
  return m.author.type === 'operator' && state.me !== null && String(m.author.id) === String(state.me.id)
}

// ---- rendering ----

function renderAll(): void {
  renderSidebar()
  renderChat()
}

function renderSidebar(): void {
  const mine = state.mine()
  // The shared queue here; each group's queue below it (routing.ts).
  const queue = state.queues()[0]!.sessions
  el.mine.replaceChildren(...(mine.length ? mine.map(sessionItem) : [h('li', { class: 'empty' }, 'No chats yet')]))
  el.queue.replaceChildren(...(queue.length ? queue.map(sessionItem) : [h('li', { class: 'empty' }, 'The queue is empty')]))
  el.mineCount.textContent = String(mine.length)
  el.queueCount.textContent = String(queue.length)
  const unread = mine.reduce((n, s) => n + (s.unreadClientMessageCount ?? 0), 0)
  document.title = alerts.title(unread)
  routing.renderSidebar()
  updateTimers()
}

function sessionItem(s: ChatSession): HTMLLIElement {
  const unread = s.unreadClientMessageCount ?? 0
  const typing = state.typing.get(s.chatId)
  const deadline = state.isMine(s) ? state.answerDeadline(s) : null
  const preview = typing ? (typing.text ? `typing: ${typing.text}` : 'typing…') : (s.lastMessage?.text ?? '')
  return h(
    'li',
    { 'data-session': s.id, 'data-status': s.status, class: s.id === state.openSessionId ? 'active' : '' },
    h(
      'button',
      { type: 'button', class: 'session', onclick: () => openChat(s.id), 'aria-current': s.id === state.openSessionId ? 'true' : null },
      h('span', { class: `dot ${isClientOnline(s) ? 'online' : 'offline'}`, title: isClientOnline(s) ? 'online' : 'offline', 'data-testid': 'presence-dot' }),
      h('span', { class: 'name' }, s.name || 'Client'),
      unread ? h('span', { class: 'badge', 'data-testid': 'unread', 'aria-label': `${unread} unread` }, String(unread)) : null,
      deadline !== null ? h('span', { class: 'timer', 'data-deadline': String(deadline) }) : null,
      h('span', { class: `preview ${typing ? 'is-typing' : ''}` }, preview),
      s.status === 'closed' ? h('span', { class: 'tag' }, 'closed') : s.groupClosed ? h('span', { class: 'tag', title: 'its group is outside its working hours' }, 'group closed') : null,
    ),
  )
}

function renderChat(): void {
  const s = state.openSession()
  el.chatEmpty.hidden = !!s
  el.chat.hidden = !s
  if (!s) {
    document.body.classList.remove('chat-open')
    return
  }
  const online = isClientOnline(s)
  el.chatName.textContent = s.name || 'Client'
  el.chatPresence.textContent = online ? 'online' : 'offline'
  el.chatPresence.dataset.online = String(online)
  el.chatStatus.textContent = s.status === 'closed' ? 'closed' : state.isQueued(s) ? 'waiting in the queue' : !state.isMine(s) && s.operatorId !== null ? `with ${state.operatorName(String(s.operatorId)) ?? 'another operator'}` : ''
  el.accept.hidden = !state.isQueued(s)
  const canWrite = state.isMine(s) && s.status !== 'closed'
  // A supervisor may close any open session.
  el.closeChat.hidden = !(canWrite || (state.isSupervisor() && s.status !== 'closed'))
  routing.renderChat(s)
  rating.render(s)
  clientHistory.renderChat(s)
  // Notes: the holder, a supervisor, or anyone while it is queued (the toggle opens the composer for those).
  const canNote = s.status !== 'closed' && (state.isMine(s) || state.isQueued(s) || state.isSupervisor())
  // Another chat, or one that became writable, starts on replies; where only a note is allowed the toggle is forced on.
  const forced = !canWrite && canNote
  if (el.noteToggle.dataset.session !== s.id || el.noteToggle.dataset.forced === 'true' || forced) el.noteToggle.checked = forced
  el.noteToggle.dataset.session = s.id
  el.noteToggle.dataset.forced = String(forced)
  el.noteToggle.disabled = !canWrite
  el.noteToggle.closest('label')!.hidden = !canNote
  el.text.disabled = !(canWrite || canNote)
  el.send.disabled = el.text.disabled
  el.attach.disabled = el.text.disabled
  picker.render()
  el.composer.classList.toggle('is-note', el.noteToggle.checked)
  el.chatTimer.dataset.deadline = String(state.isMine(s) ? (state.answerDeadline(s) ?? '') : '')

  const list = state.messages.get(s.id) ?? []
  const atBottom = el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 40
  el.messages.replaceChildren(...list.map(messageItem))
  if (atBottom) el.messages.scrollTop = el.messages.scrollHeight

  if (canWrite) markReadOnServer(s.id, list)
  const t = state.typing.get(s.chatId)
  el.typing.hidden = !t
  el.typing.textContent = t ? `${s.name || 'The client'} is typing${t.text ? `: ${t.text}` : '…'}` : ''
  updateTimers()
}

function messageItem(m: Message): HTMLLIElement {
  const own = isOwn(m)
  const ticks = m.author.type === 'operator' ? h('span', { class: `ticks ${m.readAt ? 'read' : ''}`, title: m.readAt ? `read ${formatTime(m.readAt)}` : 'sent', 'data-testid': 'ticks' }, m.readAt ? '✓✓' : '✓') : null
  return h(
    'li',
    { class: `msg ${m.author.type} ${own ? 'own' : ''} ${m.internal ? 'note' : ''}`, 'data-message': m.id, 'data-author': m.author.type, 'data-internal': String(m.internal === true) },
    m.internal ? h('span', { class: 'note-label', 'data-testid': 'note-label' }, 'Note · not sent to the client') : null,
    m.author.type !== 'client' && !own ? h('span', { class: 'author' }, m.author.name ?? m.author.type) : null,
    h('span', { class: 'text', 'data-testid': 'text' }, m.text),
    attachmentList(m.attachments, () => token),
    h(
      'span',
      { class: 'meta' },
      formatTime(m.createdAt),
      m.editedAt ? h('span', { class: 'edited', 'data-testid': 'edited' }, ' · edited') : null,
      ticks,
      own ? h('button', { type: 'button', class: 'link edit', onclick: () => startEdit(m), 'aria-label': 'Edit this message' }, 'Edit') : null,
    ),
  )
}

/** Countdowns change every second; only their text is touched so inputs and scroll stay put. */
function updateTimers(): void {
  const now = Date.now()
  for (const node of document.querySelectorAll<HTMLElement>('[data-deadline]')) {
    const deadline = Number(node.dataset.deadline)
    if (!node.dataset.deadline || !Number.isFinite(deadline)) {
      node.textContent = ''
      continue
    }
    const left = (deadline - now) / 1000
    const long = node.id === 'chat-timer'
    node.textContent = left >= 0 ? `${long ? 'Answer within ' : ''}${formatCountdown(left)}` : `${long ? 'Answer overdue by ' : 'late '}${formatCountdown(-left)}`
    node.title = left >= 0 ? 'time left to answer' : 'the answer is overdue'
    node.classList.toggle('late', left < 0)
  }
}

// ---- wiring ----

el.signinForm.addEventListener('submit', safely((ev: Event) => {
  ev.preventDefault()
  const value = el.tokenInput.value.trim()
  if (value) return signIn(value)
}))
el.logout.addEventListener('click', safely(async () => {
  try {
    await api('POST', '/logout')
  } finally {
    endSession({ kind: 'operatorLoggedOut', message: 'You signed out.' })
  }
}))
el.accept.addEventListener('click', safely(accept))
el.closeChat.addEventListener('click', safely(closeChat))
el.back.addEventListener('click', safely(() => {
  state.openSessionId = null
  state.dropClosed()
  cancelEdit()
  renderAll()
}))
el.noteToggle.addEventListener('change', () => el.composer.classList.toggle('is-note', el.noteToggle.checked))
el.composer.addEventListener('submit', safely((ev: Event) => {
  ev.preventDefault()
  return submit()
}))
el.text.addEventListener('keydown', safely((ev: KeyboardEvent) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault()
    return submit()
  }
  if (ev.key === 'Escape') cancelEdit()
  if (ev.key === 'ArrowUp' && !el.text.value) {
    const s = state.openSession()
    const last = s ? [...(state.messages.get(s.id) ?? [])].reverse().find(isOwn) : undefined
    if (last) {
      ev.preventDefault()
      startEdit(last)
    }
  }
}))
el.text.addEventListener('input', safely(() => {
  if (el.text.value.trim()) sendTyping()
}))
document.addEventListener('visibilitychange', safely(() => {
  if (document.visibilityState === 'visible' && state.openSessionId) {
    state.markOpenRead()
    renderAll()
  }
}))
setInterval(safely(() => {
  if (state.expireTyping()) renderAll()
  else updateTimers()
}), 1000)

// `/#token=...` (the admin page's sign-in link: a fragment never reaches a server or a Referer) or `/?token=...`
// signs in straight away; the token then lives in sessionStorage, not in the address bar.
const fromUrl = new URLSearchParams(location.hash.slice(1)).get('token') ?? new URLSearchParams(location.search).get('token')
if (fromUrl) history.replaceState(null, '', location.pathname)
const initial = fromUrl ?? sessionStorage.getItem(TOKEN_KEY)
if (initial) void signIn(initial).catch(() => undefined)
else showSignIn()
// A sign-in link opened in a tab already on the console changes only the fragment: start over with its token.
window.addEventListener('hashchange', safely(() => {
  const linked = new URLSearchParams(location.hash.slice(1)).get('token')
  if (!linked) return
  sessionStorage.setItem(TOKEN_KEY, linked)
  location.replace(location.pathname)
}))
