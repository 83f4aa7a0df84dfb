/**
 * The domain's own record of which operators are online, shared by every node: routing reads it inside its
 * transaction instead of asking the gateway over the network. A node that stops heartbeating takes its
 * connections with it (they no longer count once `domain_nodes.seen_at` is stale).
 */
export const sql = `
CREATE TABLE domain_nodes (
  node_id    text PRIMARY KEY,
  started_at timestamptz NOT NULL DEFAULT now(),
  seen_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE operator_connections (
  connection_id text PRIMARY KEY,
  operator_id   text NOT NULL REFERENCES operators(id),
  node_id       text NOT NULL,
  connected_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_connections_operator ON operator_connections (operator_id);
CREATE INDEX operator_connections_node ON operator_connections (node_id);

`
