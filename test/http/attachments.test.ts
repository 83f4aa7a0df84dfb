/**
 * Issue 16 item 1: attachments, on PGlite and PostgreSQL, with the bytes in the database, on disk and in a real
 * S3-compatible server (s3rver on 127.0.0.1, signatures checked). Uploads from the widget and the console, the real
 * SDK receiving `chatMessageCreated` with `attachments: [{ url, name, mimeType, size }]`, downloads of the same
 * bytes, the limits (413/415/400 naming `file`) and who may download (others get 404).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import S3rver from 's3rver'
import { api, connect, newClient, ok, type Console } from './e2e.js'
import { operatorWith } from '../helpers/databases15.js'
import { startTestLivedesk, type TestLivedesk } from '../helpers/livedesk.js'
import { postgresAvailable, tempPostgres, type TestDatabase } from '../store/databases.js'

const pgUp = await postgresAvailable()

/** A real 4×4 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGM4IWcDRwzEcQDgQxIh0JD36gAAAABJRU5ErkJggg==', 'base64')
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n')
const MAX_BYTES = 64 * 1024
const BUCKET = 'livedesk-attachments'

/** POSTs one multipart request: `files` as file parts (name, type, bytes), `fields` as plain fields. */
async function upload(l: TestLivedesk, path: string, token: string | null, files: Array<{ name: string; type: string; bytes: Buffer }>, fields: Record<string, string> = {}) {
  const form = new FormData()
  for (const [k, v] of Object.entries(fields)) form.append(k, v)
  for (const f of files) form.append('file', new Blob([f.bytes], { type: f.type }), f.name)
  const res = await fetch(`${l.url}/api/v1${path}`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {}, body: form })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

async function download(l: TestLivedesk, url: string, token: string | null) {
  const res = await fetch(`${l.url}${url}`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) }
}

let s3: { server: { close(): Promise<void> }; endpoint: string; dir: string } | undefined

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'livedesk-s3rver-'))
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: BUCKET }] })
  const { port } = await server.run()
  s3 = { server, endpoint: `http://127.0.0.1:${port}`, dir }
})

afterAll(async () => {
  await s3?.server.close()
  if (s3) rmSync(s3.dir, { recursive: true, force: true })
})

const matrix: Array<{ db: 'PGlite' | 'PostgreSQL'; storage: 'database' | 'disk' | 's3' }> = [
  { db: 'PGlite', storage: 'disk' },
  { db: 'PGlite', storage: 'database' },
  { db: 'PGlite', storage: 's3' },
  { db: 'PostgreSQL', storage: 'database' },
  { db: 'PostgreSQL', storage: 'disk' },
  { db: 'PostgreSQL', storage: 's3' },
]

for (const { db: kind, storage } of matrix) {
  const run = kind === 'PostgreSQL' && !pgUp ? describe.skip : describe
  run(`attachments (${kind}, storage ${storage})`, () => {
    let l: TestLivedesk
    let db: TestDatabase | undefined
    const consoles: Console[] = []
    const open = async (application: 'notifications' | 'widget', token: string) => {
      const c = await connect(l, application, token)
      consoles.push(c)
      return c
    }

    beforeAll(async () => {
      db = kind === 'PostgreSQL' ? await tempPostgres() : undefined
      l = await startTestLivedesk({
        databaseUrl: db?.databaseUrl,
        attachments: {
          maxBytes: MAX_BYTES,
          // the default without `storage` is checked by the first two rows: disk with PGlite, database with PostgreSQL
          ...((kind === 'PGlite' && storage === 'disk') || (kind === 'PostgreSQL' && storage === 'database') ? {} : { storage }),
          s3: { endpoint: s3!.endpoint, bucket: BUCKET, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        },
      })
    }, 30_000)

    afterAll(async () => {
      consoles.forEach((c) => c.close())
      await l?.close().catch(() => {})
      await db?.drop()
    }, 30_000)

    it('a file from the widget reaches the console over the SDK and back; both download the same bytes', async () => {
      const ann = await operatorWith(l, 'Ann')
      const annConsole = await open('notifications', ann.token)
      const client = await newClient(l, 'Maria')
      const widget = await open('widget', client.token)

      // the client says octet-stream; the bytes say PNG, and that is what is kept and served
      const up = await upload(l, '/widget/attachments', client.token, [{ name: 'C:\\photos\\cat.png', type: 'application/octet-stream', bytes: PNG }])
      expect(up.status, JSON.stringify(up.body)).toBe(201)
      expect(up.body).toEqual({ id: expect.any(String), url: `/api/v1/attachments/${up.body.id}`, name: 'cat.png', mimeType: 'image/png', size: PNG.length })
      const attachment = { url: up.body.url, name: 'cat.png', mimeType: 'image/png', size: PNG.length }

      const sent = await ok(l, 'POST', '/widget/messages', { text: 'look at this', attachments: [up.body.id] }, client.token)
      expect(sent.attachments).toEqual([attachment])
      const created = await annConsole.next('chatMessageCreated', (e) => e.data.id === sent.id, 10_000)
      expect(created.data.attachments).toEqual([attachment])
      expect((await widget.next('chatMessageCreated', (e) => e.data.id === sent.id)).data.attachments).toEqual([attachment])

      const got = await download(l, attachment.url, ann.token)
      expect(got.status).toBe(200)
      expect(got.bytes.equals(PNG)).toBe(true)
      expect(got.headers.get('content-type')).toBe('image/png')
      expect(got.headers.get('content-disposition')).toBe(`inline; filename="cat.png"; filename*=UTF-8''cat.png`)
      expect(got.headers.get('x-content-type-options')).toBe('nosniff')
      expect((await download(l, attachment.url, client.token)).bytes.equals(PNG)).toBe(true)
      // the history of both sides carries it too
      expect((await ok(l, 'GET', `/sessions/${sent.sessionId}/messages`, undefined, ann.token)).items.at(-1).attachments).toEqual([attachment])
      expect((await ok(l, 'GET', '/widget/messages', undefined, client.token)).items.at(-1).attachments).toEqual([attachment])

      // the operator sends a PDF without a caption; its name survives and is escaped in the header
      const name = 'report Q1 Übersicht (final).pdf'
      const doc = await upload(l, `/sessions/${sent.sessionId}/attachments`, ann.token, [{ name, type: 'application/pdf', bytes: PDF }])
      expect(doc.status, JSON.stringify(doc.body)).toBe(201)
      const reply = await ok(l, 'POST', `/sessions/${sent.sessionId}/messages`, { attachments: [doc.body.id] }, ann.token)
      expect(reply.text).toBe('')
      const pdf = { url: doc.body.url, name, mimeType: 'application/pdf', size: PDF.length }
      expect((await widget.next('chatMessageCreated', (e) => e.data.id === reply.id)).data.attachments).toEqual([pdf])
      const fetched = await download(l, pdf.url, client.token)
      expect(fetched.status).toBe(200)
      expect(fetched.bytes.equals(PDF)).toBe(true)
      expect(fetched.headers.get('content-disposition')).toBe(`attachment; filename="report Q1 _bersicht (final).pdf"; filename*=UTF-8''report%20Q1%20%C3%9Cbersicht%20%28final%29.pdf`)

      if (storage === 'disk') expect(readdirSync(join(l.dataDir, 'attachments')).length).toBeGreaterThan(0)
      if (storage === 's3') {
        // the object is in the bucket, under the attachment's id
        expect(readdirSync(join(s3!.dir, BUCKET), { recursive: true }).some((f) => String(f).includes(doc.body.id))).toBe(true)
      }
    })

    it('refuses files too large (413), of a type not accepted (415) and requests without one file (400), naming file', async () => {
      const client = await newClient(l)
      const url = '/widget/attachments'
      const big = await upload(l, url, client.token, [{ name: 'big.txt', type: 'text/plain', bytes: Buffer.alloc(MAX_BYTES + 1, 'a') }])
      expect(big.status).toBe(413)
      expect(big.body.error).toMatchObject({ code: 'payload_too_large', field: 'file' })
      const exe = await upload(l, url, client.token, [{ name: 'setup.exe', type: 'application/x-msdownload', bytes: Buffer.from('MZ\x90\x00') }])
      expect(exe.status).toBe(415)
      expect(exe.body.error).toMatchObject({ code: 'unsupported_media_type', field: 'file' })
      // an "image" whose bytes are no image is never kept (it would be served inline)
      const fake = await upload(l, url, client.token, [{ name: 'x.png', type: 'image/png', bytes: Buffer.from('<svg onload=alert(1)>') }])
      expect(fake.status).toBe(415)
      expect(fake.body.error.field).toBe('file')
      const svg = await upload(l, url, client.token, [{ name: 'x.svg', type: 'image/svg+xml', bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>') }])
      expect(svg.status).toBe(415)
      for (const res of [
        await upload(l, url, client.token, [], { caption: 'no file here' }),
        await api(l, 'POST', url, { file: 'not multipart' }, client.token),
        await upload(l, url, client.token, [{ name: 'a.txt', type: 'text/plain', bytes: Buffer.from('a') }, { name: 'b.txt', type: 'text/plain', bytes: Buffer.from('b') }]),
        await upload(l, url, client.token, [{ name: 'empty.txt', type: 'text/plain', bytes: Buffer.alloc(0) }]),
      ]) {
        expect(res.status, JSON.stringify(res.body)).toBe(400)
        expect(res.body.error).toMatchObject({ code: 'bad_request', field: 'file' })
      }
      expect((await upload(l, url, null, [{ name: 'a.txt', type: 'text/plain', bytes: Buffer.from('a') }])).status).toBe(401)
      // a message names only its sender's unsent uploads of this chat
      const ok1 = await upload(l, url, client.token, [{ name: 'notes.txt', type: 'text/plain; charset=utf-8', bytes: Buffer.from('hello') }])
      expect(ok1.body.mimeType).toBe('text/plain')
      const other = await newClient(l)
      const stolen = await api(l, 'POST', '/widget/messages', { text: 'mine now', attachments: [ok1.body.id] }, other.token)
      expect(stolen.status).toBe(400)
      expect(stolen.body.error.field).toBe('attachments')
      expect((await api(l, 'POST', '/widget/messages', { attachments: [ok1.body.id] }, client.token)).status).toBe(201)
      const again = await api(l, 'POST', '/widget/messages', { text: 'twice', attachments: [ok1.body.id] }, client.token)
      expect(again.status).toBe(400)
      expect(again.body.error.field).toBe('attachments')
      expect((await api(l, 'POST', '/widget/messages', {}, client.token)).body.error.field).toBe('text')
    })

    it('serves a file only to the chat\'s client and the operators who may read it; others get 404', async () => {
      const bo = await operatorWith(l, 'Bo')
      const boConsole = await open('notifications', bo.token)
      const cy = await operatorWith(l, 'Cy', { maxChats: 0 })
      const sue = await operatorWith(l, 'Sue', { role: 'supervisor', maxChats: 0 })
      const client = await newClient(l)
      const stranger = await newClient(l)
      const first = await ok(l, 'POST', `/clients/${client.id}/messages`, { text: 'hello' })
      await boConsole.next('chatSessionAdded', (e) => e.data.id === first.sessionId, 10_000)

      const up = await upload(l, '/widget/attachments', client.token, [{ name: 'scan.png', type: 'image/png', bytes: PNG }])
      // before it is sent only its uploader sees it
      expect((await download(l, up.body.url, client.token)).status).toBe(200)
      expect((await download(l, up.body.url, bo.token)).status).toBe(404)
      await ok(l, 'POST', '/widget/messages', { text: 'scan', attachments: [up.body.id] }, client.token)
      expect((await download(l, up.body.url, bo.token)).status).toBe(200)
      expect((await download(l, up.body.url, sue.token)).status).toBe(200)
      expect((await download(l, up.body.url, l.apiKey)).status).toBe(200)
      for (const token of [stranger.token, cy.token]) {
        const res = await download(l, up.body.url, token)
        expect(res.status).toBe(404)
        expect(JSON.parse(res.bytes.toString()).error.code).toBe('not_found')
      }
      expect((await download(l, up.body.url, null)).status).toBe(401)
      expect((await download(l, '/api/v1/attachments/no-such-file', bo.token)).status).toBe(404)

      // uploads into a session: its holder, a supervisor, the API key (the bot); another operator 403
      const png = [{ name: 'p.png', type: 'image/png', bytes: PNG }]
      expect((await upload(l, `/sessions/${first.sessionId}/attachments`, cy.token, png)).status).toBe(403)
      expect((await upload(l, `/sessions/${first.sessionId}/attachments`, sue.token, png)).status).toBe(201)
      const bot = await upload(l, `/sessions/${first.sessionId}/attachments`, l.apiKey, png)
      expect(bot.status).toBe(201)
      const botMessage = await ok(l, 'POST', `/sessions/${first.sessionId}/messages`, { text: 'from the bot', attachments: [bot.body.id] })
      expect(botMessage.author.type).toBe('bot')
      expect((await upload(l, '/sessions/no-such-session/attachments', bo.token, png)).status).toBe(404)

      // a note's file stays with the operators
      const noteFile = await upload(l, `/sessions/${first.sessionId}/attachments`, bo.token, png)
      const note = await ok(l, 'POST', `/sessions/${first.sessionId}/messages`, { text: 'internal scan', internal: true, attachments: [noteFile.body.id] }, bo.token)
      expect(note.internal).toBe(true)
      expect((await download(l, noteFile.body.url, bo.token)).status).toBe(200)
      expect((await download(l, noteFile.body.url, sue.token)).status).toBe(200)
      expect((await download(l, noteFile.body.url, client.token)).status).toBe(404)

      // closed: no more uploads (409); the files stay readable for those who may read the session
      await ok(l, 'POST', `/sessions/${first.sessionId}/close`, {}, bo.token)
      expect((await upload(l, `/sessions/${first.sessionId}/attachments`, bo.token, png)).status).toBe(409)
      expect((await download(l, up.body.url, bo.token)).status).toBe(200)
      expect((await download(l, up.body.url, client.token)).status).toBe(200)
    })
  })
}

describe('attachments: unsent uploads expire (PGlite, storage disk)', () => {
  let l: TestLivedesk
  beforeAll(async () => {
    l = await startTestLivedesk({ attachments: { unsentTtlMs: 1 } })
  }, 30_000)

  it('deletes an upload no message claimed within ATTACHMENT_UNSENT_TTL, row and bytes, at the next upload', async () => {
    const client = await newClient(l)
    const first = await upload(l, '/widget/attachments', client.token, [{ name: 'a.txt', type: 'text/plain', bytes: Buffer.from('first') }])
    expect(first.status).toBe(201)
    const file = join(l.dataDir, 'attachments', first.body.id.slice(0, 2), first.body.id)
    expect(readdirSync(join(file, '..'))).toContain(first.body.id)
    // the next upload sweeps what waited longer than the TTL (1 ms here)
    const second = await upload(l, '/widget/attachments', client.token, [{ name: 'b.txt', type: 'text/plain', bytes: Buffer.from('second') }])
    expect(second.status).toBe(201)
    expect((await download(l, first.body.url, client.token)).status).toBe(404)
    expect(readdirSync(join(file, '..'))).not.toContain(first.body.id)
    const late = await api(l, 'POST', '/widget/messages', { attachments: [first.body.id] }, client.token)
    expect(late.status).toBe(400)
    expect(late.body.error.field).toBe('attachments')
    // a claimed file is never swept
    const sent = await ok(l, 'POST', '/widget/messages', { attachments: [second.body.id] }, client.token)
    await upload(l, '/widget/attachments', client.token, [{ name: 'c.txt', type: 'text/plain', bytes: Buffer.from('third') }])
    expect((await download(l, sent.attachments[0].url, client.token)).bytes.toString()).toBe('second')
  })
})
