/**
 * Issue 16: outbound webhooks. An event's deliveries are written in the event's own statement (store/outbox.ts),
 * one per enabled endpoint that subscribed to it, so a committed event is owed to every endpoint from its commit
 * on; nodes lease an endpoint at a time and send its pending deliveries in outbox order.
 */
export const sql = `
CREATE TABLE webhooks (
  id              text PRIMARY KEY,
  url             text NOT NULL,
  -- event names, or '*' for every event
  events          text[] NOT NULL,
  secret          text NOT NULL,
  enabled         boolean NOT NULL DEFAULT true,
  disabled_reason text,
  disabled_at     timestamptz,
  -- deliveries in a row that failed every attempt; any delivered one resets it
  failures        integer NOT NULL DEFAULT 0,
  -- the head delivery's next attempt (after a failed one); later deliveries wait behind it
  next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
  -- the node sending this endpoint's deliveries until lease_until; another may take over after
  lease_node      text,
  lease_until     timestamptz,
  -- created when there was no endpoint: nodes that had not heard of one yet wrote events without owing them, so
  -- a sweep owes it the events created from created_at until then (domain/webhooks.ts)
  backfill_until  timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One event owed to one endpoint. No foreign keys: this row is written with the event, and a key check would
-- cost every event's statement a lookup; deleting an endpoint deletes its rows.
CREATE TABLE webhook_deliveries (
  id          bigserial PRIMARY KEY,
  webhook_id  text NOT NULL,
  outbox_id   bigint NOT NULL,
  event_id    text NOT NULL,
  event       text NOT NULL,
  -- 'pending' | 'delivered' | 'failed' (every attempt failed)
  state       text NOT NULL DEFAULT 'pending',
  attempts    integer NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  done_at     timestamptz
);
-- An endpoint's owed deliveries in event order; small (what is still owed), so outbox pruning may scan it too.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, outbox_id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_created ON webhook_deliveries USING brin (created_at);

-- The delivery log: one row per attempt.
CREATE TABLE webhook_attempts (
  id          bigserial PRIMARY KEY,
  webhook_id  text NOT NULL,
  delivery_id bigint NOT NULL,
  attempt     integer NOT NULL,
  status_code integer,
  error       text,
  duration_ms integer NOT NULL,
  at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, id);
CREATE INDEX webhook_attempts_at ON webhook_attempts USING brin (at);
`
