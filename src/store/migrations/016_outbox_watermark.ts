/**
 * Issue 10: an outbox event is published when its node's heartbeated watermark (`domain_nodes.unpublished_since`)
 * has passed it, not when a row is marked. A node marks `published_at` only on an event it published that its
 * stored watermark has not passed within `NODE_TTL` + 2 s (a chat held back by the broker keeps the watermark
 * behind), so a relay does not publish it again outside the broker's idempotency window. Relays take rows by id
 * from the watermark on, one relay at a time: the row lease is gone.
 */
export const sql = `
ALTER TABLE outbox DROP COLUMN lease_until;
`
