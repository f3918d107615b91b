-- The ingress's API keys and their encrypted secrets (connectors/ingress/store.py).
-- IF NOT EXISTS: releases before this migration created these two tables at ingress start,
-- so a database that already has them takes this migration as a no-op.
CREATE TABLE IF NOT EXISTS ingress_api_keys (
    key_id      text PRIMARY KEY,
    name        text NOT NULL,
    scopes      text[] NOT NULL,
    accounts    text[] NOT NULL DEFAULT '{}',
    cidrs       text[] NOT NULL DEFAULT '{}',
    rate_per_s  double precision,
    burst       integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE IF NOT EXISTS ingress_api_secrets (
    key_id      text NOT NULL REFERENCES ingress_api_keys (key_id),
    version     integer NOT NULL,
    ciphertext  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    PRIMARY KEY (key_id, version)
);
