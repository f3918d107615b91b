-- Control commands (kill switch, limit changes), append-only, fenced by command_id.
CREATE TABLE control_commands (
    command_id       text          PRIMARY KEY,
    account_id       text          NOT NULL,
    command          text          NOT NULL,
    actor            text          NOT NULL,
    trading_state    text,
    limits           jsonb         NOT NULL,
    intent_id        text,
    reason           text,
    created_at       timestamptz   NOT NULL,
    trace_id         text          NOT NULL,
    kafka_partition  integer       NOT NULL,
    kafka_offset     bigint        NOT NULL,
    sunk_at          timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX control_commands_account_created ON control_commands (account_id, created_at);
