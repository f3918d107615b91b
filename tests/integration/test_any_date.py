"""The unit suite passes with the clock moved years ahead and behind (libfaketime).

Everything that decides by date (the expiry rule, the sample instruments' expiries, the
trading day) reads one injectable clock, and the sample master is derived from the trading
day (docs/time.md); this runs the whole unit suite in a child pytest whose clock libfaketime
moves, so a test or a sample that assumed "today" fails here.

Only the unit suite, less its one module that starts a librdkafka client: libfaketime also
moves the clock of librdkafka's timed waits, which then stall, so the suites that run Kafka
clients are checked with the machine's clock moved instead (docs/time.md says how).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow]


def _libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        pytest.fail("libfaketime is missing: deploy/tools/install-validators.sh installs it")
    return found[0]


@pytest.mark.parametrize("offset", ["+1200d", "-500d"])
def test_unit_suite_passes_with_the_clock_moved(offset: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    env.update(LD_PRELOAD=_libfaketime(), FAKETIME=offset, HYPOTHESIS_STORAGE_DIRECTORY="")
    probe = subprocess.run(
        [sys.executable, "-c", "import datetime; print(datetime.date.today().isoformat())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "t"),
            "tests/unit",
            # its Kafka-client door holds a librdkafka producer (see the module docstring);
            # nothing in it reads a date
            "--ignore",
            "tests/unit/test_contract_properties.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    today = subprocess.run(
        [sys.executable, "-c", "import datetime; print(datetime.date.today().isoformat())"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert probe.stdout != today.stdout, "libfaketime did not move the child's clock"
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]
