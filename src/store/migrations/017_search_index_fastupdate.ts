/**
 * The message search index (014) updated by each insert instead of through GIN's pending list. With the pending list,
 * the insert that found it full (4 MB) merged it into the index, a stall of hundreds of milliseconds in one
 * message's answer; PGlite has no autovacuum to merge it in the background, so every merge fell on a message.
 */
export const sql = `
ALTER INDEX messages_search SET (fastupdate = off);
`
