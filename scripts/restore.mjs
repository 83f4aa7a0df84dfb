#!/usr/bin/env node
/**
 * `node scripts/restore.mjs <backup.tar.gz> <DATA_DIR>`: unpacks a backup from `npm run backup` into a data
 * directory without a database (DATA_DIR/pglite must not exist or be empty), then opens it once with PGlite so the
 * WAL is replayed and checkpointed. Start livedesk with that DATA_DIR afterwards. The API key is not in the backup:
 * keep API_KEY (or copy DATA_DIR/api-key). Needs `tar` on PATH.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { PGlite } from '@electric-sql/pglite'

const [backup, dataDirArg] = process.argv.slice(2)
if (!backup || !dataDirArg) {
  console.error('usage: node scripts/restore.mjs <backup.tar.gz> <DATA_DIR>')
  process.exit(2)
}
const dir = join(resolve(dataDirArg), 'pglite')
if (existsSync(dir) && readdirSync(dir).length > 0) {
  console.error(`${dir} is not empty: restore into a new DATA_DIR (or move the old one away first)`)
  process.exit(1)
}
mkdirSync(dir, { recursive: true })
execFileSync('tar', ['-xzf', resolve(backup), '-C', dir], { stdio: 'inherit' })
const pg = await PGlite.create({ dataDir: dir })
const [{ id }] = (await pg.query('SELECT max(id) AS id FROM schema_migrations')).rows
await pg.query('CHECKPOINT')
await pg.close()
console.log(`restored into ${dir} (schema at migration ${id})`)
