/** Tiny DOM helpers: build elements without innerHTML, so text from the server is never parsed as markup. */

type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: any) => void)>
type Child = Node | string | null | undefined | false

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue
    if (typeof value === 'function') el.addEventListener(key.replace(/^on/, '').toLowerCase(), safely(value))
    else if (key === 'class') el.className = String(value)
    else if (value === true) el.setAttribute(key, '')
    else el.setAttribute(key, String(value))
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child)
  return el
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id)
  if (!el) throw new Error(`#${id} is missing from the page`)
  return el as T
}

/** Wraps a handler so an exception is reported and never escapes (an SDK handler that throws stops the SDK). */
export function safely<A extends unknown[]>(fn: (...args: A) => unknown): (...args: A) => void {
  return (...args: A) => {
    try {
      const result = fn(...args)
      if (result instanceof Promise) result.catch(report)
    } catch (err) {
      report(err)
    }
  }
}

function report(err: unknown): void {
  console.warn('livedesk: a handler failed', err)
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return ''
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}

/** Seconds as m:ss (whole seconds, rounded up so a countdown shows 0:00 only when due). */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds))
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}

/** Calls `fn` at most once per `ms`; the first call goes through at once. */
export function throttle(ms: number, fn: () => void): () => void {
  let last = 0
  return () => {
    const now = Date.now()
    if (now - last < ms) return
    last = now
    fn()
  }
}
