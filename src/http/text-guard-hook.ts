/** The /api/v1 hook that refuses text the store cannot hold (NUL, lone surrogates) wherever a request carries it. */
import type { FastifyRequest } from 'fastify'
import { DomainError } from '../domain/errors.js'
import { findBadText } from '../domain/text-guard.js'

/**
 * preHandler: after credentials and schemas, so a stranger learns nothing and a wrong type is named first;
 * a bad string in the path, the query string or the body (keys included) is a 400 naming the field.
 */
export async function refuseUnstorableText(req: FastifyRequest): Promise<void> {
  const parts: Array<[string, unknown]> = [['params', req.params], ['querystring', req.query], ['body', req.body]]
  for (const [part, value] of parts) {
    const bad = findBadText(value)
    if (bad) throw new DomainError('bad_request', `${part === 'body' ? '' : `${part} `}${bad.field}: ${bad.problem}`, bad.field)
  }
}
