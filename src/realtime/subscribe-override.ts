/**
 * Centrifugo's per-subscription override of namespace options (`SubscribeOptionOverride`, from the subscribe proxy,
 * the connect proxy's `subs` and the server API's `subscribe`): the subscription is set up as if its namespace had
 * these values.
 */
import type { NamespaceOptions } from './config.js'
import type { SubscribeOverride } from './hooks.js'

export function withOverride(ns: NamespaceOptions, o: SubscribeOverride | undefined): NamespaceOptions {
  if (!o) return ns
  const out = { ...ns }
  if (o.presence !== undefined) out.presence = o.presence
  if (o.joinLeave !== undefined) out.joinLeave = o.joinLeave
  if (o.forceRecovery !== undefined) out.forceRecovery = o.forceRecovery
  if (o.forcePositioning !== undefined) out.forcePositioning = o.forcePositioning
  if (o.forcePushJoinLeave !== undefined) out.forcePushJoinLeave = o.forcePushJoinLeave
  return out
}

/** Centrifugo's JSON `override` (`{presence: {value: true}, join_leave: ..., ...}`); undefined when absent. */
export function overrideFromJson(v: unknown): SubscribeOverride | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'object' || Array.isArray(v)) throw new TypeError('override must be an object')
  const o = v as Record<string, unknown>
  const out: SubscribeOverride = {}
  const fields: Array<[string, keyof SubscribeOverride]> = [
    ['presence', 'presence'], ['join_leave', 'joinLeave'], ['force_recovery', 'forceRecovery'],
    ['force_positioning', 'forcePositioning'], ['force_push_join_leave', 'forcePushJoinLeave'],
  ]
  for (const [json, key] of fields) {
    const b = o[json]
    if (b === undefined || b === null) continue
    // A BoolValue wrapper: `{}` is false, as protobuf's JSON decoding reads it.
    if (typeof b !== 'object' || Array.isArray(b)) throw new TypeError(`override.${json} must be an object like {"value": true}`)
    const value = (b as { value?: unknown }).value
    if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`override.${json}.value must be a boolean`)
    out[key] = value === true
  }
  return out
}
