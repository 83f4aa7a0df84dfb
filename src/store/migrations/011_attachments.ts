/**
 * Issue 16 item 1: attachments. `attachments` holds what is known of each uploaded file; its bytes live where
 * ATTACHMENT_STORAGE says (`attachment_blobs` for `database`, files or an S3 bucket otherwise). A file belongs to
 * a chat from its upload and to a message once a message claims it (`message_id`, set once).
 */
export const sql = `
CREATE TABLE attachments (
  id            text PRIMARY KEY,
  chat_id       text NOT NULL,
  session_id    text NULL REFERENCES sessions(id),
  message_id    text NULL,
  uploader_type text NOT NULL CHECK (uploader_type IN ('client', 'operator', 'bot')),
  uploader_id   text NULL,
  name          text NOT NULL,
  mime_type     text NOT NULL,
  size          integer NOT NULL CHECK (size >= 0),
  storage       text NOT NULL CHECK (storage IN ('database', 'disk', 's3')),
  storage_key   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_message ON attachments (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX attachments_unclaimed ON attachments (created_at) WHERE message_id IS NULL;
CREATE TABLE attachment_blobs (
  key  text PRIMARY KEY,
  data bytea NOT NULL
);
`
