/**
 * `POST /api/v1/admin/backup` (API key): the embedded database's data directory as a tar.gz, made by the running
 * process (the DATA_DIR lock keeps any other process out of the directory). The files are copied between two
 * statements (src/store/pglite-snapshot.ts: every committed transaction is in; opening the copy replays the WAL),
 * then `tar` archives the copy while the server goes on, and the copy is removed once sent.
 * `node scripts/restore.mjs <backup> <DATA_DIR>` restores it into an empty DATA_DIR.
 * With PostgreSQL the answer is 409: back it up with pg_dump, as any PostgreSQL database.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import type { Db } from '../store/db.js'
import { bearer } from './api-v1-auth.js'
import { sendError } from './errors.js'
import { secretMatcher } from './secret.js'

export function backupRoute(opts: { db: Db | undefined; apiKey: string; dataDir: string }): FastifyPluginAsync {
  const isApiKey = secretMatcher(opts.apiKey)
  // One backup at a time: each holds a copy of the data directory on disk until it is sent.
  let running = false
  return async (app) => {
    app.post('/api/v1/admin/backup', { schema: { hide: true } }, async (req, reply) => {
      if (!isApiKey(bearer(req))) return sendError(reply, 401, 'unauthorized', 'this endpoint needs the API key as Authorization: Bearer')
      if (!opts.db) return sendError(reply, 409, 'conflict', 'gateway-only mode: there is no database to back up')
      if (!opts.db.copyDataDir) return sendError(reply, 409, 'conflict', 'the database is a PostgreSQL server: back it up with pg_dump')
      if (running) return sendError(reply, 409, 'conflict', 'a backup is already running')
      running = true
      // Beside the data directory, so the copy is on the same filesystem (fast, or a copy-on-write clone).
      const copy = join(opts.dataDir, `.backup-${randomBytes(4).toString('hex')}`)
      const done = () => rm(copy, { recursive: true, force: true }).catch(() => {}).finally(() => (running = false))
      try {
        await opts.db.copyDataDir(copy)
      } catch (err) {
        await done()
        throw err
      }
      const tar = spawn('tar', ['-czf', '-', '-C', copy, '.'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      tar.stderr.on('data', (d) => (stderr += d))
      tar.on('close', (code) => {
        if (code !== 0) {
          req.log.error({ code, stderr }, 'backup: tar failed')
          // Cut the response: a truncated download must not pass for a whole backup (no content-length, no end).
          reply.raw.destroy()
        }
        void done()
      })
      tar.on('error', (err) => {
        req.log.error({ err: err.message }, 'backup: tar could not start')
        reply.raw.destroy()
        void done()
      })
      reply.raw.on('close', () => tar.kill())
      const name = `livedesk-${new Date().toISOString().replace(/[:.]/g, '-')}.tar.gz`
      return reply
        .header('content-type', 'application/gzip')
        .header('content-disposition', `attachment; filename="${name}"`)
        .header('cache-control', 'no-store')
        .send(tar.stdout)
    })
  }
}
