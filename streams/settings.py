"""The one place tradepipe reads its configuration (environment prefix ``TRADEPIPE_``).

Components receive the frozen sub-settings they need; nothing else reads the environment.
Nested values use ``__``: ``TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS=host:9092``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "AgentSettings",
    "ClockSettings",
    "FeeSettings",
    "IngressSettings",
    "KafkaSettings",
    "LogSettings",
    "PaperSettings",
    "PostgresSettings",
    "Profile",
    "RedisSettings",
    "RegistrySettings",
    "RiskSettings",
    "Settings",
    "SinkSettings",
    "SmartApiSettings",
    "get_settings",
]


class Profile(StrEnum):
    """Which broker the process talks to: the embedded Tansu broker or real Kafka."""

    DEV = "dev"
    PROD = "prod"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Frozen):
    """Kafka clients; the dev profile adapts them to the embedded broker (embedded-broker.md)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    partitions: int = Field(
        default=6, ge=1, description="partition count of every order-side topic"
    )
    tick_partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    session_timeout_s: float = Field(default=6.0, gt=0)
    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    linger_ms: int = Field(default=5, ge=0)
    # Tick readers (price feed, paper exchange) wait for this much data per fetch (up to the
    # fetch wait). Small fetches cost the embedded broker a lot of CPU (docs/performance.md).
    fetch_min_bytes: int = Field(default=1, ge=1)
    # None means "decide from the profile": off on the embedded broker, on for real Kafka.
    enable_idempotence: bool | None = None
    # One record per produce batch keeps Faust table recovery whole on Tansu
    # (docs/embedded-broker.md #3).
    producer_max_batch_size: int | None = None
    # Security: one set of fields for every client (aiokafka, librdkafka and the Faust app),
    # turned into each client's own options in streams/kafka.py.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # TLS (SSL, SASL_SSL): PEM files, e.g. mounted from a secret. No CA file: the system CAs.
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None  # client certificate, for brokers that require mTLS
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None

    @model_validator(mode="after")
    def _security_is_complete(self) -> KafkaSettings:
        # Each client would otherwise fail its own way at connect time, or silently drop
        # the credentials (a mechanism without a SASL protocol).
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism,"
                " sasl_username and sasl_password"
            )
        if not sasl and self.sasl_mechanism:
            raise ValueError(
                f"sasl_mechanism is set but security_protocol is {self.security_protocol}"
            )
        tls = self.security_protocol in {"SSL", "SASL_SSL"}
        if not tls and (self.ssl_cafile or self.ssl_certfile or self.ssl_keyfile):
            raise ValueError(
                f"ssl_* files are set but security_protocol is {self.security_protocol}"
            )
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        return self


class RegistrySettings(_Frozen):
    """Where schema ids come from: the committed lock file, or a Confluent-compatible registry."""

    kind: Literal["file", "confluent"] = "file"
    url: str = "http://127.0.0.1:8081"
    basic_auth: SecretStr | None = None
    lock_file: Path | None = None  # None: the lock file committed in schemas/


class PostgresSettings(_Frozen):
    """The sink's database."""

    dsn: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/test")
    db_schema: str = Field(default="tradepipe", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    min_pool: int = 1
    max_pool: int = 4


class RedisSettings(_Frozen):
    """Nonces, rate limits, instrument cache."""

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "tp:"


class LogSettings(_Frozen):
    """structlog: JSON in production, console in development."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_output: bool | None = None  # None: JSON in prod, console in dev
    file: Path | None = None


class RiskSettings(_Frozen):
    """Default pre-trade limits; per-account overrides arrive as control commands."""

    max_order_notional: Decimal = Decimal("5000000")
    max_position_qty: int = 100_000
    max_gross_exposure: Decimal = Decimal("20000000")
    max_open_orders: int = 200
    max_daily_loss: Decimal = Decimal("500000")
    max_orders_per_second: int = 50
    fat_finger_pct: Decimal = Decimal("10")


class PaperSettings(_Frozen):
    """The paper exchange process and the tick simulator."""

    group_id: str = "tradepipe-paper"
    slippage_bps: Decimal = Field(default=Decimal(0), ge=0)
    max_batch: int = Field(default=2000, ge=1)
    # Tick-only progress is snapshotted at most this often (output batches always are).
    snapshot_interval_s: float = Field(default=1.0, gt=0)
    simulator_rate: float = Field(default=20.0, ge=0)


class SinkSettings(_Frozen):
    """The Postgres sink's consumer."""

    group_id: str = "tradepipe-sink"
    batch_max_records: int = Field(default=20_000, ge=1)
    batch_max_wait_ms: int = Field(default=200, ge=1)
    startup_timeout_s: float = Field(
        default=60.0, gt=0, description="how long a starting sink waits for Postgres"
    )


class IngressSettings(_Frozen):
    """The HTTP ingress."""

    host: str = "127.0.0.1"
    port: int = 8080
    timestamp_window_s: int = 300
    max_body_bytes: int = 256 * 1024
    max_batch: int = 500
    trusted_proxies: tuple[str, ...] = ()
    secrets_key: SecretStr | None = None  # Fernet key for secrets at rest
    # Fernet keys are comma-separated, newest first: the first encrypts, all decrypt.
    key_cache_ttl_s: float = Field(default=1.0, ge=0, description="API keys cached; revocation lag")
    key_rate_per_s: float = Field(default=1000.0, gt=0, description="default per-key request rate")
    key_burst: int = Field(default=2000, ge=1)
    account_rate_per_s: float = Field(default=200.0, gt=0, description="orders/s per account")
    account_burst: int = Field(default=500, ge=1)
    idempotency_ttl_s: int = Field(default=86_400, ge=1)
    produce_timeout_s: float = Field(default=5.0, gt=0, description="wait for broker acks")
    redis_timeout_s: float = Field(default=1.0, gt=0)
    retry_after_s: int = Field(default=2, ge=1, description="Retry-After on 503")
    audit_timeout_s: float = Field(default=0.05, gt=0, description="max wait to enqueue an audit")
    # The request head (request line and headers) and body, bounded per request.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, description="431 above")
    max_headers: int = Field(default=100, ge=16, description="431 above")
    header_timeout_s: float = Field(default=10.0, gt=0, description="408 when the head is late")
    body_timeout_s: float = Field(default=30.0, gt=0, description="408 when the body is late")
    max_concurrency: int = Field(default=1024, ge=1, description="503 above, per process")


class SmartApiSettings(_Frozen):
    """Angel One SmartAPI credentials (live only)."""

    api_key: SecretStr | None = None
    client_code: str | None = None
    pin: SecretStr | None = None
    totp_secret: SecretStr | None = None
    root_url: str = "https://apiconnect.angelone.in"
    orders_per_second: int = 20
    timeout_s: float = 7.0


class FeeSettings(_Frozen):
    """Fee model for fills that arrive without a fee (``connectors.fees.FeeModel``)."""

    bps: Decimal = Field(default=Decimal("3"), ge=0)
    fixed_per_order: Decimal = Field(default=Decimal("0"), ge=0)
    minimum: Decimal = Field(default=Decimal("0"), ge=0)


class AgentSettings(_Frozen):
    """The Faust worker's agents (``agents/``): routing, batching, prices and marks."""

    # account id -> venue name; accounts not listed go to ``default_venue``
    venues: dict[str, str] = Field(default_factory=dict)
    default_venue: str = "paper"
    max_batch: int = Field(default=1000, ge=1)
    # how long a batch may wait to fill: bigger batches amortise the per-batch ack round trips
    batch_within_s: float = Field(default=0.05, gt=0)
    # how often positions are re-marked to the last traded price (positions.v1 snapshots)
    mark_interval_s: float = Field(default=1.0, gt=0)
    # ticks re-read per partition at start so last prices are known after a restart
    price_lookback: int = Field(default=500, ge=0)
    # intent ids / client order ids remembered per account (replay and duplicate checks)
    seen_memory: int = Field(default=5000, ge=10)
    # closed orders kept per account for late fills and replays
    closed_memory: int = Field(default=256, ge=1)
    fees: FeeSettings = FeeSettings()


class ClockSettings(_Frozen):
    """The trading calendar (``streams.clock.Clock`` reads it).

    ``trading_day`` pins the trading day instead of deriving it from the wall clock (tests, a
    dry run on a past day); ``holidays`` are exchange holidays (no session on those days).
    """

    trading_day: date | None = None
    holidays: tuple[date, ...] = ()


class Settings(BaseSettings):
    """All of tradepipe's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="TRADEPIPE_",
        env_nested_delimiter="__",
        # Written by `tradepipe up` so that commands in other terminals find its broker;
        # real environment variables win over it.
        env_file=".tradepipe/stack.env",
        env_file_encoding="utf-8",
        frozen=True,
        extra="forbid",
    )

    profile: Profile = Profile.DEV
    app_id: str = "tradepipe"
    data_dir: Path = Path(".tradepipe")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # 0: pick a free port
    kafka: KafkaSettings = KafkaSettings()
    registry: RegistrySettings = RegistrySettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    log: LogSettings = LogSettings()
    risk: RiskSettings = RiskSettings()
    sink: SinkSettings = SinkSettings()
    paper: PaperSettings = PaperSettings()
    ingress: IngressSettings = IngressSettings()
    smartapi: SmartApiSettings = SmartApiSettings()
    agents: AgentSettings = AgentSettings()
    clock: ClockSettings = ClockSettings()

    @property
    def idempotent_producer(self) -> bool:
        """Idempotence on for real Kafka, off on the embedded broker (embedded-broker.md #1)."""
        if self.kafka.enable_idempotence is not None:
            return self.kafka.enable_idempotence
        return self.profile is Profile.PROD

    @property
    def log_json(self) -> bool:
        """JSON logs in production, console logs in development, unless forced."""
        if self.log.json_output is not None:
            return self.log.json_output
        return self.profile is Profile.PROD


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
