/**
 * Centrifugo's channel rules for client-side operations (centrifugo `internal/client/handler.go` and
 * `internal/config/container.go`): unknown namespaces, channel names, private and user-limited channels, and who
 * may subscribe, publish, read history or presence. Pure functions over the configuration; `client.ts` applies them.
 */
import { Errors } from '../protocol/codes.js'
import type { NamespaceOptions, RealtimeConfig } from './config.js'
import type { ChannelOperation } from './hooks.js'

/** Namespace options of Centrifugo that livedesk's own namespaces leave unset (absent keeps livedesk's behaviour). */
export interface StandaloneNamespaceOptions {
  /** `allow_publish_for_subscriber`, `allow_history_for_subscriber`, `allow_presence_for_subscriber`: the connection must be subscribed to the channel. */
  allowPublishForSubscriber?: boolean
  allowHistoryForSubscriber?: boolean
  allowPresenceForSubscriber?: boolean
  /** `allow_*_for_anonymous`, one by one (`allowAnonymous` turns all four on). */
  allowSubscribeForAnonymous?: boolean
  allowPublishForAnonymous?: boolean
  allowHistoryForAnonymous?: boolean
  allowPresenceForAnonymous?: boolean
  /** `allow_user_limited_channels`: `ns:room#alice,bob` may be subscribed by alice and bob without a token. */
  allowUserLimitedChannels?: boolean
  /** `channel_regex`: the part of a channel after its namespace must match it, else 107 bad request. */
  channelRegex?: string
  /** `force_positioning`; absent: subscriptions of channels with history are always positioned (livedesk's default). */
  forcePositioning?: boolean
  /** `allow_positioning`: a subscriber may ask for positioning; absent: as `forcePositioning` absent. */
  allowPositioning?: boolean
  /** `allow_recovery`: a subscriber may ask for recovery; absent: any subscriber may (livedesk's default). */
  allowRecovery?: boolean
  /** `force_recovery_mode`: `cache` recovers only the latest publication. @default 'stream' */
  recoveryMode?: 'stream' | 'cache'
  /** `force_push_join_leave`; absent: join/leave goes to every subscriber (livedesk's default); false: to those that ask (`join_leave`) and may read presence. */
  forcePushJoinLeave?: boolean
  /** `history_meta_ttl` of this namespace; absent: the gateway's `historyMetaTtlMs`. */
  historyMetaTtlMs?: number
  /** Client-side subscribe, publish, history and presence are refused (103) whatever `insecure` or the `allow*` options say: the operator-chat domain's namespaces. A subscription token still subscribes. */
  serverSideOnly?: boolean
  /** `shared_poll` of a shared poll namespace (src/realtime/shared-poll.ts). */
  sharedPoll?: SharedPollNamespaceOptions
}

/** Centrifugo's namespace `shared_poll` block, in milliseconds. */
export interface SharedPollNamespaceOptions {
  proxyName?: string
  refreshIntervalMs?: number
  refreshBatchSize?: number
  maxKeysPerConnection?: number
  mode?: string
  channelShutdownDelayMs?: number
  trackExpiredExtraDelayMs?: number
  publishEnabled?: boolean
}

/** Centrifugo's `channel.*` name rules; absent from the gateway config: livedesk's (':' namespaces, every namespace known). */
export interface ChannelRules {
  /** @default ':' */
  namespaceBoundary: string
  /** @default '#' */
  userBoundary: string
  /** @default ',' */
  userSeparator: string
  /** Channels starting with it need a subscription token. @default '$' */
  privatePrefix: string
  /** Longer channel names are refused with 107. @default 255 */
  maxLength: number
  /** A channel of a namespace not configured is refused with 102 unknown channel, as Centrifugo does. */
  refuseUnknownNamespaces: boolean
}

export const CENTRIFUGO_CHANNEL_RULES: ChannelRules = {
  namespaceBoundary: ':', userBoundary: '#', userSeparator: ',', privatePrefix: '$', maxLength: 255, refuseUnknownNamespaces: true,
}

/** The namespace name of a channel ('' without one), after the private prefix, as Centrifugo's `namespaceName`. */
export function namespaceNameOf(config: RealtimeConfig, channel: string): { name: string; rest: string } {
  const rules = config.channelRules
  const boundary = rules?.namespaceBoundary ?? ':'
  const trimmed = rules?.privatePrefix && channel.startsWith(rules.privatePrefix) ? channel.slice(rules.privatePrefix.length) : channel
  const i = boundary ? trimmed.indexOf(boundary) : -1
  // livedesk's own rule: a leading ':' is no namespace.
  if (i < 0 || (!rules && i === 0)) return { name: '', rest: channel }
  return { name: trimmed.slice(0, i), rest: trimmed.slice(i + boundary.length) }
}

const regexes = new Map<string, RegExp>()
const isAscii = (s: string) => /^[\x00-\x7f]*$/.test(s)

/**
 * Refuses a channel Centrifugo would: a namespace not configured (102), a name too long, not ASCII or not matching
 * the namespace's `channel_regex` (107). Only with `channelRules` (a Centrifugo configuration); otherwise a no-op.
 */
export function checkChannelName(config: RealtimeConfig, channel: string, ns: NamespaceOptions): void {
  const rules = config.channelRules
  if (!rules) return
  if (channel.length > rules.maxLength) throw Errors.badRequest()
  const { name, rest } = namespaceNameOf(config, channel)
  if (rules.refuseUnknownNamespaces && name !== '' && !Object.hasOwn(config.namespaces, name)) throw Errors.unknownChannel()
  if (ns.channelRegex) {
    let re = regexes.get(ns.channelRegex)
    if (!re) regexes.set(ns.channelRegex, (re = new RegExp(ns.channelRegex)))
    if (!re.test(rest)) throw Errors.badRequest()
  } else if (!isAscii(channel)) {
    throw Errors.badRequest()
  }
}

/** Centrifugo's server API too refuses a channel of a namespace not configured (102); only with `channelRules`. */
export function checkNamespaceKnown(config: RealtimeConfig, channel: string): void {
  if (!config.channelRules?.refuseUnknownNamespaces) return
  const { name } = namespaceNameOf(config, channel)
  if (name !== '' && !Object.hasOwn(config.namespaces, name)) throw Errors.unknownChannel()
}

/** A channel that needs a subscription token whatever the namespace allows. */
export function isPrivateChannel(config: RealtimeConfig, channel: string): boolean {
  const prefix = config.channelRules?.privatePrefix
  return !!prefix && channel.startsWith(prefix)
}

/** A user-limited channel of a namespace that allows them (`ns:room#alice,bob`). */
export function isUserLimitedChannel(config: RealtimeConfig, channel: string, ns: NamespaceOptions): boolean {
  const boundary = config.channelRules?.userBoundary ?? '#'
  return !!ns.allowUserLimitedChannels && !!boundary && channel.includes(boundary)
}

/** The user is one of those after the channel's last user boundary. */
export function userAllowed(config: RealtimeConfig, channel: string, user: string): boolean {
  const boundary = config.channelRules?.userBoundary ?? '#'
  const separator = config.channelRules?.userSeparator ?? ','
  const allowed = channel.split(boundary).at(-1) ?? ''
  return separator ? allowed.split(separator).includes(user) : allowed === user
}

/**
 * Whether namespace options let a connection do `op` on a channel, as Centrifugo decides it: `for_client` holds for
 * any authenticated connection, `for_subscriber` for one subscribed to the channel, and an anonymous connection
 * (user '') needs the operation's `for_anonymous` besides. `insecure` allows everything.
 */
export function namespaceAllows(ns: NamespaceOptions, op: ChannelOperation, who: { user: string; subscribed: boolean; insecure: boolean }): boolean {
  if (ns.serverSideOnly) return false
  if (who.insecure) return true
  const forClient = op === 'subscribe' ? ns.allowSubscribe : op === 'publish' ? ns.allowPublish : op === 'history' ? ns.allowHistory : ns.allowPresence
  const forSubscriber = op === 'publish' ? ns.allowPublishForSubscriber : op === 'history' ? ns.allowHistoryForSubscriber : op === 'presence' ? ns.allowPresenceForSubscriber : false
  const forAnonymous = ns.allowAnonymous || !!(op === 'subscribe' ? ns.allowSubscribeForAnonymous : op === 'publish' ? ns.allowPublishForAnonymous : op === 'history' ? ns.allowHistoryForAnonymous : ns.allowPresenceForAnonymous)
  if (who.user === '' && !forAnonymous) return false
  return forClient || (!!forSubscriber && who.subscribed)
}
