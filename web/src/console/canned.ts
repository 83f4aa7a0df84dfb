/**
 * Canned replies in the console: typing "/" and letters in the composer suggests matching replies (Tab or Enter
 * inserts the text, which the operator may edit before sending), and a small manager lists, adds, edits and
 * deletes my own replies.
 */
import type { Api } from '../shared/api.js'
import { h, safely } from '../shared/dom.js'

export interface CannedReply { id: string; shortcut: string; title: string; text: string; shared: boolean }

/** The "/word" being typed at the caret (at the start or after a space), or null. */
function slashWord(t: HTMLTextAreaElement): { start: number; query: string } | null {
  const before = t.value.slice(0, t.selectionStart)
  const m = /(^|\s)\/([a-z0-9_-]{0,32})$/.exec(before)
  return m ? { start: before.length - m[2].length - 1, query: m[2] } : null
}

export function consoleCanned(deps: { api: Api; text: HTMLTextAreaElement; composer: HTMLFormElement; notice: (msg: string) => void }): void {
  const { api, text, composer } = deps
  let replies: CannedReply[] | null = null
  let matches: CannedReply[] = []
  let active = 0
  const load = async () => (replies = (await api<{ items: CannedReply[] }>('GET', '/canned-replies')).items)

  const box = h('ul', { class: 'canned-suggestions', role: 'listbox', 'data-testid': 'canned-suggestions', hidden: true })
  composer.prepend(box)
  const hide = () => { box.hidden = true; matches = [] }
  const render = () => {
    box.replaceChildren(...matches.map((r, i) => h('li', {
      role: 'option', 'aria-selected': String(i === active), class: i === active ? 'active' : '',
      onmousedown: (ev: Event) => { ev.preventDefault(); pick(r) },
    }, h('strong', {}, `/${r.shortcut}`), ` ${r.title}`, r.shared ? h('span', { class: 'muted' }, ' · shared') : '')))
    box.hidden = matches.length === 0
  }
  const pick = (r: CannedReply) => {
    const w = slashWord(text)
    if (!w) return hide()
    const end = text.selectionStart
    text.value = text.value.slice(0, w.start) + r.text + text.value.slice(end)
    text.selectionStart = text.selectionEnd = w.start + r.text.length
    hide()
    text.focus()
  }
  const suggest = async () => {
    const typed = slashWord(text)
    if (!typed) return hide()
    // A fresh "/" reloads, so replies added elsewhere (API, another tab) show up.
    if (!replies || typed.query === '') await load()
    // The operator may have typed on while the list loaded.
    const w = slashWord(text)
    if (!w) return hide()
    // Personal first on a clash: the server orders them so; show one per shortcut.
    const seen = new Set<string>()
    matches = (replies ?? []).filter((r) => r.shortcut.startsWith(w.query) && !seen.has(r.shortcut) && seen.add(r.shortcut)).slice(0, 8)
    active = 0
    render()
  }
  text.addEventListener('input', safely(suggest))
  text.addEventListener('blur', () => hide())
  // Capture on the form runs before the composer's own Enter-sends handler on the textarea.
  composer.addEventListener('keydown', (ev: KeyboardEvent) => {
    if (box.hidden || ev.target !== text || matches.length === 0) return
    if (ev.key === 'Tab' || (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing)) pick(matches[active])
    else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') { active = (active + (ev.key === 'ArrowDown' ? 1 : matches.length - 1)) % matches.length; render() }
    else if (ev.key === 'Escape') hide()
    else return
    ev.preventDefault()
    ev.stopImmediatePropagation()
  }, true)

  // ---- the manager: my own replies -----------------------------------------------------------------
  const list = h('ul', { class: 'canned-list', 'data-testid': 'canned-list' })
  const shortcut = h('input', { placeholder: 'shortcut', pattern: '[a-z0-9_\\-]{1,32}', required: true, 'aria-label': 'Shortcut' }) as HTMLInputElement
  const title = h('input', { placeholder: 'title', maxlength: '200', required: true, 'aria-label': 'Title' }) as HTMLInputElement
  const body = h('textarea', { placeholder: 'text', maxlength: '4000', rows: '3', required: true, 'aria-label': 'Text' }) as HTMLTextAreaElement
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  let editing: string | null = null
  const form = h('form', { method: 'dialog', class: 'canned-form' }, shortcut, title, body, error,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save'), h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Close')))
  const dialog = h('dialog', { class: 'card canned-dialog', 'data-testid': 'canned-dialog' }, h('h2', {}, 'My canned replies'), list, form) as HTMLDialogElement
  document.body.append(dialog)
  const renderList = () => list.replaceChildren(...(replies ?? []).filter((r) => !r.shared).map((r) => h('li', {},
    h('strong', {}, `/${r.shortcut}`), ` ${r.title} `,
    h('button', { type: 'button', class: 'secondary', onclick: () => { editing = r.id; shortcut.value = r.shortcut; title.value = r.title; body.value = r.text } }, 'Edit'),
    h('button', { type: 'button', class: 'secondary', onclick: async () => { await api('DELETE', `/canned-replies/${encodeURIComponent(r.id)}`); await load(); renderList() } }, 'Delete'))))
  form.addEventListener('submit', safely(async (ev: Event) => {
    ev.preventDefault()
    const data = { shortcut: shortcut.value.trim(), title: title.value.trim(), text: body.value }
    try {
      if (editing) await api('PATCH', `/canned-replies/${encodeURIComponent(editing)}`, data)
      else await api('POST', '/canned-replies', data)
    } catch (err) {
      error.textContent = (err as Error).message
      error.hidden = false
      return
    }
    error.hidden = true
    editing = null
    form.reset()
    await load()
    renderList()
  }))
  const open = h('button', { type: 'button', class: 'secondary', 'data-testid': 'canned-open', title: 'Canned replies: type / in the reply to insert one', onclick: async () => { await load(); renderList(); dialog.showModal() } }, 'Replies')
  composer.append(open)
}
