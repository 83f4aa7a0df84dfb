/** Issue 16: canned replies, shared (operator_id NULL) or an operator's own; a shortcut is unique per owner. */
export const sql = `
CREATE TABLE canned_replies (
  id          text PRIMARY KEY,
  operator_id text NULL REFERENCES operators(id) ON DELETE CASCADE,
  shortcut    text NOT NULL CHECK (shortcut ~ '^[a-z0-9_-]{1,32}$'),
  title       text NOT NULL,
  text        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- '' stands for the shared owner, so shared shortcuts are unique among themselves too
CREATE UNIQUE INDEX canned_replies_owner_shortcut ON canned_replies ((COALESCE(operator_id, '')), shortcut);
`
