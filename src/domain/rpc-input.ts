/**
 * The payloads of the domain's RPCs over the socket, checked as /api/v1 checks its bodies: closed objects,
 * bounded strings, storable text. A refusal is DomainError('bad_request') naming the field (error 107 on the wire).
 */
import { Type, type Static, type TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { DomainError } from './errors.js'
import { findBadText } from './text-guard.js'

/** `typing` from an operator's console: the chat it is typing in. */
export const OperatorTypingRpc = Type.Object({ chatId: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false })
/** `typing` from the widget: the draft, shown to the operator. */
export const ClientTypingRpc = Type.Object(
  { text: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Null()])) },
  { additionalProperties: false },
)

/** A checker of one payload schema: returns the payload typed, or throws DomainError naming the field. */
export function rpcPayload<T extends TSchema>(schema: T): (data: unknown) => Static<T> {
  const validator = Compile(schema)
  return (data) => {
    if (!validator.Check(data)) {
      const [first] = validator.Errors(data)
      const params = (first?.params ?? {}) as { additionalProperties?: string[]; requiredProperties?: string[] }
      const path = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.')
      const field = [path, params.additionalProperties?.[0] ?? params.requiredProperties?.[0]].filter(Boolean).join('.') || 'data'
      const why = params.additionalProperties ? 'is not a known field' : (first?.message ?? 'is invalid')
      throw new DomainError('bad_request', `${field}: ${why}`, field)
    }
    const bad = findBadText(data)
    if (bad) throw new DomainError('bad_request', `${bad.field}: ${bad.problem}`, bad.field)
    return data as Static<T>
  }
}
