"""Validation and secrets regressions (issue: data loss, hangs and rough edges, items 20-21):
absurd numbers, secret references that are not closed, ${file:} that is not a small regular
file, and secrets used in other options than the password."""

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from conftest import run_sluice, write_pipeline

DS = "2026-11-21"


def pipeline_with(folder: Path, connection: str, defaults: str = "") -> Path:
    return write_pipeline(folder, f"""
        pipeline: secrets
        {defaults}
        tasks:
          - id: hello
            kind: sql
            into: marts.hello
            sql: SELECT 1 AS one
          - id: load
            kind: db_load
            connection: dwh
            datasets: {{marts.hello: public.hello}}
        connections:
          dwh: {connection}
        """)


@pytest.mark.parametrize("value", ["4294967296", "101", "-1", "1e3"])
def test_absurd_retries_fail_validation(tmp_path, value):
    p = pipeline_with(tmp_path, "{type: duckdb, path: ./wh.duckdb}",
                      defaults=f"defaults: {{retries: {value}}}")
    r = run_sluice("validate", p, cwd=tmp_path)
    assert r.returncode == 2, str(r)
    assert f"retries must be a whole number from 0 to 100, not '{value}'" in r.stderr, r.stderr


@pytest.mark.parametrize("password", ["${env:SLUICE_PW", "${env:SLUICE_PW}x", "x${env:SLUICE_PW}",
                                      "${env:SLUICE_PW}${env:SLUICE_PW}"])
def test_secret_reference_that_is_not_whole_is_refused(tmp_path, password):
    p = pipeline_with(tmp_path, f'{{type: postgres, host: 127.0.0.1, database: d, user: u, '
                                f'password: "{password}"}}')
    r = run_sluice("validate", p, cwd=tmp_path, env={"SLUICE_PW": "hunter2-value"})
    assert r.returncode == 2, str(r)
    assert "is not a secret reference" in r.stderr, r.stderr
    assert "hunter2-value" not in r.output


def test_secret_file_must_be_a_small_regular_file(tmp_path):
    folder = tmp_path / "folder.pass"
    folder.mkdir(mode=0o700)
    p = pipeline_with(tmp_path, '{type: postgres, host: 127.0.0.1, database: d, user: u, '
                                'password: "${file:folder.pass}"}')
    r = run_sluice("validate", p, cwd=tmp_path)
    assert r.returncode == 2 and "is a folder" in r.stderr, str(r)

    fifo = tmp_path / "fifo.pass"
    os.mkfifo(fifo, 0o600)
    p = pipeline_with(tmp_path, '{type: postgres, host: 127.0.0.1, database: d, user: u, '
                                'password: "${file:fifo.pass}"}')
    r = run_sluice("validate", p, cwd=tmp_path, timeout=20)  # a FIFO used to block here
    assert r.returncode == 2 and "not a regular file" in r.stderr, str(r)

    big = tmp_path / "big.pass"
    with open(big, "wb") as f:
        f.truncate(3 * 1024 * 1024 * 1024)  # 3 GB, sparse
    big.chmod(0o600)
    p = pipeline_with(tmp_path, '{type: postgres, host: 127.0.0.1, database: d, user: u, '
                                'password: "${file:big.pass}"}')
    r = run_sluice("validate", p, cwd=tmp_path, timeout=20)
    assert r.returncode == 2 and "a secret file holds one value (at most 64 KiB)" in r.stderr, str(r)


def test_secrets_in_host_and_user_are_masked_everywhere(tmp_path):
    """A ${env:} in host or user is a secret like the password: its value never reaches an
    error, the output, a log or the state database."""
    env = {"SLUICE_HOST": "localhost", "SLUICE_USER": "secretuser123", "SLUICE_PW": "pw-123456"}
    p = pipeline_with(tmp_path, '{type: postgres, host: "${env:SLUICE_HOST}", port: 1, '
                                'database: d, user: "${env:SLUICE_USER}", '
                                'password: "${env:SLUICE_PW}", connect_timeout: 5s}')
    r = run_sluice("run", p, "--date", DS, cwd=tmp_path, env=env)
    assert r.returncode == 1, str(r)
    assert "connection 'dwh'" in r.output and "***" in r.output, str(r)
    for value in env.values():
        assert value not in r.output, f"{value} leaked into the output\n{r}"
    for log in (tmp_path / ".sluice" / "logs").rglob("*.log"):
        text = log.read_text()
        for value in env.values():
            assert value not in text, f"{value} leaked into {log}"
    con = sqlite3.connect(tmp_path / ".sluice" / "state.db")
    dump = "\n".join(con.iterdump())
    con.close()
    for value in env.values():
        assert value not in dump, f"{value} leaked into state.db"
