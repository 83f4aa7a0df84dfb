/**
 * Token lifetime on live connections: what each operator connection was authenticated with, so that any node
 * can tell (and routing can see) that its credentials expired or were revoked; why an operator's tokens were
 * last revoked; and when a widget token was last used (it ends after a while unused).
 */
export const sql = `
-- 'logout', 'login' (a new login) or 'block': the terminal code a connection that outlived the revocation gets
ALTER TABLE operators ADD COLUMN tokens_revoked_by text CHECK (tokens_revoked_by IN ('logout', 'login', 'block'));

-- expires_at: the token's expiry (NULL: none). token_hash: the minted token it used (its row says whether it is
-- revoked). token_issued_at: for an operator JWT, its iat less the clock leeway (revoked once tokens_valid_after passes it)
ALTER TABLE operator_connections
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN token_hash text,
  ADD COLUMN token_issued_at timestamptz;

-- a widget token unused for clientTokenIdleTtlMs stops working (rows that exist count as used now)
ALTER TABLE clients ADD COLUMN token_used_at timestamptz NOT NULL DEFAULT now();
`
