/**
 * The console's issue-15 parts, rendered from ConsoleState: my status switch, the group queues, the supervisor view
 * (the team's status and load, every open session with its holder) and the transfer dialog. main.ts calls in here.
 */
import { ApiError, type Api } from '../shared/api.js'
import { byId, h, safely } from '../shared/dom.js'
import type { ChatSession, GroupSummary, Operator, OperatorStatus, OperatorStatusRow } from '../shared/types.js'
import type { ConsoleState } from './state.js'

export interface RoutingDeps {
  api: Api
  state: () => ConsoleState
  notice: (text: string, ms?: number) => void
  /** The sidebar's session row (main.ts), reused for the group queues. */
  sessionItem: (s: ChatSession) => HTMLLIElement
  openChat: (sessionId: string) => Promise<void>
  renderAll: () => void
}

export interface ConsoleRouting {
  /** Loads group names and (for a supervisor) the team, then renders; failures only leave those parts sparse. */
  load(): Promise<void>
  renderStatus(): void
  /** The group queues and the supervisor view. */
  renderSidebar(): void
  /** The open chat's transfer button and the note of the transfer that brought it. */
  renderChat(s: ChatSession): void
  /** Closes the dialog (the console session ended). */
  reset(): void
}

const STATUS_LABEL: Record<OperatorStatus, string> = { online: 'online', away: 'away', offline: 'offline' }

export function consoleRouting(deps: RoutingDeps): ConsoleRouting {
  const { api, notice } = deps
  const el = {
    statusSwitch: byId('status-switch'),
    status: byId<HTMLSelectElement>('my-status'),
    statusAuto: byId('my-status-auto'),
    groupQueues: byId('group-queues'),
    supervisor: byId('supervisor'),
    team: byId('team'),
    teamCount: byId('team-count'),
    all: byId('all-sessions'),
    allCount: byId('all-count'),
    transfer: byId<HTMLButtonElement>('transfer'),
    chatTransfer: byId('chat-transfer'),
    dialog: byId<HTMLDialogElement>('transfer-dialog'),
    form: byId<HTMLFormElement>('transfer-form'),
    dialogName: byId('transfer-name'),
    target: byId<HTMLSelectElement>('transfer-target'),
    operatorId: byId<HTMLInputElement>('transfer-operator-id'),
    note: byId<HTMLTextAreaElement>('transfer-note'),
    error: byId('transfer-error'),
    submit: byId<HTMLButtonElement>('transfer-submit'),
    cancel: byId<HTMLButtonElement>('transfer-cancel'),
  }
  /** The session the dialog transfers. */
  let transferring: string | null = null
  /** Holders the team list did not have, reloaded for once each (an operator created after the list was loaded). */
  const reloadedFor = new Set<string>()

  // ---- my status ----

  async function setMyStatus(status: OperatorStatus): Promise<void> {
    const state = deps.state()
    el.status.disabled = true
    try {
      const me = await api<Partial<Operator> | undefined>('PUT', '/me/status', { status })
      if (state.me) {
        state.me.status = me?.status ?? status
        state.me.auto = me?.auto ?? me?.statusAuto ?? false
      }
      notice(status === 'online' ? 'You are online: new chats come to you.' : status === 'away' ? 'You are away: you keep your chats and get no new ones.' : 'You are offline: you get no new chats.', 4000)
    } catch (err) {
      notice(`Could not change your status: ${(err as Error).message}`)
    } finally {
      el.status.disabled = false
      renderStatus()
    }
  }

  function renderStatus(): void {
    const state = deps.state()
    el.statusSwitch.hidden = !state.me
    const { status, auto } = state.myStatus()
    el.status.value = status
    el.status.dataset.status = status
    // "auto" marks an auto-away/offline; a console connecting turns those online again (still flagged auto).
    el.statusAuto.hidden = !(auto && status !== 'online')
  }

  // ---- group queues and the supervisor view ----

  function renderSidebar(): void {
    const state = deps.state()
    el.groupQueues.replaceChildren(
      ...state.queues().slice(1).map(({ groupId, sessions }) =>
        h(
          'section',
          { 'data-group-queue': groupId! },
          h('h2', {}, `Queue · ${state.groupName(groupId!)} `, h('span', { class: 'count' }, String(sessions.length))),
          h('ul', { class: 'sessions', 'data-testid': 'group-queue' }, ...(sessions.length ? sessions.map(deps.sessionItem) : [h('li', { class: 'empty' }, 'Nobody is waiting')])),
        ),
      ),
    )
    el.supervisor.hidden = !state.isSupervisor()
    if (!state.isSupervisor()) return
    renderSupervisor(state)
    const unknown = state.supervised().map((s) => s.operatorId).filter((id) => id !== null && !state.operators.has(String(id)) && !reloadedFor.has(String(id)))
    if (unknown.length) {
      for (const id of unknown) reloadedFor.add(String(id))
      void load()
    }
  }

  function renderSupervisor(state: ConsoleState): void {
    const team = [...state.operators.values()].sort((a, b) => a.name.localeCompare(b.name))
    el.teamCount.textContent = String(team.length)
    el.team.replaceChildren(...(team.length ? team.map((o) => teamItem(state, o)) : [h('li', { class: 'empty' }, 'No operators')]))
    const open = state.supervised()
    el.allCount.textContent = String(open.length)
    el.all.replaceChildren(...(open.length ? open.map((s) => supervisedItem(state, s)) : [h('li', { class: 'empty' }, 'No open chats')]))
  }

  function teamItem(state: ConsoleState, o: OperatorStatusRow): HTMLLIElement {
    const load = state.loadOf(o)
    const groups = (o.groups ?? []).map((g) => state.groupName(g)).join(', ')
    const connected = o.connected === undefined ? null : o.connected ? 'connected' : 'not connected'
    return h(
      'li',
      { 'data-operator': o.id, 'data-status': o.status, 'data-auto': String(o.auto), 'data-load': String(load) },
      h('span', { class: 'status', title: o.status }),
      h('span', { class: 'name' }, o.name),
      h('span', { class: 'load', title: 'open chats / the most they take', 'data-testid': 'load' }, `${load}/${o.maxChats}`),
      h('span', { class: 'detail', 'data-testid': 'detail' }, [`${STATUS_LABEL[o.status] ?? o.status}${o.auto && o.status !== 'online' ? ' (auto)' : ''}`, connected, groups].filter(Boolean).join(' · ')),
    )
  }

  function holderText(state: ConsoleState, s: ChatSession): string {
    if (s.status === 'bot') return 'with the bot'
    if (s.status === 'assigned' && s.operatorId !== null) return `→ ${state.operatorName(String(s.operatorId)) ?? `operator ${s.operatorId}`}`
    return s.groupId ? `queue · ${state.groupName(s.groupId)}${s.groupClosed ? ' (closed)' : ''}` : 'queue'
  }

  function supervisedItem(state: ConsoleState, s: ChatSession): HTMLLIElement {
    const movable = s.status === 'assigned' || s.status === 'queued'
    return h(
      'li',
      { 'data-session': s.id, 'data-holder': s.status === 'assigned' && s.operatorId !== null ? String(s.operatorId) : '', 'data-status': s.status, class: s.id === state.openSessionId ? 'active' : '' },
      h(
        'button',
        { type: 'button', class: 'session', onclick: () => deps.openChat(s.id) },
        h('span', { class: 'name' }, s.name || 'Client'),
        h('span', { class: 'preview' }, s.lastMessage?.text ?? ''),
        h('span', { class: 'holder', 'data-testid': 'holder' }, holderText(state, s)),
      ),
      h(
        'span',
        { class: 'actions' },
        movable ? h('button', { type: 'button', class: 'secondary', 'data-action': 'transfer', onclick: safely(() => openTransfer(s.id)) }, 'Transfer') : null,
        s.status !== 'closed' ? h('button', { type: 'button', class: 'secondary', 'data-action': 'close', onclick: () => closeAny(s) }, 'Close') : null,
      ),
    )
  }

  /** A supervisor closes someone else's session (the same endpoint as the holder's "Close chat"). */
  async function closeAny(s: ChatSession): Promise<void> {
    const state = deps.state()
    try {
      state.upsertSession(await api<ChatSession>('POST', `/sessions/${encodeURIComponent(s.id)}/close`))
      if (state.openSessionId !== s.id) state.sessions.delete(s.id)
      notice(`You closed the chat with ${s.name}.`, 4000)
    } catch (err) {
      notice(`Could not close the chat with ${s.name}: ${(err as Error).message}`)
    }
    deps.renderAll()
  }

  // ---- the open chat ----

  function renderChat(s: ChatSession): void {
    const state = deps.state()
    el.transfer.hidden = !((state.isMine(s) || state.isSupervisor()) && (s.status === 'assigned' || s.status === 'queued'))
    const t = state.transfers.get(s.id)
    el.chatTransfer.hidden = !t
    el.chatTransfer.textContent = t
      ? `Transferred by ${state.transferredBy(t)}${t.fromOperatorId && t.by.id !== t.fromOperatorId ? ` from ${state.operatorName(t.fromOperatorId) ?? 'another operator'}` : ''}${t.note ? `: “${t.note}”` : ' (no note)'}`
      : ''
  }

  // ---- the transfer dialog ----

  /** The team's status and load (`GET /operators/status`), for the supervisor view and the transfer dialog. */
  async function loadTeam(): Promise<void> {
    const state = deps.state()
    const rows = await api<{ items: OperatorStatusRow[] } | OperatorStatusRow[]>('GET', '/operators/status')
    if (deps.state() === state) state.setOperators(Array.isArray(rows) ? rows : rows.items)
  }

  async function openTransfer(sessionId: string): Promise<void> {
    // A supervisor follows the team live; an operator reads it when it needs it (a failure leaves "by id").
    if (!deps.state().isSupervisor()) await loadTeam().catch(() => {})
    const state = deps.state()
    const s = state.sessions.get(sessionId)
    if (!s) return
    transferring = sessionId
    el.dialogName.textContent = s.name || 'the client'
    el.error.hidden = true
    el.note.value = ''
    el.operatorId.value = ''
    const holder = s.operatorId === null ? null : String(s.operatorId)
    const operators = [...state.operators.values()].filter((o) => o.id !== holder).sort((a, b) => a.name.localeCompare(b.name))
    const groups = new Set<string>([...state.groupNames.keys(), ...(state.me?.groups ?? [])])
    const options = [
      h('option', { value: 'queue' }, 'Back to the shared queue'),
      ...[...groups].sort((a, b) => state.groupName(a).localeCompare(state.groupName(b))).map((g) => h('option', { value: `group:${g}` }, `Group: ${state.groupName(g)}`)),
      ...operators.map((o) => h('option', { value: `operator:${o.id}` }, `${o.name} (${o.status}, ${state.loadOf(o)}/${o.maxChats})`)),
      h('option', { value: 'operator-id' }, 'Another operator, by id…'),
    ]
    el.target.replaceChildren(...options)
    const firstOnline = operators.find((o) => o.status === 'online')
    el.target.value = firstOnline ? `operator:${firstOnline.id}` : 'queue'
    el.operatorId.hidden = true
    el.dialog.showModal()
    el.target.focus()
  }

  function targetBody(): { body: Record<string, unknown>; label: string } | null {
    const state = deps.state()
    const value = el.target.value
    const note = el.note.value.trim()
    const withNote = (body: Record<string, unknown>) => (note ? { ...body, note } : body)
    if (value === 'queue') return { body: withNote({ queue: true }), label: 'the queue' }
    if (value.startsWith('group:')) {
      const id = value.slice('group:'.length)
      return { body: withNote({ groupId: id }), label: `the ${state.groupName(id)} queue` }
    }
    const id = value === 'operator-id' ? el.operatorId.value.trim() : value.slice('operator:'.length)
    if (!id) return null
    return { body: withNote({ operatorId: id }), label: state.operatorName(id) ?? `operator ${id}` }
  }

  async function submitTransfer(): Promise<void> {
    const state = deps.state()
    const sessionId = transferring
    const target = targetBody()
    if (!sessionId) return
    if (!target) {
      showError("Write the operator's id, or pick another target.")
      return
    }
    el.submit.disabled = true
    try {
      const moved = await api<ChatSession>('POST', `/sessions/${encodeURIComponent(sessionId)}/transfer`, target.body)
      const name = state.sessions.get(sessionId)?.name ?? moved.name
      state.upsertSession(moved)
      if (moved.transfer) state.transfers.set(moved.id, moved.transfer)
      // The holder's chatSessionDeleted drops it too; a supervisor keeps watching it.
      if (!state.isSupervisor() && !state.visible(moved)) {
        state.sessions.delete(moved.id)
        state.messages.delete(moved.id)
        if (state.openSessionId === moved.id) state.openSessionId = null
      }
      transferring = null
      el.dialog.close()
      notice(`You transferred the chat with ${name} to ${moved.transfer ? state.transferTarget(moved.transfer) : target.label}.`, 5000)
      deps.renderAll()
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        showError(`${capitalize(target.label)} cannot take this chat now (${err.message}). Pick someone who is online and has a free slot, a group, or the queue.`)
      } else if (err instanceof ApiError && err.status === 400 && err.field) {
        showError(`Check ${err.field}: ${err.message}`)
      } else {
        showError(`Could not transfer: ${(err as Error).message}`)
      }
    } finally {
      el.submit.disabled = false
    }
  }

  function showError(text: string): void {
    el.error.textContent = text
    el.error.hidden = false
  }

  // ---- loading ----

  async function load(): Promise<void> {
    const state = deps.state()
    if (!state.me) return
    // My status may have changed while no console listened (auto-away, another tab): the switch follows the server.
    const me = await api<Operator>('GET', '/me').catch(() => null)
    if (me && state.me && deps.state() === state) {
      state.me.status = me.status ?? state.me.status
      state.me.auto = me.auto ?? me.statusAuto ?? state.me.auto
      state.me.groups = me.groups ?? state.me.groups
      state.me.role = me.role ?? state.me.role
      renderStatus()
    }
    // Group names for the queue headings and the dialog; without them the ids show.
    const groups = await api<{ items: GroupSummary[] } | GroupSummary[]>('GET', '/groups').catch(() => null)
    if (groups) for (const g of Array.isArray(groups) ? groups : groups.items) state.groupNames.set(g.id, g.name)
    if (state.isSupervisor()) {
      try {
        await loadTeam()
      } catch (err) {
        notice(`Could not load the team's status: ${(err as Error).message}`)
      }
    }
    if (deps.state() === state) deps.renderAll()
  }

  // ---- wiring ----

  el.status.addEventListener('change', safely(() => setMyStatus(el.status.value as OperatorStatus)))
  el.transfer.addEventListener('click', safely(() => {
    const id = deps.state().openSessionId
    if (id) return openTransfer(id)
  }))
  el.target.addEventListener('change', safely(() => {
    el.operatorId.hidden = el.target.value !== 'operator-id'
    el.error.hidden = true
    if (!el.operatorId.hidden) el.operatorId.focus()
  }))
  el.form.addEventListener('submit', safely((ev: Event) => {
    ev.preventDefault()
    return submitTransfer()
  }))
  el.cancel.addEventListener('click', safely(() => el.dialog.close()))
  // Cancel, Esc or a transfer done: the dialog forgets its session.
  el.dialog.addEventListener('close', safely(() => {
    transferring = null
  }))

  return {
    load,
    renderStatus,
    renderSidebar,
    renderChat,
    reset() {
      transferring = null
      if (el.dialog.open) el.dialog.close()
    },
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}
