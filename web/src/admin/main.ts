/**
 * The admin page: signs in with the API key and does everything through the public APIs — /api/v1 (operators,
 * sign-in links, figures) with the key as Bearer, and Centrifugo's server API (/api/*, X-API-Key) for the
 * node's figures, channels, publishing and the live tail (history polled from the last offset seen).
 */
import { ApiError, apiClient } from '../shared/api.js'
import { byId, h, safely } from '../shared/dom.js'
import type { Operator } from '../shared/types.js'

const KEY = 'livedesk.apiKey'
/** `?poll=<ms>` sets how often figures and the tail refresh (tests use a short one); the key never goes in the URL. */
const POLL_MS = Math.max(100, Number(new URLSearchParams(location.search).get('poll')) || 2000)
const TAIL_MS = Math.min(POLL_MS, 1000)
/** Publications read per history call; a tail that fell further behind catches up over several calls. */
const TAIL_BATCH = 100
/** Lines the tail keeps on screen. */
const TAIL_KEEP = 500

type OperatorRow = Operator & { openSessions: number; blockedReason: string | null }
interface NodeInfo { uid: string; name: string; version: string; num_clients: number; num_users: number; num_channels: number; num_subs: number; uptime: number }
interface Publication { data: unknown; offset?: number }
interface Figures { queued: number; assigned: number; bot: number; busyOperators: number }

let apiKey: string | null = null
let pollTimer: ReturnType<typeof setTimeout> | null = null
const api = apiClient(() => apiKey)

class ServerApiError extends Error {
  constructor(readonly code: number, message: string) {
    super(message)
  }
}

/** Centrifugo's server API: `{result}` or `{error:{code,message}}`; a wrong key is HTTP 401. */
async function serverApi<T>(method: string, params: Record<string, unknown>): Promise<T> {
  const res = await fetch(`/api/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': apiKey ?? '' }, body: JSON.stringify(params) })
  const body = (await res.json().catch(() => ({}))) as { result?: T; error?: { code: number; message: string } }
  if (res.status === 401) throw new ApiError(401, 'unauthorized', 'the API key was refused')
  if (body.error) throw new ServerApiError(body.error.code, body.error.message)
  if (!res.ok) throw new Error(`server API ${method}: HTTP ${res.status}`)
  return body.result as T
}

const el = {
  status: byId('status'),
  notice: byId('notice'),
  signout: byId<HTMLButtonElement>('signout'),
  signin: byId('signin'),
  signinForm: byId<HTMLFormElement>('signin-form'),
  keyInput: byId<HTMLInputElement>('api-key'),
  signinError: byId('signin-error'),
  app: byId('app'),
  figuresAt: byId('figures-at'),
  figNodes: byId('fig-nodes'),
  figConnections: byId('fig-connections'),
  figChannels: byId('fig-channels'),
  figQueue: byId('fig-queue'),
  figAssigned: byId('fig-assigned'),
  nodes: byId('nodes'),
  channels: byId('channels'),
  newOperator: byId<HTMLFormElement>('new-operator'),
  newName: byId<HTMLInputElement>('new-name'),
  newMax: byId<HTMLInputElement>('new-max'),
  linkBox: byId('link-box'),
  linkName: byId('link-name'),
  linkUntil: byId('link-until'),
  link: byId<HTMLInputElement>('link'),
  copyLink: byId<HTMLButtonElement>('copy-link'),
  operators: byId('operators'),
  tailForm: byId<HTMLFormElement>('tail-form'),
  tailChannel: byId<HTMLInputElement>('tail-channel'),
  tailStop: byId<HTMLButtonElement>('tail-stop'),
  tailState: byId('tail-state'),
  tail: byId('tail'),
  publishForm: byId<HTMLFormElement>('publish-form'),
  publishChannel: byId<HTMLInputElement>('publish-channel'),
  publishData: byId<HTMLTextAreaElement>('publish-data'),
  publishResult: byId('publish-result'),
}

let noticeTimer: ReturnType<typeof setTimeout> | null = null
function notice(text: string, kind: 'info' | 'error' = 'info'): void {
  el.notice.textContent = text
  el.notice.dataset.kind = kind
  el.notice.hidden = false
  if (noticeTimer) clearTimeout(noticeTimer)
  noticeTimer = setTimeout(() => (el.notice.hidden = true), 8000)
}

const failed = (what: string) => (err: unknown) => {
  if (err instanceof ApiError && err.status === 401) return signOut('The API key was refused. Sign in again.')
  notice(`${what}: ${(err as Error).message}`, 'error')
}

// ---- sign in / out ----

async function signIn(candidate: string): Promise<void> {
  el.signinError.hidden = true
  apiKey = candidate
  try {
    await api('GET', '/operators?limit=1')
  } catch (err) {
    apiKey = null
    el.signinError.textContent = err instanceof ApiError && err.status === 401 ? 'This is not the API key of this server.' : `Cannot sign in: ${(err as Error).message}`
    el.signinError.hidden = false
    showSignIn()
    return
  }
  sessionStorage.setItem(KEY, candidate)
  el.signin.hidden = true
  el.app.hidden = false
  el.signout.hidden = false
  el.status.dataset.state = 'connected'
  el.status.textContent = 'Signed in'
  void refresh()
}

function showSignIn(): void {
  el.app.hidden = true
  el.signout.hidden = true
  el.signin.hidden = false
  el.status.dataset.state = 'idle'
  el.status.textContent = ''
  el.keyInput.focus()
}

function signOut(message?: string): void {
  apiKey = null
  sessionStorage.removeItem(KEY)
  if (pollTimer) clearTimeout(pollTimer)
  pollTimer = null
  stopTail()
  if (message) {
    el.signinError.textContent = message
    el.signinError.hidden = false
  }
  showSignIn()
}

// ---- figures and operators, refreshed every POLL_MS ----

async function refresh(): Promise<void> {
  if (pollTimer) clearTimeout(pollTimer)
  pollTimer = null
  if (!apiKey) return
  try {
    const [info, channels, figures, operators] = await Promise.all([
      serverApi<{ nodes: NodeInfo[] }>('info', {}),
      serverApi<{ channels: Record<string, { num_clients: number }> }>('channels', {}),
      api<Figures>('GET', '/figures'),
      api<{ items: OperatorRow[] }>('GET', '/operators?limit=200'),
    ])
    renderFigures(info.nodes, channels.channels, figures)
    renderOperators(operators.items)
    el.figuresAt.textContent = `at ${new Date().toLocaleTimeString()}`
    document.body.dataset.refreshedAt = String(Date.now())
  } catch (err) {
    failed('Could not refresh')(err)
  }
  if (apiKey) pollTimer = setTimeout(safely(refresh), POLL_MS)
}

function renderFigures(nodes: NodeInfo[], channels: Record<string, { num_clients: number }>, figures: Figures): void {
  el.figNodes.textContent = String(nodes.length)
  el.figConnections.textContent = String(nodes.reduce((n, x) => n + x.num_clients, 0))
  el.figChannels.textContent = String(nodes.reduce((n, x) => n + x.num_channels, 0))
  el.figQueue.textContent = String(figures.queued)
  el.figAssigned.textContent = String(figures.assigned)
  el.nodes.replaceChildren(...nodes.map((n) => h('tr', { 'data-node': n.uid },
    h('td', {}, n.name), h('td', {}, n.version), h('td', { class: 'num' }, String(n.num_clients)), h('td', { class: 'num' }, String(n.num_users)),
    h('td', { class: 'num' }, String(n.num_channels)), h('td', { class: 'num' }, String(n.num_subs)), h('td', { class: 'num' }, `${n.uptime} s`))))
  const names = Object.keys(channels).sort()
  el.channels.replaceChildren(...names.map((c) => h('tr', { 'data-channel': c },
    h('td', {}, c), h('td', { class: 'num' }, String(channels[c]!.num_clients)),
    h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => startTail(c) }, 'Watch')))))
}

/** Rows are rebuilt except while a maxChats field is being edited, so a refresh never eats what is typed. */
function renderOperators(list: OperatorRow[]): void {
  if (el.operators.contains(document.activeElement) && document.activeElement instanceof HTMLInputElement) return
  el.operators.replaceChildren(...list.map(operatorRow))
}

function operatorRow(op: OperatorRow): HTMLTableRowElement {
  const max = h('input', { type: 'number', min: 0, max: 1000, value: op.maxChats, 'aria-label': `maxChats of ${op.name}`, 'data-testid': 'max-chats' })
  const act = (label: string, fn: () => Promise<unknown>, cls = 'secondary') =>
    h('button', { type: 'button', class: cls, 'data-action': label.toLowerCase().replace(/\W+/g, '-'), onclick: () => fn().then(refresh, failed(label)) }, label)
  return h('tr', { 'data-operator': op.id, 'data-online': String(op.online), 'data-blocked': String(op.blocked) },
    h('td', {}, op.name),
    h('td', { class: op.online ? 'online-yes' : '', 'data-testid': 'online' }, op.online ? 'online' : 'offline'),
    h('td', { class: 'num', 'data-testid': 'open-sessions' }, String(op.openSessions)),
    h('td', {}, h('span', { class: 'row' }, max, act('Save', () => api('PATCH', `/operators/${encodeURIComponent(op.id)}`, { maxChats: Number(max.value) })))),
    h('td', { class: op.blocked ? 'blocked' : '', 'data-testid': 'state' }, op.blocked ? `blocked${op.blockedReason ? `: ${op.blockedReason}` : ''}` : 'active'),
    h('td', {}, h('span', { class: 'actions' },
      act('Sign-in link', () => signInLink(op), ''),
      op.blocked
        ? act('Unblock', () => api('POST', `/operators/${encodeURIComponent(op.id)}/unblock`))
        : act('Block', () => api('POST', `/operators/${encodeURIComponent(op.id)}/block`, { reason: 'blocked by an administrator' })),
      act('Log out', () => api('POST', `/operators/${encodeURIComponent(op.id)}/logout`, {})),
      act('Watch', async () => startTail(`operator:${op.id}`)),
    )),
  )
}

/**
 * A console link that signs this operator in: the token rides in the fragment (`/#token=`), which the browser
 * never sends to a server nor puts in a Referer; the console moves it to sessionStorage and clears the address bar.
 */
async function signInLink(op: OperatorRow): Promise<void> {
  const login = await api<{ token: string; expiresAt: string }>('POST', `/operators/${encodeURIComponent(op.id)}/tokens`, { userAgent: 'admin page sign-in link' })
  el.link.value = `${location.origin}/#token=${encodeURIComponent(login.token)}`
  el.linkName.textContent = op.name
  el.linkUntil.textContent = new Date(login.expiresAt).toLocaleString()
  el.linkBox.hidden = false
  el.link.select()
}

// ---- the live tail: the server API's history, polled from the last position seen ----

let tail: { channel: string; offset: number; epoch: string; timer: ReturnType<typeof setTimeout> | null } | null = null

function startTail(channel: string): void {
  stopTail()
  el.tailChannel.value = channel
  el.tail.replaceChildren()
  el.tailStop.disabled = false
  tail = { channel, offset: 0, epoch: '', timer: null }
  el.tailState.textContent = `Watching ${channel}…`
  void pollTail(tail, true)
}

function stopTail(): void {
  if (tail?.timer) clearTimeout(tail.timer)
  tail = null
  el.tailStop.disabled = true
}

async function pollTail(t: NonNullable<typeof tail>, first = false): Promise<void> {
  if (tail !== t) return
  try {
    // The first call only learns the stream's position: the tail shows what is published from now on.
    const r = await serverApi<{ publications?: Publication[]; offset: number; epoch: string }>('history', first
      ? { channel: t.channel, limit: 0 }
      : { channel: t.channel, limit: TAIL_BATCH, since: { offset: t.offset, epoch: t.epoch } })
    if (tail !== t) return
    const pubs = r.publications ?? []
    for (const p of pubs) appendTail(p)
    t.epoch = r.epoch
    t.offset = pubs.length ? (pubs[pubs.length - 1]!.offset ?? r.offset) : first ? r.offset : t.offset
    el.tailState.textContent = `Watching ${t.channel} (offset ${t.offset})`
    el.tailState.dataset.watching = t.channel
    // A full batch means more are waiting: read on at once.
    t.timer = setTimeout(safely(() => pollTail(t)), pubs.length === TAIL_BATCH ? 0 : TAIL_MS)
  } catch (err) {
    if (tail !== t) return
    if (err instanceof ServerApiError && err.code === 112) {
      // 112: the history was reset or trimmed past our offset; start again from the current position.
      appendNote('history was reset or trimmed past the last offset seen; some publications were missed')
      t.timer = setTimeout(safely(() => pollTail(t, true)), TAIL_MS)
      return
    }
    if (err instanceof ServerApiError && err.code === 108) {
      el.tailState.textContent = `${t.channel} keeps no history, so it cannot be tailed`
      return stopTail()
    }
    failed('Tail')(err)
    t.timer = setTimeout(safely(() => pollTail(t)), POLL_MS)
  }
}

function appendTail(p: Publication): void {
  el.tail.append(h('li', { 'data-offset': String(p.offset ?? '') }, h('span', { class: 'offset' }, `#${p.offset ?? '?'}`), JSON.stringify(p.data)))
  while (el.tail.childElementCount > TAIL_KEEP) el.tail.firstElementChild?.remove()
  el.tail.scrollTop = el.tail.scrollHeight
}

function appendNote(text: string): void {
  el.tail.append(h('li', { class: 'muted' }, text))
}

// ---- publish ----

async function publish(): Promise<void> {
  let data: unknown
  try {
    data = JSON.parse(el.publishData.value)
  } catch (err) {
    el.publishResult.textContent = `The data is not JSON: ${(err as Error).message}`
    return
  }
  try {
    const r = await serverApi<{ offset?: number; epoch?: string }>('publish', { channel: el.publishChannel.value.trim(), data })
    el.publishResult.textContent = `Published${r?.offset ? ` at offset ${r.offset}` : ''}.`
  } catch (err) {
    el.publishResult.textContent = `Not published: ${(err as Error).message}`
    if (err instanceof ApiError) failed('Publish')(err)
  }
}

// ---- wiring ----

el.signinForm.addEventListener('submit', safely((ev: Event) => {
  ev.preventDefault()
  const value = el.keyInput.value.trim()
  el.keyInput.value = ''
  if (value) return signIn(value)
}))
el.signout.addEventListener('click', safely(() => signOut()))
el.newOperator.addEventListener('submit', safely(async (ev: Event) => {
  ev.preventDefault()
  const body: { name: string; maxChats?: number } = { name: el.newName.value.trim() }
  if (el.newMax.value !== '') body.maxChats = Number(el.newMax.value)
  try {
    const op = await api<Operator>('POST', '/operators', body)
    el.newName.value = ''
    el.newMax.value = ''
    notice(`Created ${op.name}. Give them a sign-in link.`)
    await refresh()
  } catch (err) {
    failed('Could not create the operator')(err)
  }
}))
el.copyLink.addEventListener('click', safely(async () => {
  await navigator.clipboard.writeText(el.link.value)
  notice('Link copied.')
}))
el.tailForm.addEventListener('submit', safely((ev: Event) => {
  ev.preventDefault()
  const channel = el.tailChannel.value.trim()
  if (channel) startTail(channel)
}))
el.tailStop.addEventListener('click', safely(() => {
  stopTail()
  el.tailState.textContent = 'Stopped.'
}))
el.publishForm.addEventListener('submit', safely((ev: Event) => {
  ev.preventDefault()
  return publish()
}))

const stored = sessionStorage.getItem(KEY)
if (stored) void signIn(stored)
else showSignIn()
