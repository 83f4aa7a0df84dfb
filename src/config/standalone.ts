/** The operator-chat domain beside a standalone (Centrifugo-configured) gateway: its namespaces stay its own. */
import type { RealtimeConfig, NamespaceOptions } from '../realtime/config.js'
import { ConfigError, LIVEDESK_NAMESPACE } from './index.js'

/** The namespaces of the domain's channels (src/domain/channels.ts: `operator:`, `operators:`, `client:`). */
export const DOMAIN_NAMESPACES = ['operator', 'operators', 'client'] as const

/**
 * The gateway config with the domain's namespaces listed and closed to client-side operations (`serverSideOnly`).
 * From a Centrifugo file they get livedesk's options (history, recovery, presence), and a file that names one of
 * them is overridden (`replaced`); from livedesk's own config they keep what it gives them.
 */
export function withDomainNamespaces(realtime: RealtimeConfig): { realtime: RealtimeConfig; replaced: string[] } {
  const centrifugo = realtime.channelRules !== undefined
  // The domain's channels are `operator:…`: with another boundary they would fall in `without_namespace`.
  if (centrifugo && realtime.channelRules!.namespaceBoundary !== ':') {
    throw new ConfigError(`channel.namespace_boundary: must be ":" while the operator-chat domain is on (its channels are operator:…, client:…)`, 'channel.namespace_boundary')
  }
  const replaced = centrifugo ? DOMAIN_NAMESPACES.filter((name) => Object.hasOwn(realtime.namespaces, name)) : []
  const namespaces: Record<string, Partial<NamespaceOptions>> = { ...realtime.namespaces }
  // Namespaces are merged over the default one (the file's `without_namespace`): what livedesk's leaves out is unset.
  const unset = Object.fromEntries(Object.keys(realtime.defaultNamespace).filter((k) => !Object.hasOwn(LIVEDESK_NAMESPACE, k)).map((k) => [k, undefined]))
  for (const name of DOMAIN_NAMESPACES) {
    namespaces[name] = centrifugo
      ? { ...unset, ...LIVEDESK_NAMESPACE, serverSideOnly: true }
      : { ...realtime.defaultNamespace, ...realtime.namespaces[name], serverSideOnly: true }
  }
  return { realtime: { ...realtime, namespaces }, replaced }
}

/** Standalone mode: connects that are not the domain's are served as Centrifugo would (a Centrifugo file, or `insecure`). */
export const isStandalone = (realtime: RealtimeConfig): boolean =>
  realtime.channelRules !== undefined || realtime.insecure || !!realtime.allowAnonymousConnectWithoutToken
