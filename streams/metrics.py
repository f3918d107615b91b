"""Every Prometheus metric tradepipe exports, in one place (``tradepipe_<noun>_<unit>``).

Labels are bounded: agent, topic, reason, status, table, route, code, stage, venue, phase,
scope — never an order, account or instrument id. Dashboards and alert rules use only these
names, and ``tests/e2e/test_metrics_scraped.py`` proves, against a real Prometheus scraping a
running stack, that every one of them is emitted and every panel and alert has a series.
Consumer lag is not exported by the processes (a dedicated exporter will be); venue call and
circuit-breaker metrics come with the live venue adapters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "REGISTRY",
    "order_event_counter",
    # agents
    "AGENT_ERRORS",
    "DLQ_RECORDS",
    "ORDERS_IN_FLIGHT",
    "ORDER_EVENTS",
    "PROCESSING_SECONDS",
    "RECORDS_PROCESSED",
    "REJECTIONS",
    "STAGE_LATENCY",
    "TICKS_PROCESSED",
    "FILLS",
    "ILLEGAL_TRANSITIONS",
    "KILL_SWITCH_STATE",
    # paper exchange
    "PAPER_BATCH_SECONDS",
    "PAPER_RESTING_ORDERS",
    "PAPER_SNAPSHOT_SECONDS",
    # sink
    "SINK_BATCH_ROWS",
    "SINK_BATCH_SECONDS",
    "SINK_LAST_COMMIT",
    "SINK_OFFSETS_BEHIND",
    "SINK_ROWS",
    "SINK_RETRIES",
    # ingress
    "INGRESS_AUDIT_DROPPED",
    "INGRESS_AUTH_FAILURES",
    "INGRESS_PHASE_SECONDS",
    "INGRESS_RATE_LIMITED",
    "INGRESS_REQUESTS",
    "INGRESS_REQUEST_SECONDS",
]

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# --- agents ---------------------------------------------------------------------------
RECORDS_PROCESSED = Counter(
    "tradepipe_records_processed_total",
    "Records an agent finished processing.",
    ["agent"],
    registry=REGISTRY,
)
REJECTIONS = Counter(
    "tradepipe_rejections_total",
    "Orders refused, by agent, status (REJECTED, DENIED, ROUTE_FAILED) and reason code.",
    ["agent", "status", "reason"],
    registry=REGISTRY,
)
ORDER_EVENTS = Counter(
    "tradepipe_order_events_total",
    "Order lifecycle events emitted, by status.",
    ["status"],
    registry=REGISTRY,
)


def order_event_counter(status: str) -> Counter:
    """``ORDER_EVENTS`` for ``status``, looked up once (``labels`` costs ~1 µs a call)."""
    child = _ORDER_EVENT_CHILDREN.get(status)
    if child is None:
        child = _ORDER_EVENT_CHILDREN[status] = ORDER_EVENTS.labels(status=status)
    return child


_ORDER_EVENT_CHILDREN: dict[str, Counter] = {}

PROCESSING_SECONDS = Histogram(
    "tradepipe_processing_seconds",
    "In-agent processing time per record (no broker waits).",
    ["agent"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
STAGE_LATENCY = Histogram(
    "tradepipe_stage_latency_seconds",
    "Time from the intent's creation to the end of a stage.",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
ORDERS_IN_FLIGHT = Gauge(
    "tradepipe_orders_in_flight",
    "Orders routed and not yet in a final state, per worker.",
    [],
    registry=REGISTRY,
)
AGENT_ERRORS = Counter(
    "tradepipe_agent_errors_total",
    "Records an agent could not process (sent to a DLQ).",
    ["agent", "code"],
    registry=REGISTRY,
)
DLQ_RECORDS = Counter(
    "tradepipe_dlq_records_total",
    "Records written to a dead-letter topic.",
    ["topic", "code"],
    registry=REGISTRY,
)
TICKS_PROCESSED = Counter(
    "tradepipe_ticks_processed_total",
    "Market-data ticks processed.",
    ["agent"],
    registry=REGISTRY,
)
FILLS = Counter(
    "tradepipe_fills_total",
    "Executions produced or applied.",
    ["venue"],
    registry=REGISTRY,
)
ILLEGAL_TRANSITIONS = Counter(
    "tradepipe_illegal_transitions_total",
    "Order transitions the state machine refused (audited), by reason.",
    ["reason"],
    registry=REGISTRY,
)
KILL_SWITCH_STATE = Gauge(
    "tradepipe_trading_state",
    "Global trading state: 0 ACTIVE, 1 REDUCING, 2 HALTED.",
    [],
    registry=REGISTRY,
)

# --- paper exchange -------------------------------------------------------------------
PAPER_BATCH_SECONDS = Histogram(
    "tradepipe_paper_batch_seconds",
    "Paper exchange: processing time of one consumed batch (decode, match, encode; no waits).",
    [],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
PAPER_SNAPSHOT_SECONDS = Histogram(
    "tradepipe_paper_snapshot_seconds",
    "Paper exchange: time to write the state snapshots of one batch.",
    [],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
PAPER_RESTING_ORDERS = Gauge(
    "tradepipe_paper_resting_orders",
    "Paper exchange: orders working in this process's books.",
    [],
    registry=REGISTRY,
)

# --- sink -----------------------------------------------------------------------------
SINK_ROWS = Counter(
    "tradepipe_sink_rows_total",
    "Rows written to Postgres, per table.",
    ["table"],
    registry=REGISTRY,
)
SINK_BATCH_ROWS = Histogram(
    "tradepipe_sink_batch_rows",
    "Rows per sink transaction.",
    [],
    buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000),
    registry=REGISTRY,
)
SINK_BATCH_SECONDS = Histogram(
    "tradepipe_sink_batch_seconds",
    "Duration of one sink transaction.",
    [],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SINK_OFFSETS_BEHIND = Gauge(
    "tradepipe_sink_offsets_behind_messages",
    "Records between the sink's position and the log end.",
    ["topic"],
    registry=REGISTRY,
)
SINK_LAST_COMMIT = Gauge(
    "tradepipe_sink_last_commit_timestamp_seconds",
    "Unix time of the last committed batch.",
    [],
    registry=REGISTRY,
)
SINK_RETRIES = Counter(
    "tradepipe_sink_retries_total",
    "Sink batches retried after Postgres errors.",
    [],
    registry=REGISTRY,
)

# --- ingress --------------------------------------------------------------------------
INGRESS_REQUESTS = Counter(
    "tradepipe_ingress_requests_total",
    "HTTP requests, by route and status code (499: the client left before its body arrived).",
    ["route", "code"],
    registry=REGISTRY,
)
INGRESS_REQUEST_SECONDS = Histogram(
    "tradepipe_ingress_request_seconds",
    "HTTP request handling time.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
INGRESS_AUTH_FAILURES = Counter(
    "tradepipe_ingress_auth_failures_total",
    "Refused authentications, by reason.",
    ["reason"],
    registry=REGISTRY,
)
INGRESS_RATE_LIMITED = Counter(
    "tradepipe_ingress_rate_limited_total",
    "Requests refused with 429, by scope (key, account).",
    ["scope"],
    registry=REGISTRY,
)

INGRESS_AUDIT_DROPPED = Counter(
    "tradepipe_ingress_audit_dropped_total",
    "Audit events the ingress could not hand to Kafka (best effort), by reason.",
    ["reason"],
    registry=REGISTRY,
)
INGRESS_PHASE_SECONDS = Histogram(
    "tradepipe_ingress_phase_seconds",
    "Time per phase of an ingress request: auth, validate, redis, work (Kafka ack or read).",
    ["phase"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
