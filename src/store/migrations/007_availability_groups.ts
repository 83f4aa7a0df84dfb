/**
 * Issue 15: operators' chosen or automatic status and role, groups (members, fallback, working hours) and the
 * group a session is routed in. Routing takes only `online` operators; the live connections (migration 002) still
 * say who is connected.
 */
export const sql = `
ALTER TABLE operators ADD COLUMN status text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'away', 'offline'));
-- the status was set by a timer (auto-away/auto-offline), not by a person: a console connecting undoes only these
ALTER TABLE operators ADD COLUMN status_auto boolean NOT NULL DEFAULT false;
ALTER TABLE operators ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE operators ADD COLUMN role text NOT NULL DEFAULT 'operator' CHECK (role IN ('operator', 'supervisor'));
-- the last moment a console connection of the operator opened or closed: auto-away counts from it
ALTER TABLE operators ADD COLUMN last_seen_at timestamptz;

CREATE TABLE groups (
  id                text PRIMARY KEY,
  name              text NOT NULL UNIQUE,
  fallback_group_id text NULL REFERENCES groups(id),
  -- { mon..sun: [["09:00","18:00"], ...] } in time_zone; NULL = always open
  working_hours     jsonb NULL,
  time_zone         text NULL,
  created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE operator_groups (
  operator_id text NOT NULL REFERENCES operators(id),
  group_id    text NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  PRIMARY KEY (operator_id, group_id)
);
CREATE INDEX operator_groups_group ON operator_groups (group_id);

ALTER TABLE sessions ADD COLUMN group_id text NULL REFERENCES groups(id);
-- queued in a group outside its working hours with no fallback: routed when the hours open
ALTER TABLE sessions ADD COLUMN group_closed boolean NOT NULL DEFAULT false;
-- the group a client's sessions start in (POST /widget/clients with a group); a message's own group wins
ALTER TABLE clients ADD COLUMN group_id text NULL REFERENCES groups(id);
CREATE INDEX sessions_group_queue ON sessions (group_id, queue_seq) WHERE status = 'queued';
`
