/**
 * Attachment bytes in an S3-compatible bucket (AWS S3, MinIO, Ceph, s3rver): path-style URLs
 * (`<endpoint>/<bucket>/<key>`), requests signed with Signature V4 by `aws4`, sent with Node's `fetch`.
 */
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import aws4 from 'aws4'
import type { AttachmentStorage } from './attachments.js'

export interface S3Options {
  /** `https://s3.eu-central-1.amazonaws.com`, `http://minio:9000`: scheme, host and port, no bucket. */
  endpoint: string
  bucket: string
  /** @default 'us-east-1' */
  region?: string
  accessKeyId: string
  secretAccessKey: string
  /** Longest wait for one request to the bucket. @default 30_000 */
  timeoutMs?: number
}

export class S3AttachmentStorage implements AttachmentStorage {
  readonly kind = 's3' as const
  private readonly base: URL

  constructor(private readonly opts: S3Options) {
    this.base = new URL(opts.endpoint)
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new Error(`S3_ENDPOINT must be an http(s) URL, got "${opts.endpoint}"`)
  }

  /** A signed request for `key` of the bucket; the caller reads or drops the body. */
  private async request(method: 'GET' | 'PUT' | 'DELETE', key: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
    const prefix = this.base.pathname.replace(/\/+$/, '')
    const path = `${prefix}/${encodeURIComponent(this.opts.bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`
    const signed = aws4.sign(
      { host: this.base.host, path, method, service: 's3', region: this.opts.region ?? 'us-east-1', headers: { ...headers }, body },
      { accessKeyId: this.opts.accessKeyId, secretAccessKey: this.opts.secretAccessKey },
    )
    // fetch sets Host and Content-Length itself, to the values that were signed.
    const sent: Record<string, string> = {}
    for (const [name, value] of Object.entries(signed.headers ?? {})) {
      if (!/^(host|content-length)$/i.test(name) && value !== undefined) sent[name] = String(value)
    }
    return fetch(new URL(path, this.base), { method, headers: sent, body: body as Uint8Array<ArrayBuffer> | undefined, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000) })
  }

  async put(key: string, body: Buffer, mimeType: string): Promise<void> {
    const res = await this.request('PUT', key, body, { 'content-type': mimeType })
    const text = await res.text()
    if (!res.ok) throw new Error(`S3 PUT ${this.opts.bucket}/${key}: ${res.status} ${text.slice(0, 300)}`)
  }

  async get(key: string): Promise<{ body: Readable; size?: number } | undefined> {
    const res = await this.request('GET', key)
    if (res.status === 404) {
      await res.body?.cancel()
      return undefined
    }
    if (!res.ok || !res.body) throw new Error(`S3 GET ${this.opts.bucket}/${key}: ${res.status} ${(await res.text()).slice(0, 300)}`)
    const length = Number(res.headers.get('content-length'))
    return { body: Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), size: Number.isFinite(length) ? length : undefined }
  }

  async delete(key: string): Promise<void> {
    const res = await this.request('DELETE', key)
    await res.body?.cancel()
    if (!res.ok && res.status !== 404) throw new Error(`S3 DELETE ${this.opts.bucket}/${key}: ${res.status}`)
  }
}
