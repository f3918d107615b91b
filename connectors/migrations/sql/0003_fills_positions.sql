-- Fills (append-only, fenced by fill_id), position snapshots (append-only) and the current
-- position per account and instrument (upserted, only forward by version).
CREATE TABLE fills (
    fill_id          text          PRIMARY KEY,
    intent_id        text          NOT NULL,
    broker_order_id  text          NOT NULL,
    account_id       text          NOT NULL,
    instrument_token text          NOT NULL,
    exchange         text          NOT NULL,
    side             text          NOT NULL,
    quantity         bigint        NOT NULL,
    price            numeric(18,4) NOT NULL,
    fee              numeric(18,4) NOT NULL,
    venue            text          NOT NULL,
    ts_event_ns      bigint        NOT NULL,
    created_at       timestamptz   NOT NULL,
    trace_id         text          NOT NULL,
    kafka_partition  integer       NOT NULL,
    kafka_offset     bigint        NOT NULL,
    sunk_at          timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX fills_account_created ON fills (account_id, created_at);
CREATE INDEX fills_instrument_created ON fills (instrument_token, created_at);
CREATE INDEX fills_intent ON fills (intent_id);

CREATE TABLE position_snapshots (
    account_id       text          NOT NULL,
    instrument_token text          NOT NULL,
    exchange         text          NOT NULL,
    quantity         bigint        NOT NULL,
    avg_price        numeric(18,4),
    realised_pnl     numeric(20,4) NOT NULL,
    unrealised_pnl   numeric(20,4) NOT NULL,
    fees             numeric(20,4) NOT NULL,
    last_price       numeric(18,4),
    last_fill_id     text,
    version          bigint        NOT NULL,
    created_at       timestamptz   NOT NULL,
    trace_id         text          NOT NULL,
    kafka_partition  integer       NOT NULL,
    kafka_offset     bigint        NOT NULL,
    sunk_at          timestamptz   NOT NULL DEFAULT now(),
    -- A snapshot is identified by its position, version and creation time (mark-to-market
    -- snapshots share a version with the fill snapshot before them).
    PRIMARY KEY (account_id, instrument_token, version, created_at)
);

CREATE TABLE positions (
    account_id       text          NOT NULL,
    instrument_token text          NOT NULL,
    exchange         text          NOT NULL,
    quantity         bigint        NOT NULL,
    avg_price        numeric(18,4),
    realised_pnl     numeric(20,4) NOT NULL,
    unrealised_pnl   numeric(20,4) NOT NULL,
    fees             numeric(20,4) NOT NULL,
    last_price       numeric(18,4),
    last_fill_id     text,
    version          bigint        NOT NULL,
    updated_at       timestamptz   NOT NULL,
    PRIMARY KEY (account_id, instrument_token)
);
