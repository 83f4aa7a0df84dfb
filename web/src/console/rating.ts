/** The client's satisfaction rating of a closed chat, shown in the chat's header (issue 16 item 7). */
import { h } from '../shared/dom.js'
import type { ChatSession } from '../shared/types.js'

export const stars = (score: number): string => '★'.repeat(score) + '☆'.repeat(5 - score)

/** Inserts the rating line after `anchor`; `render(s)` shows the open chat's rating, or hides it. */
export function chatRating(anchor: HTMLElement): { render(s: ChatSession): void } {
  const line = h('span', { class: 'rating', 'data-testid': 'chat-rating', hidden: true })
  anchor.after(line)
  return {
    render(s) {
      const r = s.rating
      line.hidden = !r
      if (!r) return
      line.dataset.score = String(r.score)
      line.title = `rated ${r.score} of 5`
      line.textContent = `${stars(r.score)} ${r.score}/5${r.comment ? ` · “${r.comment}”` : ''}`
    },
  }
}
