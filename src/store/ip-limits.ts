/** What the per-IP session limits read: the sessions of the clients that signed up from one address. */
import type { Db } from './db.js'

/** Sessions of clients with this `ip`: how many are open, and how many started within the last `windowMs`. */
export async function sessionsOfIp(db: Db, ip: string, windowMs: number): Promise<{ open: number; recent: number }> {
  const [row] = await db.query<{ open: string | number; recent: string | number }>(
    `SELECT count(*) FILTER (WHERE s.status <> 'closed') AS open,
            count(*) FILTER (WHERE s.started_at > clock_timestamp() - make_interval(secs => $2::float8 / 1000)) AS recent
       FROM clients c JOIN sessions s ON s.chat_id = c.chat_id
      WHERE c.ip = $1`,
    [ip, windowMs],
  )
  return { open: Number(row?.open ?? 0), recent: Number(row?.recent ?? 0) }
}
