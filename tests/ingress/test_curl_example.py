"""The curl + openssl snippet of docs/ingress.md, run verbatim against a live ingress."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest

from connectors.ingress.devkey import CURL_EXAMPLE
from connectors.ingress.server import IngressServer
from connectors.ingress.store import IssuedSecret
from tests.conftest import service_missing

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]

DOC = Path(__file__).resolve().parents[2] / "docs" / "ingress.md"


def _snippet() -> str:
    text = DOC.read_text()
    match = re.search(
        r"<!-- curl-example:start -->\s*```bash\n(.*?)```\s*<!-- curl-example:end -->", text, re.S
    )
    assert match, "docs/ingress.md lost its curl example"
    return match.group(1)


async def test_documented_curl_snippet_gets_a_202(
    ingress: IngressServer, key: IssuedSecret
) -> None:
    if not (shutil.which("curl") and shutil.which("openssl")):
        service_missing("curl and openssl", FileNotFoundError("curl/openssl not on PATH"))
    env = {**os.environ, "INGRESS_URL": ingress.url, "KEY_ID": key.key_id, "SECRET": key.secret}

    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        _snippet(),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)

    lines = out.decode().strip().splitlines()
    assert proc.returncode == 0, err.decode()
    assert lines[-1] == "202", out.decode()
    assert '"status":"accepted"' in lines[0]


def test_documented_snippet_is_the_one_tradepipe_up_prints() -> None:
    assert _snippet() == CURL_EXAMPLE
