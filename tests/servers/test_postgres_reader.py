"""The PostgreSQL reader (src/connectors/postgres/postgres_import.cc) against a real server:
runs the gtest binary sluice_postgres_server_tests with the server's address.

The binary comes from $SLUICE_BUILD_DIR, else <repo>/build; build it first:
    ninja -C build sluice_postgres_server_tests
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from servers import REPO, _clean_env

BINARY = "sluice_postgres_server_tests"
TIMEOUT = 600


def test_postgres_reader(postgres_server):
    pg = postgres_server
    build = Path(os.environ.get("SLUICE_BUILD_DIR") or REPO / "build")
    binary = build / BINARY
    if not binary.is_file():
        pytest.fail(f"{binary} does not exist; build it with: ninja -C {build} {BINARY}",
                    pytrace=False)
    env = _clean_env(
        SLUICE_TEST_PG_HOST=pg.host,
        SLUICE_TEST_PG_PORT=str(pg.port),
        SLUICE_TEST_PG_USER=pg.user,
        SLUICE_TEST_PG_PASSWORD=pg.password,
        SLUICE_TEST_PG_DATABASE=pg.database,
    )
    try:
        res = subprocess.run([str(binary)], env=env, capture_output=True, text=True,
                             errors="replace", timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else e.stdout
        pytest.fail(f"{BINARY} timed out after {TIMEOUT} s:\n{out or ''}\n"
                    f"--- server log ---\n{pg.log_tail()}", pytrace=False)
    if res.returncode != 0:
        pytest.fail(f"{BINARY} exited {res.returncode}:\n{res.stdout}\n{res.stderr}\n"
                    f"--- server log ---\n{pg.log_tail()}", pytrace=False)
    # A binary whose tests were filtered out or compiled away passes with 0 tests.
    ran = re.search(r"\[  PASSED  \] (\d+) tests?\.", res.stdout)
    assert ran and int(ran.group(1)) > 0, f"no test ran:\n{res.stdout[-5000:]}"
    assert "PgImportTest." in res.stdout, res.stdout[-5000:]
