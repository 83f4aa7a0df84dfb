/**
 * Backups of the embedded database while it runs: POST /api/v1/admin/backup (API key) streams a tar.gz of the
 * PGlite data directory; scripts/backup.mjs saves it, scripts/restore.mjs unpacks it into a new DATA_DIR, and a
 * livedesk started there has the data.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/built.js'
import { startTestLivedesk } from '../helpers/livedesk.js'
import { api, newClient, newOperator, ok } from '../http/e2e.js'
import { postgresAvailable, tempPostgres } from './databases.js'

const run = promisify(execFile)
const pgUp = await postgresAvailable()
const dirs: string[] = []
const tempDir = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `livedesk-${name}-`))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('backup of the embedded database while it runs', () => {
  it('npm run backup writes a tar.gz through the running server, which keeps serving; restore.mjs brings the data back in a new DATA_DIR', async () => {
    const livedesk = await startTestLivedesk({ apiKey: 'backup-key' })
    const operator = await newOperator(livedesk, 'Olga', 2)
    const client = await newClient(livedesk, 'Carl')
    await ok(livedesk, 'POST', `/clients/${client.id}/messages`, { text: 'Is my parcel insured?' })

    expect((await api(livedesk, 'POST', '/admin/backup', undefined, null)).status).toBe(401)
    expect((await api(livedesk, 'POST', '/admin/backup', undefined, 'wrong-key')).status).toBe(401)

    const out = tempDir('backup')
    const file = join(out, 'nightly.tar.gz')
    // A write racing the backup must not fail: the copy waits for statements, it does not stop the server.
    const [saved, during] = await Promise.all([
      run(process.execPath, [join(ROOT, 'scripts/backup.mjs'), file], { env: { ...process.env, LIVEDESK_URL: livedesk.url, API_KEY: 'backup-key' } }),
      api(livedesk, 'POST', `/clients/${client.id}/messages`, { text: 'Also: can I change the address?' }),
    ])
    expect(during.status).toBeLessThan(300)
    expect(saved.stdout).toContain(file)
    expect(statSync(file).size).toBeGreaterThan(1000)
    // The server still serves after the backup.
    expect(await ok(livedesk, 'GET', `/operators/${operator.id}`)).toMatchObject({ name: 'Olga' })

    const restoredDir = tempDir('restored')
    const restored = await run(process.execPath, [join(ROOT, 'scripts/restore.mjs'), file, restoredDir])
    expect(restored.stdout).toContain('schema at migration')
    // Refuses to overwrite a data directory.
    await expect(run(process.execPath, [join(ROOT, 'scripts/restore.mjs'), file, restoredDir])).rejects.toMatchObject({ stderr: expect.stringContaining('is not empty') })

    const second = await startTestLivedesk({ apiKey: 'backup-key', dataDir: restoredDir })
    expect(await ok(second, 'GET', `/operators/${operator.id}`)).toMatchObject({ name: 'Olga', maxChats: 2 })
    expect(await ok(second, 'GET', `/clients/${client.id}`)).toMatchObject({ name: 'Carl' })
    const messages = await ok(second, 'GET', '/widget/messages', undefined, client.token)
    expect(messages.items.map((m: { text: string }) => m.text)).toContain('Is my parcel insured?')
  }, 120_000)

  it.skipIf(!pgUp)('answers 409 naming pg_dump when the database is a PostgreSQL server', async () => {
    const db = await tempPostgres()
    try {
      const livedesk = await startTestLivedesk({ databaseUrl: db.databaseUrl, dataDir: db.dataDir })
      const res = await api(livedesk, 'POST', '/admin/backup')
      expect(res).toMatchObject({ status: 409, body: { error: { code: 'conflict', message: expect.stringContaining('pg_dump') } } })
      await livedesk.close()
    } finally {
      await db.drop()
    }
  }, 60_000)
})
