/**
 * Issue 16: satisfaction ratings of closed sessions (one per session) and what the reports need: the moment a
 * session first asked for people (`queued_at`, where first-response time starts) and sessions found by start time.
 */
export const sql = `
CREATE TABLE session_ratings (
  session_id  text PRIMARY KEY REFERENCES sessions(id),
  client_id   text NOT NULL REFERENCES clients(id),
  -- who held the session when it was rated (its console and the reports get it); NULL: nobody had taken it
  operator_id text REFERENCES operators(id),
  group_id    text,
  score       smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
  comment     text CHECK (char_length(comment) <= 1000),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_ratings_operator ON session_ratings (operator_id, created_at);

-- set the first time a session is queued (born queued or handed off by the bot) and kept from then on
ALTER TABLE sessions ADD COLUMN queued_at timestamptz;
-- sessions that existed before: the best known value is their start
UPDATE sessions SET queued_at = started_at WHERE queue_seq IS NOT NULL OR operator_id IS NOT NULL OR previous_operator_id IS NOT NULL;
CREATE INDEX sessions_started ON sessions (started_at);
`
