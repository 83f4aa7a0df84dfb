/**
 * The operator-chat domain as one application on the gateway (standalone mode): a connect whose `data` carries the
 * domain's fields (`application`, `settings`) is the domain's; any other connect without a JWT is treated as
 * Centrifugo treats it (anonymous with `insecure` or `allow_anonymous_connect_without_token`, else refused 3501), and gets none of the domain's hooks.
 */
import { Disconnects, Errors } from '../protocol/codes.js'
import type { ConnectingEvent, ConnectionContext, RealtimeHooks } from './hooks.js'

/** The domain's connects carry `{ application, settings: { token } }` in `data` (src/main.ts domainHooks). */
export function isDomainConnect(e: ConnectingEvent): boolean {
  const data = e.data
  return typeof data === 'object' && data !== null && ('application' in data || 'settings' in data)
}

/** The domain sets `meta` on every connection it authenticates; standalone connections have none. */
const isDomainConnection = (ctx: ConnectionContext) => ctx.meta !== undefined

/** The domain's hooks for its own connections only; the others get Centrifugo's behaviour without proxies. */
export function besideStandalone(domain: RealtimeHooks, opts: { insecure: boolean; allowAnonymousConnectWithoutToken?: boolean }): RealtimeHooks {
  return {
    ...domain,
    authenticate: async (e) => {
      if (isDomainConnect(e)) return domain.authenticate!(e)
      if (opts.insecure || opts.allowAnonymousConnectWithoutToken) return { user: '' }
      throw Disconnects.badRequest
    },
    refresh: async (ctx, token) => {
      if (isDomainConnection(ctx) && domain.refresh) return domain.refresh(ctx, token)
      throw Errors.notAvailable()
    },
    rpc: async (ctx, method, data) => {
      if (isDomainConnection(ctx) && domain.rpc) return domain.rpc(ctx, method, data)
      throw Errors.notAvailable()
    },
    message: domain.message && ((ctx, data) => (isDomainConnection(ctx) ? domain.message!(ctx, data) : undefined)),
    connected: domain.connected && ((ctx, channels) => (isDomainConnection(ctx) ? domain.connected!(ctx, channels) : undefined)),
    disconnected: domain.disconnected && ((ctx, code, reason) => (isDomainConnection(ctx) ? domain.disconnected!(ctx, code, reason) : undefined)),
  }
}
