/**
 * Security headers of every answer: `nosniff` and a `Referrer-Policy` everywhere, a strict Content-Security-Policy
 * on the console, admin and widget pages (they load only their own scripts, styles and WebSocket), and `default-src
 * 'none'` on JSON. The console and the admin page may not be framed; the widget may be framed by the sites configured.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'

export interface SecurityHeadersOptions {
  /**
   * CSP `frame-ancestors` sources of the widget page, the customers' sites that embed it (`https://shop.example`);
   * `*` lets any site frame it, `'none'` none. @default ['*']
   */
  widgetFrameAncestors?: string[]
}

/** The console page's paths (web/dist/index.html) and the widget's (web/dist/widget/index.html). */
const CONSOLE_PAGES = new Set(['/', '/index.html'])
/** The admin page (web/dist/admin/index.html): the console's policy, never framed. */
const ADMIN_PAGES = new Set(['/admin', '/admin/', '/admin/index.html'])
const WIDGET_PAGES = new Set(['/widget', '/widget/', '/widget/index.html'])

/** A Host header fit to be written into a CSP source: a DNS name or an IP address, with an optional port. */
const HOST = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i

/** A frame-ancestors source as CSP writes one: a keyword, a scheme, or a scheme/host/port with `*.` allowed. */
const FRAME_SOURCE = /^(?:\*|'none'|'self'|[a-z][a-z0-9+.-]*:|(?:[a-z][a-z0-9+.-]*:\/\/)?(?:\*\.)?[a-z0-9.-]+(?::(?:\d{1,5}|\*))?)$/i

/** Checks the configured widget frame ancestors; a malformed one stops the start rather than weakening the header. */
export function frameAncestorsOf(sources: string[]): string {
  if (sources.length === 0) return "'none'"
  for (const s of sources) {
    if (!FRAME_SOURCE.test(s)) throw new Error(`WIDGET_FRAME_ANCESTORS: "${s}" is not a CSP source (https://shop.example, *.example.com, 'self', * or 'none')`)
  }
  return sources.join(' ')
}

/** The policy of a page: its own scripts and styles only, no inline code, its own API and WebSocket. */
function pagePolicy(host: string | undefined, frameAncestors: string): string {
  // 'self' covers ws(s): of the page's origin in CSP3 browsers; the explicit sources cover older ones.
  const sockets = host && HOST.test(host) ? ` ws://${host} wss://${host}` : ''
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    // blob: previews of attachments, fetched with the page's token (src/http/api-v1-attachments.ts)
    "img-src 'self' data: blob:",
    `connect-src 'self'${sockets}`,
    "base-uri 'none'",
    "form-action 'self'",
    `frame-ancestors ${frameAncestors}`,
  ].join('; ')
}

/** An onSend hook setting the headers; register it on the root instance before any route. */
export function securityHeaders(opts: SecurityHeadersOptions = {}) {
  const widgetAncestors = frameAncestorsOf(opts.widgetFrameAncestors ?? ['*'])
  return async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    reply.header('x-content-type-options', 'nosniff')
    // Same-origin requests (the pages' own API calls) keep their Referer; no URL leaves for another site.
    reply.header('referrer-policy', 'same-origin')
    const path = req.url.split('?')[0]!
    if (CONSOLE_PAGES.has(path) || ADMIN_PAGES.has(path)) {
      reply.header('content-security-policy', pagePolicy(req.headers.host, "'none'"))
      reply.header('x-frame-options', 'DENY')
    } else if (WIDGET_PAGES.has(path)) {
      reply.header('content-security-policy', pagePolicy(req.headers.host, widgetAncestors))
    } else if (String(reply.getHeader('content-type') ?? '').startsWith('application/json')) {
      reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'")
    }
    return payload
  }
}
