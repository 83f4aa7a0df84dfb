/**
 * Issue 15: sessions that move between operators. Every transfer is kept (who, from, to whom, the note for
 * operators); the answer timers and the offline grace are read from sessions, messages and operators, so the
 * sweeper only needs assigned sessions indexed.
 */
export const sql = `
CREATE TABLE session_transfers (
  id               bigserial PRIMARY KEY,
  session_id       text NOT NULL REFERENCES sessions(id),
  -- 'operator' (the holder), 'supervisor' or 'api' (the API key: by_id NULL)
  by_type          text NOT NULL CHECK (by_type IN ('operator', 'supervisor', 'api')),
  by_id            text REFERENCES operators(id),
  from_operator_id text REFERENCES operators(id),
  -- who holds it after the transfer; NULL: it waits in the queue (of to_group_id when set)
  to_operator_id   text REFERENCES operators(id),
  to_group_id      text REFERENCES groups(id),
  to_queue         boolean NOT NULL DEFAULT false,
  -- for operators only: never sent to the client
  note             text CHECK (char_length(note) <= 1000),
  at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_transfers_session ON session_transfers (session_id, id);

-- the answer timers' sweep looks at assigned sessions only
CREATE INDEX sessions_assigned ON sessions (operator_assigned_at) WHERE status = 'assigned';
`
