"""Settings from the environment, and log redaction."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog
from pydantic import ValidationError

from streams.logs import configure_logging, redact
from streams.settings import Profile, Settings


def test_settings_read_nested_values_from_prefixed_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("TRADEPIPE_PROFILE", "prod")
    monkeypatch.setenv("TRADEPIPE_RISK__MAX_OPEN_ORDERS", "7")
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.profile is Profile.PROD
    assert settings.risk.max_open_orders == 7


def test_settings_refuse_unknown_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEPIPE_KAFKA__BOOTSTRAP_SERVER", "typo:9092")
    with pytest.raises(ValidationError, match="bootstrap_server"):
        Settings()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.app_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("profile", "idempotent", "json_logs"),
    [(Profile.DEV, False, False), (Profile.PROD, True, True)],
)
def test_profile_decides_idempotence_and_log_format(
    profile: Profile, idempotent: bool, json_logs: bool
) -> None:
    settings = Settings(profile=profile)
    assert settings.idempotent_producer is idempotent
    assert settings.log_json is json_logs


def test_secrets_are_not_shown_in_settings_repr() -> None:
    settings = Settings(postgres={"dsn": "postgresql://u:hunter2@db/x"})  # type: ignore[arg-type]
    assert "hunter2" not in repr(settings)


def test_redact_hides_secret_keys_and_url_passwords() -> None:
    event = redact(
        None,
        "info",
        {
            "api_key": "abc",
            "dsn": "x",
            "url": "postgresql://u:hunter2@h/db",
            "instrument_token": "2885",
            "nested": {"password": "p", "ok": 1},
        },
    )
    assert event["api_key"] == "***"
    assert event["url"] == "postgresql://u:***@h/db"
    assert event["instrument_token"] == "2885"
    assert event["nested"] == {"password": "***", "ok": 1}


def test_json_log_file_never_contains_the_secret(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    configure_logging(level="INFO", json_output=True, file=log_file)
    structlog.get_logger("t").info("broker_login", totp_secret="JBSWY3DPEHPK3PXP", client="C1")
    logging.getLogger().handlers[0].flush()
    line = json.loads(log_file.read_text().splitlines()[-1])
    assert line["event"] == "broker_login"
    assert line["totp_secret"] == "***"
    assert "JBSWY3DPEHPK3PXP" not in log_file.read_text()
