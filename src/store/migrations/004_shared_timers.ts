/**
 * Timers and limits every node sees alike: typing indicators (their expiry and the notice rate) and the
 * moment a client without widget connections goes offline. Any node's sweeper fires a due one, exactly once.
 */
export const sql = `
CREATE TABLE typing (
  chat_id   text NOT NULL,
  -- 'client:<id>' or 'operator:<id>'
  typist    text NOT NULL,
  channels  text[] NOT NULL,
  -- the typing event's data without active/until
  data      jsonb NOT NULL,
  -- the last notice accepted: the next one is refused until typingMinIntervalMs has passed
  notice_at timestamptz NOT NULL,
  -- shown until then; NULL once stopped (the row stays for the rate limit)
  until     timestamptz,
  PRIMARY KEY (chat_id, typist)
);
CREATE INDEX typing_until ON typing (until) WHERE until IS NOT NULL;
CREATE INDEX typing_typist ON typing (typist) WHERE until IS NOT NULL;

-- until when the client's typing indicator may show: a message ends it only then (the write path reads this, not typing)
ALTER TABLE sessions ADD COLUMN client_typing_until timestamptz;

-- set when a client's widget connection closes: at that time, with no connection left, the client goes offline
ALTER TABLE clients ADD COLUMN offline_due_at timestamptz;
CREATE INDEX clients_offline_due ON clients (offline_due_at) WHERE offline_due_at IS NOT NULL;
`
