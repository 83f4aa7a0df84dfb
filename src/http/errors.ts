/** The API's error shape `{ error: { code, message, field? } }` and the mapping of every failure to it. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { DomainError, type DomainErrorCode } from '../domain/errors.js'

export const STATUS: Record<DomainErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  token_expired: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  target_unavailable: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
}

export interface ApiError {
  error: { code: string; message: string; field?: string }
}

export function sendError(reply: FastifyReply, status: number, code: string, message: string, field?: string) {
  const body: ApiError = { error: { code, message } }
  if (field) body.error.field = field
  return reply.code(status).type('application/json').send(body)
}

/** The field a schema validation error is about, as a dotted path ('' for the whole body). */
function fieldOf(v: { instancePath?: string; params?: Record<string, unknown> }): string {
  const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.')
  const p = v.params ?? {}
  const extra =
    (p.missingProperty as string | undefined) ??
    (Array.isArray(p.requiredProperties) ? (p.requiredProperties[0] as string) : undefined) ??
    (Array.isArray(p.additionalProperties) ? (p.additionalProperties[0] as string) : undefined)
  return [path, extra].filter(Boolean).join('.')
}

/** Bad input is 4xx naming the field; a DomainError keeps its meaning; anything else is a logged 500. */
export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof DomainError) {
    // Every 429 says when to come back; @fastify/rate-limit has set its own already.
    if (err.code === 'rate_limited' && !reply.hasHeader('retry-after')) reply.header('retry-after', String(err.retryAfterSec ?? 1))
    return sendError(reply, STATUS[err.code], err.code, err.message, err.field)
  }
  if (err.validation) {
    const first = err.validation.find((v) => v.keyword !== 'boolean') ?? err.validation[0]
    const field = fieldOf(first as any)
    const where = err.validationContext === 'body' ? '' : `${err.validationContext} `
    const name = field || err.validationContext || 'body'
    return sendError(reply, 400, 'bad_request', `${where}${name}: ${first.message ?? 'is invalid'}`, name)
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, 413, 'payload_too_large', 'request body is too large')
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendError(reply, 415, 'unsupported_media_type', 'send application/json')
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return sendError(reply, err.statusCode, 'bad_request', err.message, err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'body' : undefined)
  }
  req.log.error({ err }, 'request failed')
  return sendError(reply, 500, 'internal', 'internal error')
}
