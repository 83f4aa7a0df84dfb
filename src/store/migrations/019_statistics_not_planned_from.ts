/**
 * No statistics for the columns no plan reads them for: the events' JSON, message texts and attachments, the search
 * index's expression (its matches are estimated without them). Sampling them was most of an ANALYZE's time, and on
 * PGlite nothing else runs meanwhile (store/pglite-maintenance.ts): measured there, 100,000 events 398 → 54 ms (a
 * 503 ms stall in bench:domain with --history), 200,000 messages 277 → 89 ms. On PostgreSQL, autovacuum's analyses
 * cost less the same way.
 */
export const sql = `
ALTER TABLE outbox ALTER COLUMN data SET STATISTICS 0, ALTER COLUMN subject SET STATISTICS 0, ALTER COLUMN event_id SET STATISTICS 0;
ALTER TABLE messages ALTER COLUMN text SET STATISTICS 0, ALTER COLUMN attachments SET STATISTICS 0;
ALTER INDEX messages_search ALTER COLUMN 1 SET STATISTICS 0;
`
