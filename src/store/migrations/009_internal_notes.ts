/**
 * Issue 16 item 2: internal notes, operator-only messages stored with the chat's messages. A note never reaches the
 * client (audience.ts), never counts as an answer, an unread message or the last message (the queries skip it).
 */
export const sql = `
ALTER TABLE messages ADD COLUMN internal boolean NOT NULL DEFAULT false;
`
