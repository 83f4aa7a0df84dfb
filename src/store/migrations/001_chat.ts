/** Operators, their tokens, clients, sessions (with the queue) and messages. */
export const sql = `
CREATE TABLE operators (
  id               text PRIMARY KEY,
  name             text NOT NULL,
  max_chats        integer NOT NULL CHECK (max_chats >= 0),
  blocked          boolean NOT NULL DEFAULT false,
  blocked_reason   text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- routing ties go to the operator who waited longest since this
  last_assigned_at timestamptz,
  -- operator JWTs issued (iat) before this are refused: logout and a new login revoke them
  tokens_valid_after timestamptz
);

CREATE TABLE operator_tokens (
  token_hash  text PRIMARY KEY,
  operator_id text NOT NULL REFERENCES operators(id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  revoked_at  timestamptz,
  user_agent  text,
  ip          text
);
CREATE INDEX operator_tokens_operator ON operator_tokens (operator_id) WHERE revoked_at IS NULL;

CREATE TABLE clients (
  id             text PRIMARY KEY,
  chat_id        text NOT NULL UNIQUE,
  name           text NOT NULL,
  external_id    text,
  channel        text NOT NULL,
  messenger_type text,
  whatsapp_phone text,
  ip             text,
  referer        text,
  coordinates    jsonb,
  banned         boolean NOT NULL DEFAULT false,
  token_hash     text NOT NULL UNIQUE,
  online         boolean NOT NULL DEFAULT false,
  online_at      timestamptz,
  offline_at     timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE session_queue_seq;

CREATE TABLE sessions (
  id                   text PRIMARY KEY,
  seq                  bigserial UNIQUE,
  chat_id              text NOT NULL,
  client_id            text NOT NULL REFERENCES clients(id),
  status               text NOT NULL CHECK (status IN ('bot', 'queued', 'assigned', 'closed')),
  bot_status           text,
  operator_id          text REFERENCES operators(id),
  previous_operator_id text REFERENCES operators(id),
  -- arrival order in the queue; set when the session asks for people
  queue_seq            bigint,
  marked_as_spam       boolean NOT NULL DEFAULT false,
  started_at           timestamptz NOT NULL DEFAULT now(),
  operator_assigned_at timestamptz,
  closed_at            timestamptz,
  closed_by            text
);
-- one open session per chat
CREATE UNIQUE INDEX sessions_open_chat ON sessions (chat_id) WHERE status <> 'closed';
CREATE INDEX sessions_queue ON sessions (queue_seq) WHERE status = 'queued';
CREATE INDEX sessions_operator ON sessions (operator_id, seq);

CREATE TABLE messages (
  id          text PRIMARY KEY,
  seq         bigserial UNIQUE,
  session_id  text NOT NULL REFERENCES sessions(id),
  chat_id     text NOT NULL,
  author_type text NOT NULL CHECK (author_type IN ('client', 'operator', 'bot', 'system')),
  author_id   text,
  author_name text,
  text        text NOT NULL,
  attachments jsonb NOT NULL DEFAULT '[]',
  created_at  timestamptz NOT NULL DEFAULT now(),
  edited_at   timestamptz,
  read_at     timestamptz
);
CREATE INDEX messages_session ON messages (session_id, seq);
CREATE INDEX messages_chat ON messages (chat_id, seq);
`
