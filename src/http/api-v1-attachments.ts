/**
 * The routes of /api/v1 for issue 16's attachments: uploads (multipart, one file, registered on these routes only)
 * into a session (its operators, a supervisor, the API key) or into the widget client's own chat, and the download
 * of a message's file for whoever may read that message. A message then carries uploads by `attachments: [id]`.
 */
import multipart from '@fastify/multipart'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { INLINE_TYPES, type Attachments, type Uploader, type Viewer } from '../domain/attachments.js'
import { DomainError } from '../domain/errors.js'
import { bearer, type Auth } from './api-v1-auth.js'
import * as S from './api-v1-schemas.js'
import { errorHandler, sendError } from './errors.js'
import type { MessageLimits } from './message-limits.js'

const API_KEY = [{ apiKey: [] }]
const OPERATOR = [{ operatorToken: [] }]
const CLIENT = [{ clientToken: [] }]
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorBody]))

export interface AttachmentRoutesOptions {
  auth: Auth
  attachments: Attachments
  /** An upload counts as a message of its sender toward the message limits. */
  limits: MessageLimits
}

/** `inline` or `attachment` with the name twice: ASCII-only in `filename`, exact in RFC 8187's `filename*`. */
export function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_')
  const exact = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${exact}`
}

/** Registered inside /api/v1 (its auth, error shape and hooks), in a context of its own for the multipart parser. */
export function attachmentRoutes(opts: AttachmentRoutesOptions) {
  return async (plain: FastifyInstance) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>()
    const { auth, attachments, limits } = opts
    const maxBytes = attachments.config.maxBytes
    // Two files are allowed to the parser so that a second one is seen and refused by name, not silently dropped.
    await app.register(multipart, { limits: { fileSize: maxBytes, files: 2, fields: 10, fieldSize: 4096, parts: 12 } })

    app.setErrorHandler((err: FastifyError, req, reply) => {
      // A refused upload may stop the parser mid-body: the connection closes after the answer, so the rest of the
      // upload is neither read nor left unread in a paused socket (which would hold the connection open).
      if (req.method === 'POST') reply.header('connection', 'close')
      switch (err.code) {
        case 'FST_REQ_FILE_TOO_LARGE':
          return sendError(reply, 413, 'payload_too_large', `the file is larger than ${maxBytes} bytes`, 'file')
        case 'FST_FILES_LIMIT':
        case 'FST_PARTS_LIMIT':
        case 'FST_FIELDS_LIMIT':
          return sendError(reply, 400, 'bad_request', 'send one file (and at most 10 other fields) per request', 'file')
        case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
        case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        case 'FST_MP_PREMATURE_CLOSE':
          return sendError(reply, 400, 'bad_request', 'send multipart/form-data with one file', 'file')
      }
      return errorHandler(err, req, reply)
    })

    /** The one file of a multipart request: its name, declared type and bytes (413 past the limit). */
    async function fileOf(req: FastifyRequest): Promise<{ name: string; declaredType: string; bytes: Buffer }> {
      if (!req.isMultipart()) throw new DomainError('bad_request', 'send multipart/form-data with one file', 'file')
      let file: { name: string; declaredType: string; bytes: Buffer } | undefined
      for await (const part of req.parts()) {
        if (part.type !== 'file') continue
        if (file) throw new DomainError('bad_request', 'send one file per request', 'file')
        file = { name: part.filename, declaredType: part.mimetype, bytes: await part.toBuffer() }
      }
      if (!file) throw new DomainError('bad_request', 'the request has no file', 'file')
      return file
    }

    const uploadSchema = (summary: string, security: Array<Record<string, string[]>>) => ({
      tags: ['attachments'],
      summary,
      description: `multipart/form-data with one file part (any field name), at most ${maxBytes} bytes; the answer's id goes into a message's \`attachments\``,
      consumes: ['multipart/form-data'],
      security,
      response: { 201: S.UploadedAttachment, ...errors(400, 401, 403, 404, 409, 413, 415, 429) },
    })

    app.post('/sessions/:id/attachments', {
      preValidation: auth.apiKeyOrOperator,
      schema: { ...uploadSchema('Upload a file into a session (the holder, a supervisor, anyone while queued; the API key for the bot)', [...API_KEY, ...OPERATOR]), params: S.IdParams },
    }, async (req, reply) => {
      const p = auth.of(req)
      const uploader: Uploader = p.kind === 'operator' ? { type: 'operator', id: p.operator.operatorId } : { type: 'bot', id: null }
      if (p.kind === 'operator') await limits.operator(p.operator.operatorId)
      const file = await fileOf(req)
      return reply.code(201).send(await attachments.upload(uploader, { sessionId: req.params.id }, file))
    })

    app.post('/widget/attachments', {
      preValidation: auth.client,
      schema: uploadSchema('Upload a file into my chat', CLIENT),
    }, async (req, reply) => {
      const clientId = auth.clientOf(req).id
      await limits.client(clientId)
      const file = await fileOf(req)
      return reply.code(201).send(await attachments.upload({ type: 'client', id: clientId }, { clientId }, file))
    })

    app.get('/attachments/:id', {
      preValidation: async (req) => {
        const token = bearer(req)
        if (auth.isApiKey(token)) await auth.apiKey(req)
        else if (token?.startsWith('cl_')) await auth.client(req)
        else await auth.operator(req)
      },
      schema: {
        tags: ['attachments'],
        summary: "A message's file: for the session's client, the operators who may read the session, the API key; 404 for anyone else",
        security: [...API_KEY, ...OPERATOR, ...CLIENT],
        params: S.IdParams,
        response: errors(401, 404),
      },
    }, async (req, reply: FastifyReply) => {
      const p = auth.of(req)
      const viewer: Viewer | { type: 'api' } = p.kind === 'apiKey' ? { type: 'api' } : p.kind === 'operator' ? { type: 'operator', id: p.operator.operatorId } : { type: 'client', id: p.client.id }
      const { row, body, size } = await attachments.open(viewer, req.params.id)
      // Only what the bytes proved an image is shown in the page; everything else is a download.
      const inline = INLINE_TYPES.has(row.mime_type)
      reply
        .header('content-type', row.mime_type)
        .header('content-disposition', contentDisposition(inline ? 'inline' : 'attachment', row.name))
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('cache-control', 'private, max-age=3600')
      if (size !== undefined || Buffer.isBuffer(body)) reply.header('content-length', String(size ?? (body as Buffer).length))
      return reply.send(body)
    })
  }
}
