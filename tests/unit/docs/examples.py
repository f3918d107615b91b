"""Which documented commands a test runs as the docs show them, and why the others are not.

Every command path that README.md or docs/*.md shows must be in exactly one of the two maps
(``test_every_documented_command_is_run_or_says_why_not``). Every path also gets its
``--help`` run, and every line its command and flags checked against the CLI.
"""

from __future__ import annotations

__all__ = ["NOT_RUN", "RUN"]

_E2E_README = "tests/e2e/test_readme.py (against the stack `tradepipe up` starts)"
_EXAMPLES = "tests/integration/test_docs_examples.py"

RUN: dict[str, str] = {
    "tradepipe up": _E2E_README,
    "tradepipe send": _E2E_README,
    "tradepipe tail": f"{_E2E_README}; {_EXAMPLES}",
    "tradepipe schemas check": _EXAMPLES,
    "tradepipe topics create": _EXAMPLES,
    "tradepipe topics list": _EXAMPLES,
    "tradepipe paper expire": _EXAMPLES,
    "tradepipe audit verify": _EXAMPLES,
    "tradepipe keys list": _EXAMPLES,
    "tradepipe instruments load": _EXAMPLES,
    "tradepipe db migrate": "tests/e2e/test_wheel_install.py (from the installed wheel)",
    "tradepipe db status": "tests/e2e/test_wheel_install.py; tests/sink/test_db_cli.py (--json)",
}

_LONG_RUNNING = "runs until stopped; the e2e tests start it as a process"
NOT_RUN: dict[str, str] = {
    "tradepipe": "the program's name in prose (ENTRYPOINT, a process); its --help is run",
    "tradepipe worker": f"{_LONG_RUNNING} (tests/e2e/test_trading_day.py)",
    "tradepipe sink": f"{_LONG_RUNNING} (tests/e2e/test_broker_loss_day.py)",
    "tradepipe paper": f"{_LONG_RUNNING} (tests/e2e/test_trading_day.py)",
    "tradepipe simulate": f"{_LONG_RUNNING} (tradepipe up runs it, tests/e2e/test_readme.py)",
    "tradepipe demo": f"{_LONG_RUNNING} (tradepipe up runs it, tests/e2e/test_readme.py)",
    "tradepipe ingress": "runs until stopped; tests/ingress/ run the same server in-process",
    "tradepipe ingress serve": "the same as `tradepipe ingress`; tests/ingress/",
    "tradepipe restore": "needs a lost broker and the sink's Postgres copy of it;"
    " tests/e2e/test_broker_loss_day.py runs it as the runbook says",
    "tradepipe schemas lock": "writes a new kept schema version into schemas/;"
    " tests/unit/test_registry.py covers it on a copy",
    "tradepipe keys": "the command group in prose; its --help is run",
    "tradepipe keys create": "prints a new secret; tests/ingress/test_cli.py runs create, rotate"
    " and revoke with the documented flags",
    "tradepipe keys rotate": "needs a key id from create; tests/ingress/test_cli.py",
    "tradepipe keys revoke": "needs a key id from create; tests/ingress/test_cli.py",
    "tradepipe db wait": "documented with a 10-minute bound; tests/sink/test_db_cli.py runs it"
    " with --timeout 1 on an unmigrated schema",
}
