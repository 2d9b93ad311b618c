"""The command line: validate, exit codes, secrets, --help, runs/status/logs, query formats,
task selection, checks, retries, timeouts and Ctrl-C."""

import datetime
import json
import os
import re
import shutil
import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import (DATA_DIR, read_rows, run_sluice, state_query, summary_rows, wait_for,
                      write_pipeline)

DS = "2026-11-21"
DS2 = "2026-11-22"
COMMANDS = ["run", "validate", "next", "backfill", "clear", "scheduler", "ui", "pause", "unpause",
            "crontab", "airflow", "runs", "status", "logs", "query", "import",
            "import-all-tables", "export"]

ORDERS = b"""id,customer,amount
1,alice,10.50
2,bob,20.00
3,alice,5.25
4,carol,-1.00
5,bob,4.75
"""
ORDERS_WITH_DUPLICATE = ORDERS + b"42,dave,1.00\n42,dave,2.00\n"

SHOP_PIPELINE = """
    pipeline: shop
    lake: ./lake
    warehouse: ./warehouse.duckdb
    state: ./.sluice
    tasks:
      - id: ingest
        kind: csv_import
        path: input_{{ ds_nodash }}.csv
        into: raw.orders
        columns:
          id: BIGINT
          customer: VARCHAR
          amount: DECIMAL(10,2)
        rejects: {max: 0}
      - id: clean
        kind: sql
        into: staging.orders
        sql: SELECT * FROM {{ ref('raw.orders') }} WHERE amount >= 0
      - id: check_orders
        kind: check
        dataset: staging.orders
        expect:
          - unique: id
          - row_count: {min: 1}
      - id: customers
        kind: sql
        after: [check_orders]
        into: marts.customers
        sql: >-
          SELECT customer, count(*) AS orders, sum(amount) AS total
          FROM {{ ref('staging.orders') }} GROUP BY customer ORDER BY customer
      - id: calendar
        kind: sql
        into: marts.calendar
        sql: SELECT DATE '{{ ds }}' AS day, '{{ var("team") }}' AS team
    vars:
      team: data
    """
SHOP_TASKS = ["ingest", "clean", "check_orders", "customers", "calendar"]


def shop(folder: Path, data: bytes = ORDERS, dates=(DS,)) -> Path:
    for d in dates:
        (folder / f"input_{d.replace('-', '')}.csv").write_bytes(data)
    return write_pipeline(folder, SHOP_PIPELINE)


def run_id_of(stdout: str) -> int:
    m = re.search(r"^run (\d+): pipeline", stdout, re.M)
    assert m, stdout
    return int(m.group(1))


# ---------------------------------------------------------------------------------------------
# validate


def diagnostics(stderr: str, name: str):
    """[(line, column, message)] from FILE:LINE:COLUMN: message lines."""
    out = []
    for line in stderr.splitlines():
        m = re.match(rf"^.*{re.escape(name)}:(\d+):(\d+): (.*)$", line)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    return out


def validate_broken(tmp_path):
    shutil.copy(DATA_DIR / "validate" / "broken_pipeline.yaml", tmp_path / "broken_pipeline.yaml")
    r = run_sluice("validate", tmp_path / "broken_pipeline.yaml", cwd=tmp_path)
    assert r.returncode == 2, str(r)
    return r, diagnostics(r.stderr, "broken_pipeline.yaml")


def reported(found, line, column, *words):
    return any(l == line and (column is None or c == column) and all(w in m for w in words)
               for l, c, m in found)


def test_validate_reports_every_mistake_with_line_and_column(tmp_path):
    """tests/data/validate/broken_pipeline.yaml marks each mistake with a comment."""
    r, found = validate_broken(tmp_path)
    assert "ok" not in r.stdout
    expected = [
        # (line, column, words in the message)
        (4, 11, ["schedule", "25", "hour"]),
        (6, 37, ["retry_delay", "10 seconds", "not a duration"]),
        (9, 52, ["password", "${env:NAME}"]),
        (13, 25, ["ds_nodahs", "did you mean 'ds_nodash'"]),
        (15, 5, ["rejetcs", "did you mean 'rejects'"]),
        (31, 17, ["connection 'warehouse'", "not defined"]),
    ]
    missing = [f"{l}:{c}: {' / '.join(words)}" for l, c, words in expected
               if not reported(found, l, c, *words)]
    # A cycle has no single place; any line of the two tasks will do.
    if not any(l in range(21, 29) and re.search(
            r"dependency cycle: (left -> right -> left|right -> left -> right)", m)
            for l, c, m in found):
        missing.append("21-28: dependency cycle: left -> right -> left")
    # The two reference mistakes are reported (their exact position has its own tests).
    if not any("ingets" in m and "not a task" in m for _, _, m in found):
        missing.append("after: [ingets]: not a task")
    if not any("raw.dta" in m and "no task produces" in m for _, _, m in found):
        missing.append("ref('raw.dta'): no task produces it")
    assert not missing, ("sluice validate did not report these at the right line:column:\n  "
                         + "\n  ".join(missing) + f"\nit reported:\n{r.stderr}")
    assert re.search(rf"^{len(found)} problems found$", r.stderr, re.M), r.stderr
    assert len(found) >= 9
    assert "hunter2" not in r.output, "the clear-text password must not be echoed"


def test_validate_points_at_the_after_entry_naming_a_missing_task(tmp_path):
    """`after: [ingets]` is on line 18 (the item at column 13), not at the task's `- id:`."""
    r, found = validate_broken(tmp_path)
    assert reported(found, 18, 13, "ingets", "not a task", "did you mean 'ingest'"), r.stderr


def test_validate_points_at_the_ref_to_an_unproduced_dataset(tmp_path):
    """`{{ ref('raw.dta') }}` starts at line 20, column 24, not at the task's `- id:`."""
    r, found = validate_broken(tmp_path)
    assert reported(found, 20, 24, "raw.dta", "no task produces", "raw.data"), r.stderr


def test_validate_ok_prints_the_task_graph(tmp_path):
    pipeline = shop(tmp_path)
    r = run_sluice("validate", pipeline, cwd=tmp_path, expect=0)
    assert "ok" in r.stdout and r.stderr == ""
    for t in SHOP_TASKS:
        assert t in r.stdout
    assert re.search(r"customers \(sql\) after check_orders", r.stdout), r.stdout


def test_validate_unknown_top_level_key_suggests_the_right_one(tmp_path):
    text = SHOP_PIPELINE.replace("    state: ./.sluice", "    stat: ./.sluice")
    write_pipeline(tmp_path, text)
    r = run_sluice("validate", tmp_path / "pipeline.yaml", cwd=tmp_path, expect=2)
    d = diagnostics(r.stderr, "pipeline.yaml")
    assert any(l == 4 and c == 1 and "'stat'" in m and "did you mean 'state'" in m
               for l, c, m in d), r.stderr


def secret_pipeline(folder: Path, password: str) -> Path:
    return write_pipeline(folder, f"""
        pipeline: secrets
        tasks:
          - id: hello
            kind: sql
            into: marts.hello
            sql: SELECT 1 AS one
        connections:
          dwh: {{type: postgres, host: 127.0.0.1, database: dwh, user: etl,
                password: "{password}"}}
        """)


def test_secret_file_readable_by_others_is_refused_with_chmod_fix(tmp_path):
    secret = tmp_path / "dwh.pass"
    secret.write_text("s3cr3t-value\n")
    secret.chmod(0o644)
    pipeline = secret_pipeline(tmp_path, "${file:dwh.pass}")
    r = run_sluice("validate", pipeline, cwd=tmp_path)
    assert r.returncode == 2, str(r)
    d = diagnostics(r.stderr, "pipeline.yaml")
    assert any(l == 9 and "chmod 600" in m and str(secret) in m for l, c, m in d), r.stderr
    assert "s3cr3t-value" not in r.output
    r = run_sluice("run", pipeline, "--date", DS, cwd=tmp_path)
    assert r.returncode == 2 and "chmod 600" in r.stderr, str(r)
    assert not (tmp_path / "lake" / "marts").exists()

    secret.chmod(0o640)  # group-readable is still refused
    assert run_sluice("validate", pipeline, cwd=tmp_path).returncode == 2

    secret.chmod(0o600)
    r = run_sluice("validate", pipeline, cwd=tmp_path, expect=0)
    assert "ok" in r.stdout
    assert "s3cr3t-value" not in r.output


def test_unset_env_secret_is_reported(tmp_path):
    pipeline = secret_pipeline(tmp_path, "${env:SLUICE_TEST_UNSET_PASSWORD}")
    os.environ.pop("SLUICE_TEST_UNSET_PASSWORD", None)
    r = run_sluice("validate", pipeline, cwd=tmp_path)
    assert r.returncode == 2, str(r)
    d = diagnostics(r.stderr, "pipeline.yaml")
    assert any(l == 9 and "SLUICE_TEST_UNSET_PASSWORD" in m and "not set" in m
               for l, c, m in d), r.stderr
    r = run_sluice("validate", pipeline, cwd=tmp_path,
                   env={"SLUICE_TEST_UNSET_PASSWORD": "pw-from-env"}, expect=0)
    assert "pw-from-env" not in r.output


# ---------------------------------------------------------------------------------------------
# exit codes and help


def test_exit_codes(tmp_path):
    pipeline = shop(tmp_path)
    assert run_sluice("run", pipeline, "--date", DS, cwd=tmp_path).returncode == 0
    # bad usage
    r = run_sluice("run", pipeline, "--date", "2026-13-01", cwd=tmp_path)
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr, str(r)
    r = run_sluice("run", pipeline, "--dat", DS, cwd=tmp_path)
    assert r.returncode == 2 and "did you mean --date" in r.stderr, str(r)
    r = run_sluice("frobnicate", cwd=tmp_path)
    assert r.returncode == 2, str(r)
    r = run_sluice("rn", cwd=tmp_path)
    assert r.returncode == 2 and "did you mean 'run'" in r.stderr, str(r)
    r = run_sluice("run", pipeline, "--date", DS, "--task", "nope", cwd=tmp_path)
    assert r.returncode == 2 and "no such task" in r.output, str(r)
    r = run_sluice("run", pipeline, "--date", DS, "--downstream", cwd=tmp_path)
    assert r.returncode == 2, str(r)
    r = run_sluice(cwd=tmp_path)
    assert r.returncode == 2 and "usage" in r.stderr, str(r)
    # invalid pipeline
    bad = write_pipeline(tmp_path, "pipeline: x\ntasks: []\n", name="bad.yaml")
    assert run_sluice("run", bad, "--date", DS, cwd=tmp_path).returncode == 2
    missing = tmp_path / "does_not_exist.yaml"
    r = run_sluice("validate", missing, cwd=tmp_path)
    assert r.returncode == 2 and "does not exist" in r.stderr, str(r)
    # a task failed
    (tmp_path / f"input_{DS2.replace('-', '')}.csv").write_bytes(b"id,customer,amount\nx,y,z\n")
    r = run_sluice("run", pipeline, "--date", DS2, cwd=tmp_path)
    assert r.returncode == 1, str(r)
    # version
    assert run_sluice("--version").returncode == 0


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_shows_an_example(command):
    r = run_sluice(command, "--help", expect=0)
    assert r.stdout.startswith("usage: sluice " + command), r.stdout
    assert "examples:" in r.stdout
    examples = r.stdout.split("examples:", 1)[1]
    assert re.search(rf"^\s+sluice {command} \S+", examples, re.M), r.stdout
    assert run_sluice("help", command, expect=0).stdout == r.stdout


def test_top_level_help_lists_every_command():
    r = run_sluice("--help", expect=0)
    for c in COMMANDS:
        assert re.search(rf"^\s+{c}\s+\S", r.stdout, re.M), r.stdout
    assert "exit codes" in r.stdout


# ---------------------------------------------------------------------------------------------
# runs, status, logs


def test_runs_status_logs_mention_the_tasks(tmp_path):
    pipeline = shop(tmp_path, dates=(DS, DS2))
    r = run_sluice("runs", pipeline, cwd=tmp_path, expect=0)
    assert "no runs" in r.stdout
    run = run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    run_id = run_id_of(run.stdout)
    # The 5 orders of ORDERS, all loaded.
    assert summary_rows(run.stdout)["ingest"] == {
        "status": "success", "attempts": 1, "read": 5, "loaded": 5, "rejected": 0}, run.stdout

    r = run_sluice("runs", pipeline, cwd=tmp_path, expect=0)
    assert re.search(rf"^{run_id}\s+{DS}\s+success\b", r.stdout, re.M), r.stdout
    run2 = run_id_of(run_sluice("run", pipeline, "--date", DS2, cwd=tmp_path, expect=0).stdout)
    r = run_sluice("runs", pipeline, "--date", DS2, cwd=tmp_path, expect=0)
    assert re.search(rf"^{run2}\s+{DS2}\s+success\b", r.stdout, re.M), r.stdout
    assert not re.search(rf"^\d+\s+{DS}\s", r.stdout, re.M), r.stdout

    r = run_sluice("status", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    for t in SHOP_TASKS:
        assert re.search(rf"^\s+{t}\s+success\s+{run_id}\s+1\b", r.stdout, re.M), r.stdout
    assert re.search(rf"^\s+ingest\s+success\s+{run_id}\s+1\s+5\s+5\s+0\s", r.stdout, re.M), \
        r.stdout
    # A model's read counts the rows of the partitions it refers to (5 ingested, 4 kept).
    assert re.search(rf"^\s+clean\s+success\s+{run_id}\s+1\s+5\s+4\s+0\s", r.stdout, re.M), \
        r.stdout
    assert re.search(rf"^\s+customers\s+success\s+{run_id}\s+1\s+4\s+2\s+0\s", r.stdout, re.M), \
        r.stdout

    r = run_sluice("logs", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    for t in SHOP_TASKS:
        assert re.search(rf"^==> {t} attempt 1 \(run {run_id}, success\)", r.stdout, re.M), \
            r.stdout
    log_dir = tmp_path / ".sluice" / "logs" / "shop" / DS / f"run-{run_id}"
    assert sorted(p.name for p in log_dir.glob("*.log")) == sorted(f"{t}.1.log"
                                                                    for t in SHOP_TASKS)
    r = run_sluice("logs", pipeline, "--date", DS, "--task", "ingest", cwd=tmp_path, expect=0)
    assert "==> ingest" in r.stdout and "==> clean" not in r.stdout
    # The task's own log, shown by `logs`, gives the same counts.
    assert re.search(r"^\S+ read 5 rows: 5 loaded, 0 rejected$", r.stdout, re.M), r.stdout
    assert re.search(rf"^\S+ published raw\.orders ds={DS}: 5 rows, ", r.stdout, re.M), r.stdout


# ---------------------------------------------------------------------------------------------
# query


def test_query_formats_table_csv_json(tmp_path):
    pipeline = shop(tmp_path)
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    sql = "SELECT customer, orders, total FROM marts.customers ORDER BY customer"

    r = run_sluice("query", "--pipeline", pipeline, "--date", DS, sql, cwd=tmp_path, expect=0)
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"\+-+\+-+\+-+\+", lines[0]), r.stdout
    assert re.fullmatch(r"\|\s*customer\s*\|\s*orders\s*\|\s*total\s*\|", lines[1]), r.stdout
    assert re.fullmatch(r"\|\s*alice\s*\|\s*2\s*\|\s*15\.75\s*\|", lines[3]), r.stdout
    assert lines[-1] == "2 rows"

    r = run_sluice("query", "--pipeline", pipeline, "--date", DS, "--format", "csv", sql,
                   cwd=tmp_path, expect=0)
    assert r.stdout == "customer,orders,total\nalice,2,15.75\nbob,2,24.75\n", r.stdout

    r = run_sluice("query", "--pipeline", pipeline, "--date", DS, "--format", "json", sql,
                   cwd=tmp_path, expect=0)
    rows = json.loads(r.stdout, parse_float=Decimal)
    assert rows == [{"customer": "alice", "orders": 2, "total": Decimal("15.75")},
                    {"customer": "bob", "orders": 2, "total": Decimal("24.75")}]
    assert isinstance(rows[0]["orders"], int)

    r = run_sluice("query", "--pipeline", pipeline, "--format", "xml", sql, cwd=tmp_path)
    assert r.returncode == 2, str(r)


def test_query_ref_and_partitions(tmp_path):
    pipeline = shop(tmp_path, dates=(DS, DS2))
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    run_sluice("run", pipeline, "--date", DS2, cwd=tmp_path, expect=0)

    # Without --date: every partition, with a ds column.
    rows = json.loads(run_sluice(
        "query", "--pipeline", pipeline, "--format", "json",
        "SELECT ds::VARCHAR AS ds, count(*) AS n FROM staging.orders GROUP BY ds ORDER BY ds",
        cwd=tmp_path, expect=0).stdout)
    assert rows == [{"ds": DS, "n": 4}, {"ds": DS2, "n": 4}]

    # With --date: that partition only; ref() works too.
    rows = json.loads(run_sluice(
        "query", "--pipeline", pipeline, "--date", DS2, "--format", "json",
        "SELECT count(*) AS n, min(day)::VARCHAR AS day FROM {{ ref('marts.calendar') }}",
        cwd=tmp_path, expect=0).stdout)
    assert rows == [{"n": 1, "day": DS2}]
    rows = json.loads(run_sluice(
        "query", "--pipeline", pipeline, "--date", DS, "--format", "json",
        "SELECT count(*) AS n FROM raw.orders", cwd=tmp_path, expect=0).stdout)
    assert rows == [{"n": 5}]


# ---------------------------------------------------------------------------------------------
# selection, vars, checks


def test_run_var_overrides_pipeline_vars(tmp_path):
    pipeline = shop(tmp_path)
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    lake = tmp_path / "lake"
    assert read_rows(lake, "marts.calendar", DS) == [(datetime.date(2026, 11, 21), "data")]
    run_sluice("run", pipeline, "--date", DS, "--task", "calendar", "--var", "team=ops",
               cwd=tmp_path, expect=0)
    assert read_rows(lake, "marts.calendar", DS) == [(datetime.date(2026, 11, 21), "ops")]
    r = run_sluice("run", pipeline, "--date", DS, "--var", "team", cwd=tmp_path)
    assert r.returncode == 2 and "NAME=VALUE" in r.stderr, str(r)


def test_task_with_downstream_runs_only_that_subgraph(tmp_path):
    pipeline = shop(tmp_path)
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    r = run_sluice("run", pipeline, "--date", DS, "--task", "clean", "--downstream",
                   cwd=tmp_path, expect=0)
    run_id = run_id_of(r.stdout)
    ran = state_query(tmp_path, "SELECT task_id FROM task_attempts WHERE run_id = ? "
                                "ORDER BY attempt_id", (run_id,))
    assert sorted(a["task_id"] for a in ran) == ["check_orders", "clean", "customers"]
    s = summary_rows(r.stdout)
    for t in ("clean", "check_orders", "customers"):
        assert s[t]["status"] == "success", r.stdout
    for t in ("ingest", "calendar"):
        assert (s[t]["status"], s[t]["attempts"]) == ("not_selected", 0), r.stdout

    # --task alone reruns just that task, even though it already succeeded.
    r = run_sluice("run", pipeline, "--date", DS, "--task", "calendar", cwd=tmp_path, expect=0)
    run_id = run_id_of(r.stdout)
    ran = state_query(tmp_path, "SELECT task_id FROM task_attempts WHERE run_id = ?", (run_id,))
    assert [a["task_id"] for a in ran] == ["calendar"]


def test_failing_check_names_duplicate_value_and_blocks_downstream(tmp_path):
    pipeline = shop(tmp_path, data=ORDERS_WITH_DUPLICATE)
    r = run_sluice("run", pipeline, "--date", DS, cwd=tmp_path)
    assert r.returncode == 1, str(r)
    s = summary_rows(r.stdout)
    assert s["check_orders"]["status"] == "failed", r.stdout
    assert s["customers"]["status"] == "upstream_failed", r.stdout
    assert s["calendar"]["status"] == "success", r.stdout
    assert re.search(r"unique\(id\).*'42'", r.stdout), r.stdout
    assert not (tmp_path / "lake" / "marts" / "customers").exists()
    rows = state_query(tmp_path, "SELECT status, error FROM runs")
    assert rows[-1]["status"] == "failed" and "check_orders" in rows[-1]["error"]


# ---------------------------------------------------------------------------------------------
# retries, timeouts, Ctrl-C


def test_retries_missing_file_fails_after_three_attempts(tmp_path):
    pipeline = write_pipeline(tmp_path, """
        pipeline: retry
        tasks:
          - id: ingest
            kind: csv_import
            path: incoming/missing_{{ ds_nodash }}.csv
            into: raw.things
            retries: 2
            retry_delay: 1s
        """)
    start = time.monotonic()
    r = run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, timeout=60)
    elapsed = time.monotonic() - start
    assert r.returncode == 1, str(r)
    missing = str(tmp_path / "incoming" / "missing_20261121.csv")
    assert missing in r.stdout, str(r)
    assert "does not exist" in r.stdout
    s = summary_rows(r.stdout)["ingest"]
    assert (s["status"], s["attempts"]) == ("failed", 3), r.stdout
    # Backoff 1s then 2s, each with jitter (between half and all of it): at least 1.5s.
    assert elapsed >= 1.45, f"3 attempts about 1s and 2s apart took only {elapsed:.1f}s"
    waits = re.findall(r"retrying in (\d+)(ms|s)\)", r.stdout)
    waits = [int(n) / (1000 if unit == "ms" else 1) for n, unit in waits]
    assert len(waits) == 2 and 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2, r.stdout
    st = run_sluice("status", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    assert re.search(r"^\s+ingest\s+failed\s+\d+\s+3\b", st.stdout, re.M), st.stdout
    assert missing in st.stdout
    attempts = state_query(tmp_path, "SELECT attempt, status FROM task_attempts ORDER BY attempt")
    assert attempts == [{"attempt": 1, "status": "failed"}, {"attempt": 2, "status": "failed"},
                        {"attempt": 3, "status": "failed"}]


SLOW_SQL = "SELECT count(*) AS n FROM range(1000000000000)"  # minutes of work


def slow_pipeline(folder: Path, timeout: str = None) -> Path:
    timeout_line = f"\n            timeout: {timeout}" if timeout else ""
    return write_pipeline(folder, f"""
        pipeline: slow
        tasks:
          - id: slow
            kind: sql
            into: marts.slow
            sql: {SLOW_SQL}
            retries: 0{timeout_line}
          - id: after_slow
            kind: sql
            into: marts.after_slow
            sql: SELECT * FROM {{{{ ref('marts.slow') }}}}
        """)


def test_timeout_stops_slow_query(tmp_path):
    pipeline = slow_pipeline(tmp_path, timeout="2s")
    start = time.monotonic()
    r = run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, timeout=60)
    elapsed = time.monotonic() - start
    assert r.returncode == 1, str(r)
    assert elapsed < 20, f"the run took {elapsed:.1f}s with a 2s timeout"
    assert elapsed >= 2
    s = summary_rows(r.stdout)
    assert s["slow"]["status"] == "timed_out", r.stdout
    assert s["after_slow"]["status"] == "upstream_failed", r.stdout
    assert "timed out after 2s" in r.stdout
    attempts = state_query(tmp_path, "SELECT status FROM task_attempts WHERE task_id = 'slow'")
    assert attempts == [{"status": "timed_out"}]
    assert state_query(tmp_path, "SELECT status FROM runs") == [{"status": "failed"}]
    assert not (tmp_path / "lake" / "marts" / "slow").exists()


def test_ctrl_c_cancels_run_with_exit_130(tmp_path, background):
    pipeline = slow_pipeline(tmp_path)
    proc = background("run", pipeline, "--date", DS, cwd=tmp_path)
    log = tmp_path / ".sluice" / "logs" / "slow" / DS / "run-1" / "slow.1.log"
    wait_for(lambda: log.exists() and "model SQL" in log.read_text(), 30,
             what="the slow query to start")
    time.sleep(0.5)
    assert proc.proc.poll() is None
    sent = time.monotonic()
    proc.proc.send_signal(signal.SIGINT)
    code = proc.wait(30)
    took = time.monotonic() - sent
    assert code == 130, f"exit {code}\n{proc.stdout()}\n{proc.stderr()}"
    assert took < 10, f"took {took:.1f}s to stop after Ctrl-C"
    runs = state_query(tmp_path, "SELECT status FROM runs")
    assert runs == [{"status": "cancelled"}]
    attempts = state_query(tmp_path, "SELECT task_id, status FROM task_attempts")
    assert attempts == [{"task_id": "slow", "status": "cancelled"}]
    assert not (tmp_path / "lake" / "marts" / "slow").exists()
    s = summary_rows(proc.stdout())
    assert s["slow"]["status"] == "cancelled" and s["after_slow"]["status"] == "cancelled"
