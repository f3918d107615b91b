-- The latest value per key of each Faust table changelog (a tombstone deletes the key).
CREATE TABLE table_state (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    key         bytea       NOT NULL,
    value       bytea       NOT NULL,
    "offset"    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, key)
);
