/**
 * Issue 17: map subscriptions' keyed state on the database (src/realtime/map-broker-postgres.ts), so persistent
 * maps outlive a restart. Times are Unix milliseconds; `data` is the entry's JSON text ('' for none).
 */
export const sql = `
CREATE TABLE map_meta (
  channel     text PRIMARY KEY,
  epoch       text NOT NULL,
  top         bigint NOT NULL DEFAULT 0,
  stream_size integer NOT NULL DEFAULT 0,
  stream_ttl  bigint NOT NULL DEFAULT 0,
  meta_ttl    bigint NOT NULL DEFAULT 0,
  expires_at  bigint NULL
);
CREATE TABLE map_state (
  channel       text NOT NULL,
  key           text NOT NULL,
  data          text NOT NULL,
  info          text NULL,
  tags          text NULL,
  "offset"      bigint NOT NULL DEFAULT 0,
  version       bigint NOT NULL DEFAULT 0,
  version_epoch text NOT NULL DEFAULT '',
  expires_at    bigint NULL,
  PRIMARY KEY (channel, key)
);
CREATE INDEX map_state_expiry ON map_state (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE map_stream (
  channel    text NOT NULL,
  "offset"   bigint NOT NULL,
  key        text NOT NULL,
  data       text NOT NULL,
  removed    boolean NOT NULL DEFAULT false,
  info       text NULL,
  tags       text NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (channel, "offset")
);
CREATE TABLE map_results (
  channel         text NOT NULL,
  idempotency_key text NOT NULL,
  "offset"        bigint NOT NULL,
  epoch           text NOT NULL,
  expires_at      bigint NOT NULL,
  PRIMARY KEY (channel, idempotency_key)
);
`
