/**
 * A read receipt is a row of its own instead of `messages.read_at`. Marking messages read updated each of their rows,
 * and a message row is wide with six indexes, one of them the search GIN: the new row versions rarely fit their page
 * (18–34% HOT), so each read re-entered the message into every index, the search index word by word, and left a dead
 * row behind. On PGlite, which has no autovacuum (store/pglite-maintenance.ts), the vacuums this made due stopped the
 * node for 355–530 ms at 200,000–300,000 messages. Receipts are now inserted, once, into a narrow table; `messages` is
 * written again only by an edit. A message's `read_at` is looked up by the receipts' key for the rows a statement returns
 * (store/chat.ts, `readAtOf`).
 */
export const sql = `
CREATE TABLE message_reads (
  message_id text PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  read_at    timestamptz NOT NULL
);

INSERT INTO message_reads (message_id, read_at) SELECT id, read_at FROM messages WHERE read_at IS NOT NULL;

ALTER TABLE messages DROP COLUMN read_at;

`
