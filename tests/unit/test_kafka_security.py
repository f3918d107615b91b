"""Kafka security: one set of settings, turned into the same SASL/TLS for every client.

The Faust app, aiokafka and librdkafka must agree: a worker that connects in plaintext while
the sink speaks SASL_SSL would only fail in production.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import faust
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from streams.app import build_pipeline
from streams.errors import ConfigError
from streams.kafka import (
    _security,
    confluent_producer_config,
    confluent_security,
    faust_credentials,
    ssl_context,
)
from streams.settings import KafkaSettings, Settings

# A fixed validity window: the certificates' dates never depend on today.
_NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)


def _pem_pair(tmp_path: Path, name: str, *, password: bytes | None = None) -> tuple[Path, Path]:
    """A self-signed certificate and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_BEFORE + timedelta(days=365 * 200))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return cert_path, key_path


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    ca, _ = _pem_pair(tmp_path, "test-ca")
    cert, key = _pem_pair(tmp_path, "client", password=b"key-pass")
    return {"ca": ca, "cert": cert, "key": key}


def _sasl_ssl(files: dict[str, Path]) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers="kafka.invalid:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="tradepipe",
        sasl_password="s3cret",  # type: ignore[arg-type]
        ssl_cafile=files["ca"],
        ssl_certfile=files["cert"],
        ssl_keyfile=files["key"],
        ssl_key_password="key-pass",  # type: ignore[arg-type]
    )


def _ca_names(context: ssl.SSLContext) -> list[Any]:
    return [dict(x[0] for x in c["subject"])["commonName"] for c in context.get_ca_certs()]


def test_faust_app_gets_sasl_ssl_credentials_from_the_settings(
    tls_files: dict[str, Path],
) -> None:
    settings = Settings(kafka=_sasl_ssl(tls_files))

    credentials = build_pipeline(settings).app.conf.broker_credentials

    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "tradepipe"
    assert credentials.password == "s3cret"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.ssl_context is not None
    assert _ca_names(credentials.ssl_context) == ["test-ca"]
    assert credentials.ssl_context.verify_mode is ssl.CERT_REQUIRED


def test_faust_app_speaks_what_the_aiokafka_clients_speak(tls_files: dict[str, Path]) -> None:
    kafka = _sasl_ssl(tls_files)

    faust_auth = credentials_to_aiokafka_auth(faust_credentials(kafka))
    ours = _security(kafka)

    for option in ("security_protocol", "sasl_mechanism", "sasl_plain_username"):
        assert faust_auth[option] == ours[option], option
    assert faust_auth["sasl_plain_password"] == ours["sasl_plain_password"] == "s3cret"
    assert _ca_names(faust_auth["ssl_context"]) == _ca_names(ours["ssl_context"]) == ["test-ca"]


def test_faust_app_gets_a_tls_context_for_ssl_without_sasl(tls_files: dict[str, Path]) -> None:
    kafka = KafkaSettings(security_protocol="SSL", ssl_cafile=tls_files["ca"])

    credentials = build_pipeline(Settings(kafka=kafka)).app.conf.broker_credentials

    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.protocol.value == "SSL"
    assert _ca_names(credentials.context) == ["test-ca"]


def test_plaintext_gives_faust_no_credentials() -> None:
    pipeline = build_pipeline(Settings())

    assert faust_credentials(Settings().kafka) is None
    assert credentials_to_aiokafka_auth(pipeline.app.conf.broker_credentials) == {
        "security_protocol": "PLAINTEXT"
    }


def test_librdkafka_clients_get_the_same_sasl_and_tls_files(tls_files: dict[str, Path]) -> None:
    kafka = _sasl_ssl(tls_files)

    conf = confluent_producer_config(Settings(kafka=kafka))

    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("tradepipe", "s3cret")
    assert conf["ssl.ca.location"] == str(tls_files["ca"])
    assert conf["ssl.certificate.location"] == str(tls_files["cert"])
    assert conf["ssl.key.location"] == str(tls_files["key"])
    assert conf["ssl.key.password"] == "key-pass"


def test_tls_without_a_ca_file_uses_the_system_cas() -> None:
    kafka = KafkaSettings(security_protocol="SSL")

    assert confluent_security(kafka)["ssl.ca.location"] == "probe"
    assert ssl_context(kafka) is not None


def test_a_wrong_key_password_is_a_config_error(tls_files: dict[str, Path]) -> None:
    kafka = _sasl_ssl(tls_files).model_copy(update={"ssl_key_password": None})

    with pytest.raises(ConfigError, match="cannot load the Kafka TLS files"):
        ssl_context(kafka)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "needs sasl_mechanism"),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"},
            "needs sasl_mechanism, sasl_username and sasl_password",
        ),
        ({"sasl_mechanism": "PLAIN"}, "sasl_mechanism is set but security_protocol"),
        ({"ssl_cafile": "/ca.pem"}, "ssl_\\* files are set but security_protocol"),
        (
            {"security_protocol": "SSL", "ssl_certfile": "/c.pem"},
            "ssl_certfile and ssl_keyfile go together",
        ),
    ],
)
def test_incomplete_security_settings_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaSettings(**fields)
