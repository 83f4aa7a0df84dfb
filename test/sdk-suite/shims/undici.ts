/** `undici`'s `fetch` for the vendored tests: Node 20's own (undici inside), pointed at the suite's livedesk. */
import { toLivedesk } from './address.js'

export function fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const target = typeof input === 'string' || input instanceof URL ? toLivedesk(String(input)) : input
  return globalThis.fetch(target, init)
}
