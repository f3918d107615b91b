"""The development key of ``tradepipe up``: dev profile only, a master key kept in the data
folder, and ``up`` itself refusing production settings."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from connectors.ingress.devkey import DevKey, dev_secrets_key, signed_curl_example
from streams.errors import ConfigError
from streams.settings import IngressSettings, Profile, Settings


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / ".tradepipe", **overrides)


def test_dev_master_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    first = dev_secrets_key(settings)
    second = dev_secrets_key(settings)

    path = tmp_path / ".tradepipe" / "ingress-dev-master.key"
    assert first == second
    assert Fernet(first.encode())  # a usable Fernet key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_configured_master_key_wins_over_the_file(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = _settings(tmp_path, ingress=IngressSettings(secrets_key=SecretStr(key)))

    assert dev_secrets_key(settings) == key
    assert not (tmp_path / ".tradepipe").exists()


def test_dev_key_is_refused_with_production_settings(tmp_path: Path) -> None:
    settings = _settings(tmp_path, profile=Profile.PROD)

    with pytest.raises(ConfigError, match="TRADEPIPE_PROFILE=dev only"):
        dev_secrets_key(settings)


def test_curl_example_sets_the_url_and_the_key_first() -> None:
    text = signed_curl_example("http://127.0.0.1:8080", DevKey("tpk_ab", "tpsk_cd"))

    first, *rest = text.splitlines()
    assert first == "export INGRESS_URL=http://127.0.0.1:8080 KEY_ID=tpk_ab SECRET=tpsk_cd"
    assert rest[-1].startswith("  --data-binary")


def test_up_refuses_production_settings_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    env["TRADEPIPE_PROFILE"] = "prod"

    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "up", "--duration", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2  # settings that cannot work: bad input, like a typo
    assert result.stderr.startswith("tradepipe: `tradepipe up` is the development stack")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / ".tradepipe").exists()
