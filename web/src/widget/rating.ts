/**
 * The widget's satisfaction form (issue 16 item 7): once a session is closed, the visitor may rate it 1–5 with an
 * optional comment (POST /widget/sessions/{id}/rating, once); it is withdrawn when a new session starts.
 */
import type { Api } from '../shared/api.js'
import { ApiError } from '../shared/api.js'
import { h, safely } from '../shared/dom.js'

export interface WidgetRating {
  /** Offer the form for this closed session (unless it is rated already). */
  offer(sessionId: string): void
  /** A new session started: nothing to rate now. */
  withdraw(): void
}

export function widgetRating(deps: { api: Api; after: HTMLElement }): WidgetRating {
  let sessionId: string | null = null
  let score = 0
  const buttons = [1, 2, 3, 4, 5].map((n) =>
    h('button', { type: 'button', class: 'star', 'data-score': String(n), 'aria-label': `${n} of 5`, 'aria-pressed': 'false', onclick: () => pick(n) }, '☆'),
  )
  const comment = h('textarea', { rows: '2', maxlength: '1000', placeholder: 'Anything to add? (optional)', 'aria-label': 'Comment' }) as HTMLTextAreaElement
  const send = h('button', { type: 'submit', disabled: true }, 'Send rating')
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const form = h('form', { class: 'rating-form', 'data-testid': 'rating-form', hidden: true },
    h('p', {}, 'How did we do?'), h('div', { class: 'stars', role: 'group', 'aria-label': 'Rating' }, ...buttons), comment, send, error)
  const thanks = h('p', { class: 'muted rating-thanks', 'data-testid': 'rating-thanks', hidden: true }, 'Thank you for your rating!')
  deps.after.after(form, thanks)

  const pick = (n: number) => {
    score = n
    buttons.forEach((b, i) => {
      b.textContent = i < n ? '★' : '☆'
      b.setAttribute('aria-pressed', String(i + 1 === n))
    })
    send.disabled = false
  }
  const done = (text: string) => {
    form.hidden = true
    thanks.textContent = text
    thanks.hidden = false
    sessionId = null
  }

  form.addEventListener('submit', safely(async (ev: Event) => {
    ev.preventDefault()
    if (!sessionId || !score) return
    send.disabled = true
    try {
      await deps.api('POST', `/widget/sessions/${encodeURIComponent(sessionId)}/rating`, { score, comment: comment.value.trim() || null })
      done('Thank you for your rating!')
    } catch (err) {
      // 409: rated already (another tab); the visitor sees the same outcome.
      if (err instanceof ApiError && err.status === 409) return done('Thank you, this chat is rated already.')
      error.textContent = `Could not send the rating: ${(err as Error).message}`
      error.hidden = false
      send.disabled = false
    }
  }))

  return {
    offer(id) {
      if (sessionId === id) return
      sessionId = id
      pick(0)
      send.disabled = true
      comment.value = ''
      error.hidden = true
      thanks.hidden = true
      form.hidden = false
    },
    withdraw() {
      sessionId = null
      form.hidden = true
      thanks.hidden = true
    },
  }
}
