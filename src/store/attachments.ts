/**
 * Attachments: the SQL of their metadata (`attachments`, migration 011) and where their bytes live, behind
 * `AttachmentStorage`: `database` (bytea rows in `attachment_blobs`, shared by every node on one PostgreSQL),
 * `disk` (files under `<DATA_DIR>/attachments`) or `s3` (./attachments-s3.ts). The bytes are written before
 * the metadata row, never inside a transaction, so no network call holds a database lock.
 */
import { createReadStream } from 'node:fs'
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import type { Db } from './db.js'

export type AttachmentStorageKind = 'database' | 'disk' | 's3'
export type UploaderType = 'client' | 'operator' | 'bot'

/** Where the bytes of attachments are kept; keys are chosen by the caller (the attachment id). */
export interface AttachmentStorage {
  readonly kind: AttachmentStorageKind
  /** Stores `body` under `key`; resolves once it is durable in the backend. */
  put(key: string, body: Buffer, mimeType: string): Promise<void>
  /** The bytes under `key`, or undefined when the backend has none. */
  get(key: string): Promise<{ body: Buffer | Readable; size?: number } | undefined>
  /** Removes `key`; a missing key is not an error. */
  delete(key: string): Promise<void>
}

/** Bytes in `attachment_blobs`: one `INSERT` each, no transaction of its own. */
export class DatabaseAttachmentStorage implements AttachmentStorage {
  readonly kind = 'database' as const
  constructor(private readonly db: Db) {}

  async put(key: string, body: Buffer): Promise<void> {
    await this.db.query(`INSERT INTO attachment_blobs (key, data) VALUES ($1, $2)`, [key, body])
  }

  async get(key: string): Promise<{ body: Buffer } | undefined> {
    const [row] = await this.db.query<{ data: Uint8Array }>(`SELECT data FROM attachment_blobs WHERE key = $1`, [key])
    if (!row) return undefined
    const data = row.data
    return { body: Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength) }
  }

  async delete(key: string): Promise<void> {
    await this.db.query(`DELETE FROM attachment_blobs WHERE key = $1`, [key])
  }
}

/** Files under `dir` (`<DATA_DIR>/attachments`), two hex characters of fan-out; written whole, then renamed. */
export class DiskAttachmentStorage implements AttachmentStorage {
  readonly kind = 'disk' as const
  constructor(private readonly dir: string) {}

  private path(key: string): string {
    if (!/^[A-Za-z0-9_-]{2,200}$/.test(key)) throw new Error(`not a storage key: ${key}`)
    return join(this.dir, key.slice(0, 2), key)
  }

  async put(key: string, body: Buffer): Promise<void> {
    const path = this.path(key)
    await mkdir(join(path, '..'), { recursive: true })
    // A reader never sees half a file: the name appears only once the bytes are written.
    const partial = `${path}.partial`
    await writeFile(partial, body, { mode: 0o600 })
    await rename(partial, path)
  }

  async get(key: string): Promise<{ body: Readable; size: number } | undefined> {
    const path = this.path(key)
    try {
      const { size } = await stat(path)
      // Bounded by the size, the stream ends with its last chunk instead of after one more read that finds EOF.
      return { body: size === 0 ? Readable.from([]) : createReadStream(path, { start: 0, end: size - 1 }), size }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true })
  }
}

export interface AttachmentRow {
  id: string
  chat_id: string
  session_id: string | null
  message_id: string | null
  uploader_type: UploaderType
  uploader_id: string | null
  name: string
  mime_type: string
  size: number
  storage: AttachmentStorageKind
  storage_key: string
  created_at: Date
}

export async function insertAttachment(
  db: Db,
  a: Pick<AttachmentRow, 'id' | 'chat_id' | 'session_id' | 'uploader_type' | 'uploader_id' | 'name' | 'mime_type' | 'size' | 'storage' | 'storage_key'>,
): Promise<AttachmentRow> {
  const [row] = await db.query<AttachmentRow>(
    `INSERT INTO attachments (id, chat_id, session_id, uploader_type, uploader_id, name, mime_type, size, storage, storage_key)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
    [a.id, a.chat_id, a.session_id, a.uploader_type, a.uploader_id, a.name, a.mime_type, a.size, a.storage, a.storage_key],
  )
  return { ...row!, size: Number(row!.size) }
}

/** The attachment and, once claimed, whether its message is an internal note. */
export async function attachmentById(db: Db, id: string): Promise<(AttachmentRow & { internal: boolean | null }) | undefined> {
  const [row] = await db.query<AttachmentRow & { internal: boolean | null }>(
    `SELECT a.*, m.internal FROM attachments a LEFT JOIN messages m ON m.id = a.message_id WHERE a.id = $1`,
    [id],
  )
  return row && { ...row, size: Number(row.size) }
}

/**
 * Gives the unclaimed attachments `ids` of `chatId`, uploaded by `uploader`, to message `messageId` of session
 * `sessionId`, in the caller's transaction; returns those it took, in the order of `ids`. One that is unknown,
 * of another chat or uploader, or already claimed is left out (the caller compares the counts).
 */
export async function claimAttachments(
  tx: Db,
  c: { ids: string[]; chatId: string; sessionId: string; messageId: string; uploader: { type: UploaderType; id: string | null } },
): Promise<AttachmentRow[]> {
  const rows = await tx.query<AttachmentRow>(
    `UPDATE attachments SET message_id = $3, session_id = $4
      WHERE id = ANY($1::text[]) AND chat_id = $2 AND message_id IS NULL AND uploader_type = $5 AND uploader_id IS NOT DISTINCT FROM $6
      RETURNING *`,
    [c.ids, c.chatId, c.messageId, c.sessionId, c.uploader.type, c.uploader.id],
  )
  const byId = new Map(rows.map((r) => [r.id, { ...r, size: Number(r.size) }]))
  return c.ids.flatMap((id) => byId.get(id) ?? [])
}

/**
 * Deletes up to `limit` uploads that no message claimed within `olderThanMs`; returns their storage keys (the
 * caller removes the bytes). Each row goes to one caller, whichever node sweeps at the same time.
 */
export async function deleteUnclaimedAttachments(db: Db, olderThanMs: number, limit = 200): Promise<string[]> {
  const rows = await db.query<{ storage_key: string }>(
    `DELETE FROM attachments WHERE id IN (
       SELECT id FROM attachments WHERE message_id IS NULL AND created_at < now() - $1 * interval '1 millisecond'
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING storage_key`,
    [olderThanMs, limit],
  )
  return rows.map((r) => r.storage_key)
}

/** The storage ATTACHMENT_STORAGE names; `s3` needs its endpoint, bucket and keys (a missing one stops the start). */
export async function openAttachmentStorage(o: {
  kind: AttachmentStorageKind
  db: Db
  dataDir: string
  s3?: Partial<import('./attachments-s3.js').S3Options>
}): Promise<AttachmentStorage> {
  if (o.kind === 'database') return new DatabaseAttachmentStorage(o.db)
  if (o.kind === 'disk') return new DiskAttachmentStorage(join(o.dataDir, 'attachments'))
  const s3 = o.s3 ?? {}
  const missing = (['endpoint', 'bucket', 'accessKeyId', 'secretAccessKey'] as const).filter((k) => !s3[k])
  if (missing.length > 0) {
    const env = { endpoint: 'S3_ENDPOINT', bucket: 'S3_BUCKET', accessKeyId: 'S3_ACCESS_KEY_ID', secretAccessKey: 'S3_SECRET_ACCESS_KEY' }
    throw new Error(`ATTACHMENT_STORAGE=s3 needs ${missing.map((k) => env[k]).join(', ')}`)
  }
  const { S3AttachmentStorage } = await import('./attachments-s3.js')
  return new S3AttachmentStorage(s3 as import('./attachments-s3.js').S3Options)
}
