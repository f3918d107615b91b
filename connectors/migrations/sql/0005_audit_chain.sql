-- The audit trail: append-only rows forming a SHA-256 hash chain, and the chain head.
-- hash = sha256(prev_hash || canonical content); the genesis prev_hash is 32 zero bytes.
CREATE TABLE audit_events (
    chain_seq        bigint        PRIMARY KEY,
    event_id         text          NOT NULL UNIQUE,
    actor            text          NOT NULL,
    action           text          NOT NULL,
    outcome          text          NOT NULL,
    account_id       text,
    subject          text,
    details          jsonb         NOT NULL,
    created_at       timestamptz   NOT NULL,
    trace_id         text          NOT NULL,
    kafka_partition  integer       NOT NULL,
    kafka_offset     bigint        NOT NULL,
    prev_hash        bytea         NOT NULL,
    hash             bytea         NOT NULL,
    sunk_at          timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_actor_created ON audit_events (actor, created_at);
CREATE INDEX audit_events_account_created ON audit_events (account_id, created_at);

-- One row: the last link. Appends lock it, so chain appends are serialised across sinks.
CREATE TABLE audit_chain_head (
    id         integer     PRIMARY KEY CHECK (id = 1),
    chain_seq  bigint      NOT NULL,
    hash       bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_chain_head (id, chain_seq, hash) VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only at the database level: UPDATE, DELETE and TRUNCATE are refused. An owner can
-- still disable the trigger; the hash chain is what catches that.
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
