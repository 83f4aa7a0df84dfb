#!/usr/bin/env node
/**
 * `npm run backup [-- <file>]`: asks the running livedesk for a copy of its embedded database (POST
 * /api/v1/admin/backup) and writes it to <file> (default ./livedesk-<time>.tar.gz). The server keeps serving.
 * LIVEDESK_URL (default http://127.0.0.1:$PORT or :8000) and API_KEY (default: the file DATA_DIR/api-key) say where.
 */
import { createWriteStream, readFileSync, renameSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

const env = process.env
const url = env.LIVEDESK_URL || `http://127.0.0.1:${env.PORT || 8000}`
const apiKey = env.API_KEY || readFileSync(join(resolve(env.DATA_DIR || './data'), 'api-key'), 'utf8').trim()
const started = Date.now()
const res = await fetch(`${url}/api/v1/admin/backup`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` } })
if (!res.ok) {
  const body = await res.text()
  console.error(`backup failed: ${res.status} ${body}`)
  process.exit(1)
}
const suggested = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'livedesk-backup.tar.gz'
const file = resolve(process.argv[2] || suggested)
// Written under a temporary name, so a file of that name is always a whole backup.
await pipeline(Readable.fromWeb(res.body), createWriteStream(`${file}.partial`, { mode: 0o600 }))
renameSync(`${file}.partial`, file)
console.log(`${file} (${statSync(file).size} bytes, ${Date.now() - started} ms)`)
