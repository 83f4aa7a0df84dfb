/**
 * The legacy server API, `POST /api` (centrifugo `internal/api/handler_legacy.go`): one or more
 * `{id?, method, params}` commands separated by newlines, `method` a name in any case or its number; one reply line
 * `{id?, result}` / `{id?, error}` per command, in order. A method name Centrifugo does not know does not decode
 * (HTTP 400); one it knows but OSS does not serve (`connections`, `update_user_status`, ...) answers error 104.
 */

/** Centrifugo v6's `Command.MethodType` numbers (api.proto). */
export const LEGACY_METHODS: Readonly<Record<string, number>> = {
  publish: 0, broadcast: 1, unsubscribe: 2, disconnect: 3, presence: 4, presence_stats: 5, history: 6, history_remove: 7,
  channels: 8, info: 9, rpc: 10, subscribe: 11, refresh: 12, connections: 14, update_user_status: 15, get_user_status: 16,
  delete_user_status: 17, block_user: 18, unblock_user: 19, revoke_token: 20, invalidate_user_tokens: 21, device_register: 22,
  device_update: 23, device_remove: 24, device_list: 25, device_topic_list: 26, device_topic_update: 27, user_topic_list: 28,
  user_topic_update: 29, send_push_notification: 30, update_push_status: 31, cancel_push: 32, map_publish: 33, map_remove: 34,
  map_read_state: 35, map_read_stream: 36, map_stats: 37, map_clear: 38, shared_poll_publish: 39,
}

const BY_NUMBER = new Map(Object.entries(LEGACY_METHODS).map(([name, n]) => [n, name]))

/** A method name from a legacy command's `method` (name in any case, or number); undefined when Centrifugo would not decode it. */
export function legacyMethodName(method: unknown): string | undefined {
  if (typeof method === 'string') {
    const name = method.toLowerCase()
    if (Object.hasOwn(LEGACY_METHODS, name)) return name
    // Go's decoder also takes the number as a string.
    return /^\d+$/.test(method) ? BY_NUMBER.get(Number(method)) : undefined
  }
  if (method === undefined || method === null) return 'publish' // the zero value of the enum, as protobuf JSON reads it
  if (typeof method === 'number' && Number.isInteger(method)) return BY_NUMBER.get(method)
  return undefined
}

/** Marks a body of several newline-separated JSON commands, which the content parser hands on as one value. */
export class LegacyCommandStream {
  constructor(readonly commands: unknown[]) {}
}

/** Splits a legacy body of several JSON values, one a line; undefined when a line is not JSON. */
export function parseLegacyStream(body: string, parse: (text: string) => { ok: true; value: unknown } | { ok: false; error: string }): LegacyCommandStream | undefined {
  const lines = body.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  if (lines.length < 2) return undefined
  const commands: unknown[] = []
  for (const line of lines) {
    const parsed = parse(line)
    if (!parsed.ok) return undefined
    commands.push(parsed.value)
  }
  return new LegacyCommandStream(commands)
}
