/**
 * Attachments (issue 16): files uploaded into a chat, then carried by a message (`attachments: [id, ...]` on the
 * message request) whose `chatMessageCreated` lists them as `{ url, name, mimeType, size }`. Who may upload, who
 * may download, which types and how large; the bytes go through `AttachmentStorage` (src/store/attachments.ts).
 */
import type { Readable } from 'node:stream'
import type { Db } from '../store/db.js'
import {
  attachmentById,
  claimAttachments,
  deleteUnclaimedAttachments,
  insertAttachment,
  type AttachmentRow,
  type AttachmentStorageKind,
  type AttachmentStorage,
  type UploaderType,
} from '../store/attachments.js'
import { clientById, sessionById, type SessionRow } from '../store/chat.js'
import { roleOf } from '../store/availability.js'
import { DomainError } from './errors.js'
import type { Attachment } from './events.js'
import { newId } from './tokens.js'
import { mayReadSession } from './sessions.js'

/**
 * The types accepted by default: raster images (never SVG, which can carry script), PDF, plain text and CSV, and
 * the common office formats (Microsoft and OpenDocument).
 */
export const DEFAULT_ATTACHMENT_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
  'text/plain',
  'text/csv',
  'application/rtf',
  'application/msword',
  'application/vnd.ms-excel',
  'application/vnd.ms-powerpoint',
  'application/vnd.openxmlformats-officedocument.*',
  'application/vnd.oasis.opendocument.*',
]

/** @default 10 MiB */
export const DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024

/** Files per message. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 10

/** Who uploads or sends: the widget's client, an operator, or the API key (its messages are the bot's). */
export type Uploader = { type: 'client'; id: string } | { type: 'operator'; id: string } | { type: 'bot'; id: null }

/** Who asks to download. */
export type Viewer = Uploader

export interface AttachmentsConfig {
  storage: AttachmentStorage
  /** Largest file in bytes (the HTTP layer stops reading past it). */
  maxBytes: number
  /** Allowed types: exact (`application/pdf`) or with `*` (`image/*`, `application/vnd.oasis.opendocument.*`). */
  types: string[]
  /** An upload no message claimed within this is deleted (row and bytes). @default DEFAULT_ATTACHMENT_UNSENT_TTL_MS */
  unsentTtlMs?: number
}

/** @default 24 hours */
export const DEFAULT_ATTACHMENT_UNSENT_TTL_MS = 24 * 3_600_000

/** The attachment settings of `LivedeskOptions` (ATTACHMENT_* and S3_* variables). */
export interface AttachmentOptions {
  /** Largest file in bytes; larger is 413 naming `file`. @default 10 MiB */
  maxBytes?: number
  /** Uploads no message claimed within this many ms are deleted. @default 24 h */
  unsentTtlMs?: number
  /** Accepted types, exact or with `*`; others are 415 naming `file`. @default DEFAULT_ATTACHMENT_TYPES */
  types?: string[]
  /** Where the bytes live. @default 'database' with a PostgreSQL server (DATABASE_URL), 'disk' with PGlite */
  storage?: AttachmentStorageKind
  /** The bucket for `storage: 's3'` (path-style URLs, Signature V4). */
  s3?: { endpoint?: string; bucket?: string; region?: string; accessKeyId?: string; secretAccessKey?: string }
}

/** Where a message's attachment is downloaded: the same path for everyone, checked against the caller's token. */
export const attachmentUrl = (id: string) => `/api/v1/attachments/${encodeURIComponent(id)}`

export function attachmentView(r: Pick<AttachmentRow, 'id' | 'name' | 'mime_type' | 'size'>): Attachment {
  return { url: attachmentUrl(r.id), name: r.name, mimeType: r.mime_type, size: Number(r.size) }
}

/** The answer of an upload: the attachment with the id a message request names it by. */
export type UploadedAttachment = Attachment & { id: string }

/** The images whose type `sniffType` proves from their bytes: the only files served inline. */
export const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp'])

/** The type the first bytes prove, for the images and PDF; undefined when they prove nothing. */
export function sniffType(bytes: Buffer): string | undefined {
  const starts = (sig: number[], at = 0) => bytes.length >= at + sig.length && sig.every((b, i) => bytes[at + i] === b)
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  if (starts([0xff, 0xd8, 0xff])) return 'image/jpeg'
  if (starts([0x47, 0x49, 0x46, 0x38]) && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61) return 'image/gif'
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return 'image/webp'
  if (starts([0x25, 0x50, 0x44, 0x46, 0x2d])) return 'application/pdf'
  return undefined
}

/** Whether `type` matches one of `patterns` (`*` stands for any run of characters). */
export function typeAllowed(type: string, patterns: string[]): boolean {
  return patterns.some((p) => new RegExp(`^${p.toLowerCase().split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`).test(type))
}

/**
 * The type an upload is kept and served as: what its bytes prove for images and PDF, whatever the client said;
 * a declared image whose bytes are no known image is refused (415), so nothing is served inline unproven.
 */
export function effectiveType(declared: string | undefined, bytes: Buffer): string {
  const sniffed = sniffType(bytes)
  if (sniffed) return sniffed
  const type = (declared ?? '').split(';')[0]!.trim().toLowerCase()
  if (type.startsWith('image/')) throw new DomainError('unsupported_media_type', `the file is not a ${type} image (its first bytes are no PNG, JPEG, GIF or WebP)`, 'file')
  return /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(type) ? type : 'application/octet-stream'
}

/** A file name fit to show and to put in Content-Disposition: no directories, no control characters, ≤ 255. */
export function cleanFileName(raw: string | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? ''
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim().slice(0, 255)
  return clean === '' || clean === '.' || clean === '..' ? 'file' : clean
}

export class Attachments {
  private lastSweep = 0

  constructor(
    private readonly db: Db,
    readonly config: AttachmentsConfig,
  ) {}

  /**
   * Removes uploads no message claimed within `unsentTtlMs`, at most once per min(TTL, 1 min) on this node; run by
   * uploads (only uploads add such files), so an idle node does no work. A failure leaves them for the next sweep.
   */
  async sweepUnsent(): Promise<void> {
    const ttl = this.config.unsentTtlMs ?? DEFAULT_ATTACHMENT_UNSENT_TTL_MS
    const now = Date.now()
    if (now - this.lastSweep < Math.min(ttl, 60_000)) return
    this.lastSweep = now
    try {
      for (const key of await deleteUnclaimedAttachments(this.db, ttl)) await this.config.storage.delete(key).catch(() => undefined)
    } catch {
      // the next upload's sweep tries again
    }
  }

  /**
   * Keeps an uploaded file for the chat of session `sessionId` (operators: the holder, a supervisor, anyone while
   * queued; the API key) or of the client's own chat. The bytes are stored first, then the row is written.
   */
  async upload(uploader: Uploader, target: { sessionId: string } | { clientId: string }, file: { name?: string; declaredType?: string; bytes: Buffer }): Promise<UploadedAttachment> {
    const scope = await this.scopeOf(uploader, target)
    await this.sweepUnsent()
    if (file.bytes.length === 0) throw new DomainError('bad_request', 'the file is empty', 'file')
    if (file.bytes.length > this.config.maxBytes) throw new DomainError('payload_too_large', `the file is larger than ${this.config.maxBytes} bytes`, 'file')
    const mimeType = effectiveType(file.declaredType, file.bytes)
    if (!typeAllowed(mimeType, this.config.types)) throw new DomainError('unsupported_media_type', `files of type ${mimeType} are not accepted`, 'file')
    const id = newId()
    const storage = this.config.storage
    await storage.put(id, file.bytes, mimeType)
    try {
      const row = await insertAttachment(this.db, {
        id,
        chat_id: scope.chatId,
        session_id: scope.sessionId,
        uploader_type: uploader.type,
        uploader_id: uploader.id,
        name: cleanFileName(file.name),
        mime_type: mimeType,
        size: file.bytes.length,
        storage: storage.kind,
        storage_key: id,
      })
      return { id, ...attachmentView(row) }
    } catch (err) {
      await storage.delete(id).catch(() => undefined)
      throw err
    }
  }

  /** The chat (and session) an upload goes to, once the uploader may write there. */
  private async scopeOf(uploader: Uploader, target: { sessionId: string } | { clientId: string }): Promise<{ chatId: string; sessionId: string | null }> {
    if ('clientId' in target) {
      const client = await clientById(this.db, target.clientId)
      if (!client) throw new DomainError('not_found', `client ${target.clientId} not found`)
      return { chatId: client.chat_id, sessionId: null }
    }
    const session = await sessionById(this.db, target.sessionId)
    if (!session) throw new DomainError('not_found', `session ${target.sessionId} not found`)
    if (uploader.type === 'operator' && !(await mayWriteIn(this.db, uploader.id, session))) {
      throw new DomainError('forbidden', 'only the holder, a supervisor, or anyone while it is queued may attach files to this session')
    }
    if (session.status === 'closed') throw new DomainError('conflict', 'the session is closed')
    return { chatId: session.chat_id, sessionId: session.id }
  }

  /**
   * The file for `viewer`: the session's client (not a note's files), the operators who may read the session
   * (holder, previous holder, supervisors, anyone while queued), the API key; an unclaimed upload only for its
   * uploader. Anyone else gets not_found, as for a file that does not exist.
   */
  async open(viewer: Viewer | { type: 'api' }, id: string): Promise<{ row: AttachmentRow; body: Buffer | Readable; size?: number }> {
    const row = await attachmentById(this.db, id)
    const missing = () => new DomainError('not_found', `attachment ${id} not found`)
    if (!row || !(await this.mayView(viewer, row))) throw missing()
    const stored = await this.config.storage.get(row.storage_key)
    if (!stored) throw missing()
    return { row, ...stored }
  }

  private async mayView(viewer: Viewer | { type: 'api' }, row: AttachmentRow & { internal: boolean | null }): Promise<boolean> {
    if (viewer.type === 'api') return true
    if (!row.message_id) return row.uploader_type === viewer.type && row.uploader_id === viewer.id
    if (viewer.type === 'client') {
      const client = await clientById(this.db, viewer.id)
      return client?.chat_id === row.chat_id && row.internal !== true
    }
    if (viewer.type !== 'operator' || !row.session_id) return false
    const session = await sessionById(this.db, row.session_id)
    if (!session) return false
    // The rule of GET /sessions/{id}/messages, whose messages carry the file.
    try {
      await mayReadSession(this.db, viewer.id, session)
      return true
    } catch (err) {
      if (err instanceof DomainError && err.code === 'forbidden') return false
      throw err
    }
  }
}

/** Operators attach files where they may write a message or a note: holder, supervisor, anyone while queued. */
async function mayWriteIn(db: Db, operatorId: string, s: SessionRow): Promise<boolean> {
  return s.status === 'queued' || s.operator_id === operatorId || (await roleOf(db, operatorId)) === 'supervisor'
}

/**
 * Claims the uploads `ids` for the message being written (its id, session and author), in that message's
 * transaction; a file that is unknown, of another chat or sender, or already sent is a 400 naming `attachments`.
 */
export async function claimForMessage(
  tx: Db,
  ids: string[] | undefined,
  m: { messageId: string; session: Pick<SessionRow, 'id' | 'chat_id'>; author: { type: UploaderType; id: string | null } },
): Promise<Attachment[]> {
  if (!ids || ids.length === 0) return []
  const unique = [...new Set(ids)]
  if (unique.length !== ids.length) throw new DomainError('bad_request', 'an attachment is named twice', 'attachments')
  if (ids.length > MAX_ATTACHMENTS_PER_MESSAGE) throw new DomainError('bad_request', `at most ${MAX_ATTACHMENTS_PER_MESSAGE} attachments per message`, 'attachments')
  const rows = await claimAttachments(tx, { ids, chatId: m.session.chat_id, sessionId: m.session.id, messageId: m.messageId, uploader: m.author })
  if (rows.length !== ids.length) {
    const taken = new Set(rows.map((r) => r.id))
    const bad = ids.find((id) => !taken.has(id))
    throw new DomainError('bad_request', `attachment ${bad} is not an unsent upload of yours in this chat`, 'attachments')
  }
  return rows.map(attachmentView)
}
