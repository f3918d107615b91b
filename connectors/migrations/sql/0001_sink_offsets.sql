-- The sink's bookkeeping: where each (group, topic, partition) resumes, on which cluster.
-- Rows here commit in the same transaction as the data they account for.
CREATE TABLE sink_offsets (
    group_id     text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    next_offset  bigint      NOT NULL CHECK (next_offset >= 0),
    cluster_id   text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Every Kafka cluster the sink has read from, with when it first saw it.
CREATE TABLE sink_clusters (
    group_id    text        NOT NULL,
    cluster_id  text        NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, cluster_id)
);

-- Partition counts of the topics the sink has seen (restore recreates changelogs with them).
CREATE TABLE topic_partitions (
    topic       text    PRIMARY KEY,
    partitions  integer NOT NULL CHECK (partitions > 0),
    changelog   boolean NOT NULL DEFAULT false
);

-- Poison records the sink sent to a DLQ, exactly once (the DLQ itself is at-least-once).
CREATE TABLE sink_dlq (
    cluster_id  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    error       text        NOT NULL,
    sunk_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, topic, partition, "offset")
);
