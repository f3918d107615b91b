-- Order intents (kept for zero RPO of acknowledged intents), order events (append-only)
-- and the current state of every order (upserted, only forward by seq).
CREATE TABLE order_intents (
    intent_id        text          PRIMARY KEY,
    account_id       text          NOT NULL,
    client_order_id  text          NOT NULL,
    instrument_token text          NOT NULL,
    symbol           text,
    exchange         text          NOT NULL,
    side             text          NOT NULL,
    quantity         bigint        NOT NULL,
    order_type       text          NOT NULL,
    variety          text          NOT NULL,
    product          text          NOT NULL,
    duration         text          NOT NULL,
    price            numeric(18,4),
    trigger_price    numeric(18,4),
    tag              text,
    source           text          NOT NULL,
    stage            text          NOT NULL,
    lot_size         bigint,
    tick_size        numeric(18,4),
    reference_price  numeric(18,4),
    venue            text,
    created_at       timestamptz   NOT NULL,
    trace_id         text          NOT NULL,
    kafka_partition  integer       NOT NULL,
    kafka_offset     bigint        NOT NULL,
    sunk_at          timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX order_intents_account_created ON order_intents (account_id, created_at);

CREATE TABLE order_events (
    event_id         text          PRIMARY KEY,
    intent_id        text          NOT NULL,
    account_id       text          NOT NULL,
    client_order_id  text          NOT NULL,
    instrument_token text          NOT NULL,
    exchange         text          NOT NULL,
    side             text          NOT NULL,
    status           text          NOT NULL,
    seq              bigint        NOT NULL,
    quantity         bigint        NOT NULL,
    filled_quantity  bigint        NOT NULL,
    leaves_quantity  bigint        NOT NULL,
    price            numeric(18,4),
    avg_fill_price   numeric(18,4),
    reason_code      text,
    reason           text,
    venue            text,
    broker_order_id  text,
    stage            text          NOT NULL,
    created_at       timestamptz   NOT NULL,
    trace_id         text          NOT NULL,
    kafka_partition  integer       NOT NULL,
    kafka_offset     bigint        NOT NULL,
    sunk_at          timestamptz   NOT NULL DEFAULT now()
);
-- An order's lifecycle in order.
CREATE INDEX order_events_intent_seq ON order_events (intent_id, seq);
-- An account's activity over a time range.
CREATE INDEX order_events_account_created ON order_events (account_id, created_at);
-- Rejections and denials by reason over a time range.
CREATE INDEX order_events_refusals ON order_events (created_at, reason_code)
    WHERE status IN ('REJECTED', 'DENIED', 'ROUTE_FAILED');

CREATE TABLE orders (
    intent_id        text          PRIMARY KEY,
    account_id       text          NOT NULL,
    client_order_id  text          NOT NULL,
    instrument_token text          NOT NULL,
    exchange         text          NOT NULL,
    side             text          NOT NULL,
    status           text          NOT NULL,
    seq              bigint        NOT NULL,
    quantity         bigint        NOT NULL,
    filled_quantity  bigint        NOT NULL,
    leaves_quantity  bigint        NOT NULL,
    price            numeric(18,4),
    avg_fill_price   numeric(18,4),
    reason_code      text,
    broker_order_id  text,
    last_event_id    text          NOT NULL,
    updated_at       timestamptz   NOT NULL
);
-- Open orders per account (the terminal states are excluded).
CREATE INDEX orders_open_by_account ON orders (account_id, updated_at)
    WHERE status NOT IN ('REJECTED', 'DENIED', 'ROUTE_FAILED', 'FILLED', 'CANCELLED', 'EXPIRED');
CREATE INDEX orders_account_client_order ON orders (account_id, client_order_id);
