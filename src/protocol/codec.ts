/** Decoding client frames and encoding replies and pushes. Pure: no I/O, no state. */
import type { Command, CommandMethod, ErrorBody, Publication, Push } from './types.js'

export const COMMAND_METHODS: readonly CommandMethod[] = [
  'connect', 'subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats',
  'history', 'ping', 'send', 'rpc', 'refresh', 'sub_refresh',
]

/** One decoded line: a command with its method, or a pong (`{}`). */
export type DecodedCommand = { kind: 'command'; method: CommandMethod; id: number; command: Command } | { kind: 'pong' }

export type DecodeResult = { ok: true; commands: DecodedCommand[] } | { ok: false; error: string }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)

/** Fields each method must carry, with their JSON type; a wrong type is a bad request (as Go's unmarshal). */
export const REQUIRED: Partial<Record<CommandMethod, Record<string, 'string'>>> = {
  subscribe: { channel: 'string' },
  unsubscribe: { channel: 'string' },
  publish: { channel: 'string' },
  presence: { channel: 'string' },
  presence_stats: { channel: 'string' },
  history: { channel: 'string' },
  refresh: { token: 'string' },
  // Without a token Centrifugo answers error 107, not a disconnect: checked by the client, not here.
  sub_refresh: { channel: 'string' },
}
const OPTIONAL: Record<string, 'string' | 'number' | 'boolean' | 'object'> = {
  token: 'string', name: 'string', version: 'string', method: 'string', epoch: 'string',
  offset: 'number', limit: 'number', flag: 'number', recover: 'boolean', reverse: 'boolean',
  positioned: 'boolean', recoverable: 'boolean', join_leave: 'boolean', subs: 'object', headers: 'object', since: 'object',
  type: 'number', delta: 'string',
}

/** Validates one parsed line; returns a message naming the field at fault, or the decoded command. */
export function validateCommand(value: unknown): DecodedCommand | string {
  if (!isObject(value)) return `command must be an object, got ${typeName(value)}`
  const keys = Object.keys(value)
  if (keys.length === 0) return { kind: 'pong' }
  const id = value.id ?? 0
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffffffff) return `id must be a uint32, got ${typeName(value.id)}`
  const method = COMMAND_METHODS.find((m) => value[m] !== undefined && value[m] !== null)
  if (!method) return `unknown command: ${keys.filter((k) => k !== 'id').join(',') || 'none'}`
  const body = value[method]
  if (!isObject(body)) return `${method} must be an object, got ${typeName(body)}`
  for (const [field, type] of Object.entries(REQUIRED[method] ?? {})) {
    if (typeof body[field] !== type) return `${method}.${field} must be a ${type}, got ${typeName(body[field])}`
  }
  for (const [field, v] of Object.entries(body)) {
    const type = OPTIONAL[field]
    if (type && v !== undefined && v !== null && typeName(v) !== type) return `${method}.${field} must be a ${type}, got ${typeName(v)}`
  }
  if (method !== 'send' && id === 0) return `${method} needs a non-zero id`
  return { kind: 'command', method, id, command: value as Command }
}

/** Splits a text frame into newline-separated JSON commands (blank lines skipped) and validates each. */
export function decodeCommands(frame: string): DecodeResult {
  const commands: DecodedCommand[] = []
  for (const line of frame.split('\n')) {
    if (line.trim() === '') continue
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      return { ok: false, error: 'malformed JSON' }
    }
    const decoded = validateCommand(parsed)
    if (typeof decoded === 'string') return { ok: false, error: decoded }
    commands.push(decoded)
  }
  if (commands.length === 0) return { ok: false, error: 'empty frame' }
  return { ok: true, commands }
}

/** The server ping: any line without `id` and `push` is a ping to the SDK. */
export const PING = '{}'

export function encodeReply(id: number, method: CommandMethod, result: unknown): string {
  return `{"id":${id},"${method}":${result === undefined ? '{}' : JSON.stringify(result)}}`
}

export function encodeError(id: number, error: ErrorBody): string {
  return `{"id":${id},"error":${JSON.stringify(error)}}`
}

export function encodePush(push: Push): string {
  return `{"push":${JSON.stringify(push)}}`
}

/**
 * Encodes a publication push from the publication's data already serialised once (`dataJson`),
 * so a broadcast serialises its payload once per channel, not once per subscriber.
 */
export function encodePublicationPush(channel: string, dataJson: string, pub: Omit<Publication, 'data'>): string {
  let out = `{"push":{"channel":${JSON.stringify(channel)},"pub":{"data":${dataJson}`
  if (pub.offset) out += `,"offset":${pub.offset}`
  if (pub.info) out += `,"info":${JSON.stringify(pub.info)}`
  if (pub.tags && Object.keys(pub.tags).length) out += `,"tags":${JSON.stringify(pub.tags)}`
  if (pub.delta) out += ',"delta":true'
  return out + '}}}'
}

/** Encodes a publication object inside a result (history, recovery) from its pre-serialised data. */
export function encodePublication(dataJson: string, pub: Omit<Publication, 'data'>): string {
  let out = `{"data":${dataJson}`
  if (pub.offset) out += `,"offset":${pub.offset}`
  if (pub.info) out += `,"info":${JSON.stringify(pub.info)}`
  if (pub.tags && Object.keys(pub.tags).length) out += `,"tags":${JSON.stringify(pub.tags)}`
  return out + '}'
}

/** One encoded reply or push: a JSON line, or (protobuf) one length-delimited Reply. */
export type EncodedMessage = string | Buffer

/** A wire format of the client protocol; the JSON codec above and `protobufCodec` (codec-protobuf.ts) implement it. */
export interface Codec {
  /** As the SDK and Centrifugo name the format (`centrifuge-json`, `centrifuge-protobuf`). */
  readonly name: 'json' | 'protobuf'
  /** Frames travel as binary WebSocket messages (protobuf) or as text (JSON). */
  readonly binary: boolean
  /** The server ping; the SDK answers it with an empty command (a pong). */
  readonly ping: EncodedMessage
  /** Decodes one frame; bad input is `{ ok: false, error }` naming what is wrong, never a throw. */
  decodeCommands(frame: Buffer | string): DecodeResult
  encodeReply(id: number, method: CommandMethod, result: unknown): EncodedMessage
  encodeError(id: number, error: ErrorBody): EncodedMessage
  encodePush(push: Push): EncodedMessage
  /** Encoded once per channel; the same bytes go to every subscriber. `dataJson` is the payload as JSON text. */
  encodePublicationPush(channel: string, dataJson: string, pub: Omit<Publication, 'data'>): EncodedMessage
  /** One frame from several messages: JSON lines joined by newlines, protobuf messages concatenated. */
  joinMessages(messages: readonly EncodedMessage[]): EncodedMessage
}

const NEWLINE = Buffer.from('\n')

export const jsonCodec: Codec = {
  name: 'json',
  binary: false,
  ping: PING,
  decodeCommands: (frame) => decodeCommands(typeof frame === 'string' ? frame : frame.toString()),
  encodeReply,
  encodeError,
  encodePush,
  encodePublicationPush,
  joinMessages(messages) {
    if (messages.every((m) => typeof m === 'string')) return (messages as string[]).join('\n')
    const parts: Buffer[] = []
    messages.forEach((m, i) => {
      if (i > 0) parts.push(NEWLINE)
      parts.push(typeof m === 'string' ? Buffer.from(m) : m)
    })
    return Buffer.concat(parts)
  },
}
