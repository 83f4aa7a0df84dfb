/**
 * Client history and message search in the console (issue 16 item 4): a "History" panel under the open chat lists
 * its client's other sessions, a search box above the chat lists finds messages; either opens a session read-only
 * in a dialog (GET /sessions/{id} and its messages: the server decides what this operator may read).
 */
import type { Api } from '../shared/api.js'
import { formatTime, h, safely } from '../shared/dom.js'
import type { ChatSession, Message } from '../shared/types.js'

/** One session of GET /clients/{id}/sessions. */
interface ClientSession {
  id: string
  status: string
  startedAt: string
  closedAt: string | null
  operator: { id: string; name: string | null } | null
  messageCount: number
  lastMessage: Message | null
}

/** One hit of GET /search/messages. */
interface SearchHit {
  message: Message
  snippet: string
  highlights: Array<[number, number]>
  session: { id: string; status: string; startedAt: string }
  client: { id: string; name: string }
}

const formatDay = (iso: string): string => {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '' : `${d.toLocaleDateString()} ${formatTime(iso)}`
}

/** The snippet as text nodes, each match in a <mark> (never parsed as markup). */
function highlighted(snippet: string, highlights: Array<[number, number]>): Array<Node | string> {
  const parts: Array<Node | string> = []
  let at = 0
  for (const [start, end] of highlights) {
    if (start < at || end > snippet.length) continue
    parts.push(snippet.slice(at, start), h('mark', {}, snippet.slice(start, end)))
    at = end
  }
  parts.push(snippet.slice(at))
  return parts
}

export function consoleHistory(deps: { api: Api; sidebar: HTMLElement; after: HTMLElement; notice: (msg: string) => void }): { renderChat(s: ChatSession): void; reset(): void } {
  const { api, notice } = deps

  // ---- the read-only viewer ----
  const viewerTitle = h('h2', { 'data-testid': 'viewer-title' })
  const viewerMeta = h('p', { class: 'muted', 'data-testid': 'viewer-meta' })
  const viewerMessages = h('ol', { class: 'messages viewer-messages', 'data-testid': 'viewer-messages' })
  const viewer = h(
    'dialog',
    { class: 'card session-viewer', 'data-testid': 'session-viewer', 'aria-label': 'Session (read-only)' },
    h('div', { class: 'viewer-head' }, viewerTitle, h('button', { type: 'button', class: 'secondary', 'data-testid': 'viewer-close', onclick: () => viewer.close() }, 'Close')),
    viewerMeta,
    viewerMessages,
  )
  document.body.append(viewer)

  async function openSession(sessionId: string, focusMessageId?: string): Promise<void> {
    let session: ChatSession
    let messages: Message[]
    try {
      ;[session, { items: messages }] = await Promise.all([
        api<ChatSession>('GET', `/sessions/${encodeURIComponent(sessionId)}`),
        api<{ items: Message[] }>('GET', `/sessions/${encodeURIComponent(sessionId)}/messages?limit=200`),
      ])
    } catch (err) {
      notice(`Cannot open that conversation: ${(err as Error).message}`)
      return
    }
    viewer.dataset.session = session.id
    viewerTitle.textContent = `${session.name || 'Client'} · ${session.status}`
    viewerMeta.textContent = `Started ${formatDay(session.startedAt)}${session.closedAt ? `, closed ${formatDay(session.closedAt)}` : ''} · read-only`
    viewerMessages.replaceChildren(
      ...messages.map((m) =>
        h(
          'li',
          { class: `msg ${m.author.type} ${m.internal ? 'note' : ''} ${m.id === focusMessageId ? 'found' : ''}`, 'data-message': m.id, 'data-author': m.author.type },
          m.internal ? h('span', { class: 'note-label' }, 'Note') : null,
          m.author.type !== 'client' ? h('span', { class: 'author' }, m.author.name ?? m.author.type) : null,
          h('span', { class: 'text', 'data-testid': 'text' }, m.text),
          h('span', { class: 'meta' }, formatDay(m.createdAt)),
        ),
      ),
    )
    if (!viewer.open) viewer.showModal()
    viewerMessages.querySelector('.found')?.scrollIntoView({ block: 'center' })
  }

  // ---- search ----
  const input = h('input', { type: 'search', id: 'search-q', 'data-testid': 'search-q', placeholder: 'Search messages', 'aria-label': 'Search messages', maxlength: 200, autocomplete: 'off' })
  const results = h('ul', { class: 'sessions search-results', 'data-testid': 'search-results', hidden: true })
  const more = h('button', { type: 'button', class: 'link', 'data-testid': 'search-more', hidden: true }, 'More results')
  let nextCursor: string | null = null
  let query = ''

  async function runSearch(append: boolean): Promise<void> {
    const q = append ? query : input.value.trim()
    if (!q) {
      results.hidden = true
      more.hidden = true
      return
    }
    query = q
    let page: { items: SearchHit[]; nextCursor: string | null }
    try {
      page = await api('GET', `/search/messages?q=${encodeURIComponent(q)}&limit=20${append && nextCursor ? `&cursor=${encodeURIComponent(nextCursor)}` : ''}`)
    } catch (err) {
      notice(`Search failed: ${(err as Error).message}`)
      return
    }
    if (q !== query) return
    nextCursor = page.nextCursor
    const items = page.items.map((hit) =>
      h(
        'li',
        { 'data-session': hit.session.id, 'data-message': hit.message.id },
        h(
          'button',
          { type: 'button', class: 'session search-hit', onclick: () => openSession(hit.session.id, hit.message.id) },
          h('span', { class: 'name' }, hit.client.name || 'Client'),
          h('span', { class: 'tag' }, `${formatDay(hit.message.createdAt)}${hit.message.internal ? ' · note' : ''}`),
          h('span', { class: 'preview snippet', 'data-testid': 'snippet' }, ...highlighted(hit.snippet, hit.highlights)),
        ),
      ),
    )
    if (append) results.append(...items)
    else results.replaceChildren(...(items.length ? items : [h('li', { class: 'empty' }, 'Nothing found')]))
    results.hidden = false
    more.hidden = !nextCursor
  }

  const form = h(
    'form',
    { class: 'search', role: 'search', onsubmit: (ev: Event) => { ev.preventDefault(); return runSearch(false) } },
    input,
  )
  input.addEventListener('search', safely(() => { if (!input.value) void runSearch(false) }))
  more.addEventListener('click', safely(() => runSearch(true)))
  deps.sidebar.prepend(form, results, more)

  // ---- the open chat's client history ----
  const historyList = h('ul', { class: 'sessions history-list', 'data-testid': 'history-list' })
  const summary = h('summary', {}, 'History')
  const panel = h('details', { class: 'history', 'data-testid': 'history' }, summary, historyList)
  deps.after.after(panel)
  let shownFor: string | null = null

  async function loadHistory(s: ChatSession): Promise<void> {
    if (!s.clientId) return
    let page: { items: ClientSession[] }
    try {
      page = await api('GET', `/clients/${encodeURIComponent(s.clientId)}/sessions?limit=50`)
    } catch {
      // Not this operator's to see (a colleague's chat, say): no panel.
      if (shownFor === s.id) panel.hidden = true
      return
    }
    if (shownFor !== s.id) return
    const earlier = page.items.filter((x) => x.id !== s.id)
    summary.textContent = `History (${earlier.length} earlier)`
    historyList.replaceChildren(
      ...(earlier.length
        ? earlier.map((x) =>
            h(
              'li',
              { 'data-session': x.id, 'data-status': x.status },
              h(
                'button',
                { type: 'button', class: 'session', onclick: () => openSession(x.id) },
                h('span', { class: 'name' }, formatDay(x.startedAt)),
                h('span', { class: 'tag' }, `${x.status} · ${x.operator?.name ?? 'no operator'} · ${x.messageCount} messages`),
                h('span', { class: 'preview' }, x.lastMessage?.text ?? ''),
              ),
            ),
          )
        : [h('li', { class: 'empty' }, 'No earlier conversations')]),
    )
    panel.hidden = false
  }

  return {
    renderChat(s) {
      if (shownFor === s.id) return
      shownFor = s.id
      panel.hidden = true
      historyList.replaceChildren()
      loadHistory(s).catch(() => undefined)
    },
    reset() {
      shownFor = null
      panel.hidden = true
      results.hidden = true
      more.hidden = true
      input.value = ''
      if (viewer.open) viewer.close()
    },
  }
}
