/** The sessions of one visitor address, read when a new session opens (the per-IP session limits, domain/ip-limits.ts). */
export const sql = `
CREATE INDEX clients_ip ON clients (ip) WHERE ip IS NOT NULL;
CREATE INDEX sessions_chat_started ON sessions (chat_id, started_at);
`
