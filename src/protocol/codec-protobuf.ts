/**
 * The protobuf flavour of the client protocol (`centrifuge-protobuf`): Centrifugo's `client.proto` through
 * protobufjs. A frame is a run of varint length-delimited messages: Commands in, Replies out.
 * Payloads (`data`, `conn_info`, `chan_info`) travel as bytes holding JSON text, so JSON and protobuf clients
 * share channels; commands carrying other bytes are refused. Pure: no I/O, no state.
 */
import protobuf from 'protobufjs'
import { CLIENT_PROTO } from './client-proto.js'
import { REQUIRED, validateCommand, type Codec, type DecodeResult, type DecodedCommand } from './codec.js'
import type { CommandMethod, ErrorBody, Publication, Push } from './types.js'

const root = protobuf.parse(CLIENT_PROTO, { keepCase: true }).root
root.resolveAll()
const messageType = (name: string) => root.lookupType(`centrifugal.centrifuge.protocol.${name}`)
const CommandType = messageType('Command')
const ReplyType = messageType('Reply')
const ClientInfoType = messageType('ClientInfo')
const EmulationRequestType = messageType('EmulationRequest')

/** Deeper than any command the SDK sends (a subscription filter is the only recursive message). */
const MAX_DEPTH = 32
/** Field numbers above this are invalid in protobuf. */
const MAX_FIELD_NUMBER = 2 ** 29 - 1

/** A malformed command; caught in `decodeCommands`, never escapes it. */
class BadCommand extends Error {}

// ---- structure check --------------------------------------------------------------------------
// protobufjs decodes a known field whatever its wire type, so a wrong wire type would become garbage,
// not an error; the wire is checked against the schema first (as Go's generated UnmarshalVT does).

interface WireField {
  name: string
  wire: number
  /** A repeated scalar may also come packed (wire type 2). */
  packable: boolean
  nested?: WireSchema
}
interface WireSchema {
  fields: Map<number, WireField>
}

const schemas = new Map<protobuf.Type, WireSchema>()

function wireSchema(type: protobuf.Type): WireSchema {
  let schema = schemas.get(type)
  if (schema) return schema
  schema = { fields: new Map() }
  schemas.set(type, schema) // before the fields: recursive messages refer to it
  for (const field of type.fieldsArray) {
    const nested = field.resolvedType instanceof protobuf.Type ? wireSchema(field.resolvedType) : undefined
    if (field instanceof protobuf.MapField) {
      const entry: WireSchema = { fields: new Map() }
      entry.fields.set(1, { name: 'key', wire: scalarWire(field.keyType), packable: false })
      entry.fields.set(2, { name: 'value', wire: nested ? 2 : scalarWire(field.type), packable: false, nested })
      schema.fields.set(field.id, { name: field.name, wire: 2, packable: false, nested: entry })
    } else {
      const wire = nested ? 2 : scalarWire(field.type)
      schema.fields.set(field.id, { name: field.name, wire, packable: field.repeated && !nested && wire !== 2, nested })
    }
  }
  return schema
}

function scalarWire(type: string): number {
  const wire = (protobuf.types.basic as Record<string, number | undefined>)[type]
  if (wire === undefined) throw new Error(`client.proto: no wire type for ${type}`)
  return wire
}

const commandSchema = wireSchema(CommandType)

/** Set by `varint` to the position after the varint it read. */
let varintEnd = 0

/** Reads a varint (exact up to 2^53); -1 when it is truncated or longer than 10 bytes. */
function varint(buf: Uint8Array, pos: number, end: number): number {
  let value = 0
  let scale = 1
  for (let i = 0; i < 10 && pos < end; i++) {
    const byte = buf[pos++]
    value += (byte & 0x7f) * scale
    if (byte < 0x80) {
      varintEnd = pos
      return value
    }
    scale *= 128
  }
  return -1
}

/** Checks one message's tags, wire types and lengths against the schema, nested messages included. */
function checkMessage(buf: Uint8Array, pos: number, end: number, schema: WireSchema, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new BadCommand(`${path || 'command'}: nested deeper than ${MAX_DEPTH}`)
  while (pos < end) {
    const tag = varint(buf, pos, end)
    if (tag < 0) throw new BadCommand(`${path || 'command'}: truncated field tag`)
    pos = varintEnd
    const number = Math.floor(tag / 8)
    const wire = tag % 8
    if (number === 0 || number > MAX_FIELD_NUMBER) throw new BadCommand(`${path || 'command'}: invalid field number ${number}`)
    const field = schema.fields.get(number)
    const where = field ? (path ? `${path}.${field.name}` : field.name) : `${path || 'command'} field ${number}`
    // 3 and 4 are groups, which proto3 never uses; 6 and 7 do not exist.
    if (wire !== 0 && wire !== 1 && wire !== 2 && wire !== 5) throw new BadCommand(`${where}: invalid wire type ${wire}`)
    if (field && wire !== field.wire && !(field.packable && wire === 2)) {
      throw new BadCommand(`${where}: wire type ${wire}, expected ${field.wire}`)
    }
    switch (wire) {
      case 0:
        if (varint(buf, pos, end) < 0) throw new BadCommand(`${where}: truncated varint`)
        pos = varintEnd
        break
      case 1:
      case 5:
        pos += wire === 1 ? 8 : 4
        if (pos > end) throw new BadCommand(`${where}: truncated fixed-size value`)
        break
      default: {
        const length = varint(buf, pos, end)
        if (length < 0) throw new BadCommand(`${where}: truncated length`)
        pos = varintEnd
        if (length > end - pos) throw new BadCommand(`${where}: length ${length} exceeds the ${end - pos} bytes left`)
        if (field?.nested) checkMessage(buf, pos, pos + length, field.nested, where, depth + 1)
        pos += length
        break
      }
    }
  }
}

// ---- protobufjs messages <-> the JSON-shaped types of types.ts -----------------------------------

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64'])
const hasOwn = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key)
const utf8 = new TextDecoder('utf-8', { fatal: true })

function jsonFromBytes(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(utf8.decode(bytes))
  } catch {
    throw new BadCommand(`${where} must be JSON`)
  }
}

function safeNumber(value: number | protobuf.Long, where: string): number {
  const n = typeof value === 'number' ? value : new protobuf.util.LongBits(value.low >>> 0, value.high >>> 0).toNumber(value.unsigned)
  if (!Number.isSafeInteger(n)) throw new BadCommand(`${where} must be a safe integer`)
  return n
}

/**
 * A decoded message as the JSON codec would give it: fields at their proto3 default left out, bytes parsed
 * as JSON, 64-bit integers as numbers, maps as plain objects.
 */
function toPlain(message: Record<string, any>, type: protobuf.Type, path: string): Record<string, unknown> {
  const entries: Array<[string, unknown]> = []
  for (const field of type.fieldsArray) {
    if (!hasOwn(message, field.name)) continue
    const where = path ? `${path}.${field.name}` : field.name
    const value = fieldToPlain(field, message[field.name], where)
    if (value !== undefined) entries.push([field.name, value])
  }
  return Object.fromEntries(entries) // own properties even for a key such as `__proto__`
}

function fieldToPlain(field: protobuf.Field, value: any, where: string): unknown {
  if (value === null || value === undefined) return undefined
  const nested = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined
  if (field instanceof protobuf.MapField) {
    const keys = Object.keys(value)
    if (keys.length === 0) return undefined
    return Object.fromEntries(keys.map((k) => [k, nested ? toPlain(value[k], nested, `${where}.${k}`) : scalarToPlain(field.type, value[k], `${where}.${k}`)]))
  }
  if (field.repeated) {
    if (value.length === 0) return undefined
    return (value as unknown[]).map((v, i) => (nested ? toPlain(v as Record<string, any>, nested, `${where}[${i}]`) : scalarToPlain(field.type, v, `${where}[${i}]`)))
  }
  if (nested) return toPlain(value, nested, where)
  const plain = scalarToPlain(field.type, value, where)
  return plain === 0 || plain === '' || plain === false ? undefined : plain
}

function scalarToPlain(type: string, value: any, where: string): unknown {
  if (type === 'bytes') return value.length === 0 ? undefined : jsonFromBytes(value, where)
  if (LONG_TYPES.has(type)) return safeNumber(value, where)
  return value
}

/** A JSON-shaped value as a protobufjs message object: bytes fields get the value's JSON text. */
function toWire(value: Record<string, unknown>, type: protobuf.Type): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const v = value[key]
    const field = type.fields[key]
    if (v === undefined || !field) continue // what the protocol has no field for is not sent
    if (v === null && (field.type !== 'bytes' || field.repeated || field instanceof protobuf.MapField)) continue // a JSON null payload is sent as `null`
    const nested = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined
    if (field instanceof protobuf.MapField) {
      out[key] = Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, nested ? toWire(x, nested) : field.type === 'bytes' ? jsonBytes(x) : x]))
    } else if (field.repeated) {
      out[key] = (v as unknown[]).map((x) => (nested ? toWire(x as Record<string, unknown>, nested) : field.type === 'bytes' ? jsonBytes(x) : x))
    } else if (nested) {
      out[key] = toWire(v as Record<string, unknown>, nested)
    } else if (field.type === 'bytes') {
      out[key] = jsonBytes(v)
    } else if (v !== 0 && v !== false && v !== '') {
      out[key] = v // proto3 leaves defaults off the wire
    }
  }
  return out
}

/** Bytes given as such pass unchanged; any other value becomes its JSON text. */
const jsonBytes = (v: unknown): Uint8Array => (v instanceof Uint8Array ? v : Buffer.from(JSON.stringify(v)))

function delimitedReply(reply: Record<string, unknown>): Buffer {
  return ReplyType.encodeDelimited(reply).finish() as Buffer
}

// ---- the codec -----------------------------------------------------------------------------------

/**
 * Splits a binary frame into length-delimited Commands and validates each as the JSON codec does
 * (`validateCommand`). An empty Command is a pong. Errors name the field at fault.
 */
export function decodeCommands(frame: Buffer | string): DecodeResult {
  const buf = typeof frame === 'string' ? Buffer.from(frame) : frame
  if (buf.length === 0) return { ok: false, error: 'empty frame' }
  const commands: DecodedCommand[] = []
  let pos = 0
  try {
    while (pos < buf.length) {
      const length = varint(buf, pos, buf.length)
      if (length < 0) return { ok: false, error: `command ${commands.length + 1}: truncated length prefix` }
      pos = varintEnd
      if (length > buf.length - pos) {
        return { ok: false, error: `command ${commands.length + 1}: length ${length} exceeds the ${buf.length - pos} bytes left in the frame` }
      }
      const end = pos + length
      checkMessage(buf, pos, end, commandSchema, '', 0)
      const plain = toPlain(CommandType.decode(buf.subarray(pos, end)) as unknown as Record<string, any>, CommandType, '')
      // proto3 cannot tell an empty string from a missing one: required strings are present, maybe empty.
      for (const method of Object.keys(REQUIRED) as CommandMethod[]) {
        const body = plain[method] as Record<string, unknown> | undefined
        if (body) for (const name of Object.keys(REQUIRED[method]!)) body[name] ??= ''
      }
      const decoded = validateCommand(plain)
      if (typeof decoded === 'string') return { ok: false, error: decoded }
      commands.push(decoded)
      pos = end
    }
  } catch (err) {
    return { ok: false, error: err instanceof BadCommand ? err.message : `malformed protobuf: ${(err as Error).message}` }
  }
  return { ok: true, commands }
}

/** The server ping: an empty Reply (no id, no push), length 0. */
export const PING: Buffer = Buffer.from([0])

export function encodeReply(id: number, method: CommandMethod, result: unknown): Buffer {
  const field = ReplyType.fields[method]
  const reply: Record<string, unknown> = { id }
  if (field) reply[method] = toWire((result ?? {}) as Record<string, unknown>, field.resolvedType as protobuf.Type)
  return delimitedReply(reply)
}

export function encodeError(id: number, error: ErrorBody): Buffer {
  return delimitedReply({ id, error: toWire(error as unknown as Record<string, unknown>, ReplyType.fields.error.resolvedType as protobuf.Type) })
}

export function encodePush(push: Push): Buffer {
  return delimitedReply({ push: toWire(push as Record<string, unknown>, ReplyType.fields.push.resolvedType as protobuf.Type) })
}

/** A publication push from the payload's JSON text: encoded once per channel, shared by every subscriber. */
export function encodePublicationPush(channel: string, dataJson: string, pub: Omit<Publication, 'data'>): Buffer {
  const wirePub: Record<string, unknown> = { data: Buffer.from(dataJson) }
  if (pub.offset) wirePub.offset = pub.offset
  if (pub.info) wirePub.info = toWire(pub.info as unknown as Record<string, unknown>, ClientInfoType)
  if (pub.tags && Object.keys(pub.tags).length) wirePub.tags = pub.tags
  if (pub.delta) wirePub.delta = true
  return delimitedReply({ push: { channel, pub: wirePub } })
}

/** The protobuf SDK's EmulationRequest (the emulation endpoint's `application/octet-stream` body); `data` is its Commands frame. */
export interface ProtobufEmulationRequest {
  node: string
  session: string
  data: Buffer
}

const emulationRequestSchema = wireSchema(EmulationRequestType)

/** Decodes an EmulationRequest body; a bad one is `{ field, message }` naming what is wrong, never a throw. */
export function decodeEmulationRequest(body: Uint8Array): ProtobufEmulationRequest | { field: string; message: string } {
  try {
    checkMessage(body, 0, body.length, emulationRequestSchema, '', 0)
    const m = EmulationRequestType.decode(body) as unknown as { node?: string; session?: string; data?: Uint8Array }
    for (const field of ['node', 'session'] as const) {
      if (!m[field]) return { field, message: `${field} must be a non-empty string` }
    }
    return { node: m.node!, session: m.session!, data: Buffer.from(m.data ?? []) }
  } catch (err) {
    return { field: 'body', message: `the body must be a protobuf EmulationRequest: ${(err as Error).message}` }
  }
}

export const protobufCodec: Codec = {
  name: 'protobuf',
  binary: true,
  ping: PING,
  decodeCommands,
  encodeReply,
  encodeError,
  encodePush,
  encodePublicationPush,
  joinMessages: (messages) => Buffer.concat(messages.map((m) => (typeof m === 'string' ? Buffer.from(m) : m))),
}

// ---- the client's side, for tests and tools ------------------------------------------------------

/** Encodes JSON-shaped commands (types.ts) as a client frame; `data` values become their JSON text. */
export function encodeCommands(commands: readonly Record<string, unknown>[]): Buffer {
  const writer = protobuf.Writer.create()
  for (const command of commands) CommandType.encodeDelimited(toWire(command, CommandType), writer)
  return writer.finish() as Buffer
}

/** An EmulationRequest body as the protobuf SDK sends it to the emulation endpoint. */
export function encodeEmulationRequest(req: { node: string; session: string; data: Uint8Array }): Buffer {
  return EmulationRequestType.encode(req).finish() as Buffer
}

/** Decodes a server frame into JSON-shaped replies (`data` parsed from its JSON text). Throws on bad input. */
export function decodeReplies(frame: Uint8Array): Array<Record<string, unknown>> {
  const reader = protobuf.Reader.create(frame)
  const replies: Array<Record<string, unknown>> = []
  while (reader.pos < reader.len) {
    replies.push(toPlain(ReplyType.decodeDelimited(reader) as unknown as Record<string, any>, ReplyType, ''))
  }
  return replies
}
