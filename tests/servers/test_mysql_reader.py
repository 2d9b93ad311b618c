"""The MySQL/MariaDB import reader (src/connectors/mysql/mysql_import.cc) against a real
MariaDB: runs the gtest binary sluice_mysql_server_tests with the server's address in
SLUICE_TEST_MYSQL_{HOST,PORT,USER,PASSWORD,DATABASE}, in a database of its own.

The binary is $SLUICE_BUILD_DIR/sluice_mysql_server_tests (default build/): build it first
with `ninja -C build sluice_mysql_server_tests`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from servers import REPO

DATABASE = "sluice_mysql_reader"
TIMEOUT = 600  # seconds for the whole binary; it takes a few on a loaded machine


def binary_path() -> Path:
    build = Path(os.environ.get("SLUICE_BUILD_DIR", REPO / "build"))
    return build / "sluice_mysql_server_tests"


@pytest.fixture(scope="module")
def reader_database(mariadb_server):
    """A fresh database the etl account owns, dropped afterwards."""
    db = mariadb_server
    grantees = f"'{db.user}'@'127.0.0.1', '{db.user}'@'localhost'"
    db.sql(f"DROP DATABASE IF EXISTS {DATABASE};"
           f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;"
           f"GRANT ALL PRIVILEGES ON {DATABASE}.* TO {grantees};", admin=True)
    yield DATABASE
    db.sql(f"DROP DATABASE IF EXISTS {DATABASE}", admin=True)


# A query of plain numbers, dates, times and text is read as a prepared statement (the binary
# protocol), any other in the text protocol: the whole suite runs once each way.
@pytest.mark.parametrize("protocol", ["binary", "text"])
def test_mysql_reader_against_mariadb(mariadb_server, reader_database, protocol):
    binary = binary_path()
    if not binary.exists():
        pytest.fail(f"{binary} does not exist: build it with "
                    f"`ninja -C {binary.parent} sluice_mysql_server_tests` "
                    "(or set SLUICE_BUILD_DIR)", pytrace=False)
    db = mariadb_server
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_TEST_MYSQL_")}
    if protocol == "text":
        env["SLUICE_TEST_MYSQL_TEXT_PROTOCOL"] = "1"
    env.update(SLUICE_TEST_MYSQL_HOST=db.host, SLUICE_TEST_MYSQL_PORT=str(db.port),
               SLUICE_TEST_MYSQL_USER=db.user, SLUICE_TEST_MYSQL_PASSWORD=db.password,
               SLUICE_TEST_MYSQL_DATABASE=reader_database)
    try:
        res = subprocess.run([str(binary), "--gtest_color=no"], env=env, capture_output=True,
                             text=True, errors="replace", timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        pytest.fail(f"{binary.name} did not finish within {TIMEOUT} s:\n{out[-20000:]}\n"
                    f"--- server log ---\n{db.log_tail()}", pytrace=False)
    output = res.stdout + res.stderr
    if res.returncode != 0:
        pytest.fail(f"{binary.name} exited with {res.returncode}:\n{output[-20000:]}\n"
                    f"--- server log ---\n{db.log_tail()}", pytrace=False)
    # A binary without tests (a placeholder) passes too: make sure the suite ran.
    ran = re.search(r"\[  PASSED  \] (\d+) tests?\.", output)
    assert ran and int(ran.group(1)) > 0 and "MySqlImportTest." in output, output[-20000:]
