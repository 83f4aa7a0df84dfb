/**
 * Issue 16 item 4: client history and full-text search. Messages are searched with the `simple` text search
 * configuration (lower-cased words, no stemming, no stop words), which treats Russian, English and any other
 * language alike; the GIN index is on the same expression the queries use (store/history.ts). `session_operators`
 * records every operator who has held a session (a trigger on `sessions.operator_id`, so every path that assigns
 * one is covered), which is what "my earlier sessions" means for search and reading.
 */
export const sql = `
CREATE INDEX messages_search ON messages USING gin (to_tsvector('simple', text));

CREATE TABLE session_operators (
  operator_id text NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
  session_id  text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  PRIMARY KEY (operator_id, session_id)
);

-- one line per statement body: migrations are split on ';' at line ends
CREATE FUNCTION session_operators_record() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO session_operators (operator_id, session_id) VALUES (NEW.operator_id, NEW.id) ON CONFLICT DO NOTHING; RETURN NULL; END $$;

CREATE TRIGGER sessions_record_operator AFTER INSERT OR UPDATE OF operator_id ON sessions
  FOR EACH ROW WHEN (NEW.operator_id IS NOT NULL) EXECUTE FUNCTION session_operators_record();

-- sessions from before: their holder, previous holder, transfers and the operators who answered in them
INSERT INTO session_operators (operator_id, session_id)
SELECT operator_id, id FROM sessions WHERE operator_id IS NOT NULL
UNION SELECT previous_operator_id, id FROM sessions WHERE previous_operator_id IS NOT NULL
UNION SELECT from_operator_id, session_id FROM session_transfers WHERE from_operator_id IS NOT NULL
UNION SELECT to_operator_id, session_id FROM session_transfers WHERE to_operator_id IS NOT NULL
UNION SELECT m.author_id, m.session_id FROM messages m JOIN operators o ON o.id = m.author_id WHERE m.author_type = 'operator' AND NOT m.internal
ON CONFLICT DO NOTHING;

CREATE INDEX sessions_client ON sessions (client_id, seq);
`
