"""Every wait has a deadline (issue: data loss, hangs and rough edges, items 10 and 14).

A server that stops answering (SIGSTOP: the kernel still accepts connections and acknowledges
data, so only a deadline on our side ends the wait) must not hang a run: the task ends as timed
out on time, other tasks' timeouts still fire, and the record says what happened, a commit that
went through after the deadline included. The session's PostgreSQL and MariaDB servers are
stopped for a few seconds and always resumed."""

import contextlib
import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from conftest import run_sluice, summary_rows, wait_for, write_pipeline

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "servers"))
from conftest_fixtures import mariadb_server, postgres_server  # noqa: E402,F401

DS = "2026-11-21"


def descendants(pid: int) -> list:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


@contextlib.contextmanager
def stopped(server):
    """The server and all its processes stopped (SIGSTOP) for the block, then resumed."""
    pids = descendants(server.server_pid())
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    try:
        yield
    finally:
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGCONT)


def attempts(folder: Path):
    con = sqlite3.connect(folder / ".sluice" / "state.db")
    try:
        return con.execute("SELECT task_id, status, error FROM task_attempts ORDER BY attempt_id"
                           ).fetchall()
    finally:
        con.close()


def pipeline(folder: Path, connection: str, table: str, load_timeout: str = "3s",
             extra_tasks: str = "") -> Path:
    text = (
        "pipeline: hangs\n"
        "defaults: {retries: 0}\n"
        "connections:\n"
        f"  dwh: {connection}\n"
        "tasks:\n"
        "  - id: make\n"
        "    kind: sql\n"
        "    into: marts.items\n"
        f"    sql: SELECT 1 AS id, '{table}' AS name\n"
        "  - id: load\n"
        "    kind: db_load\n"
        "    connection: dwh\n"
        f"    datasets: {{marts.items: {table}}}\n"
        "    mode: append\n"
        f"    timeout: {load_timeout}\n" + extra_tasks)
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path


def pg_connection(pg) -> str:
    return (f'{{type: postgres, host: 127.0.0.1, port: {pg.port}, database: sluice_test, '
            f'user: etl, password: "${{env:DWH_PASSWORD}}", connect_timeout: 30s}}')


def my_connection(db) -> str:
    return (f'{{type: mysql, host: 127.0.0.1, port: {db.port}, database: shop, user: etl, '
            f'password: "${{env:DWH_PASSWORD}}", connect_timeout: 30s}}')


SLOW_SQL_TASK = (
    "  - id: slow\n"
    "    kind: sql\n"
    "    into: marts.slow\n"
    "    sql: SELECT count(*) AS n FROM range(100000000000) t(i) WHERE i % 7 = 3\n"
    "    timeout: 3s\n")


@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
def test_server_stopped_before_connect_times_out_on_time(tmp_path, kind, postgres_server,
                                                         mariadb_server):
    server = postgres_server if kind == "postgres" else mariadb_server
    conn = pg_connection(server) if kind == "postgres" else my_connection(server)
    p = pipeline(tmp_path, conn, f"hang_connect_{kind}", extra_tasks=SLOW_SQL_TASK)
    with stopped(server):
        start = time.monotonic()
        r = run_sluice("run", p, "--date", DS, cwd=tmp_path, env={"DWH_PASSWORD": "etl"},
                       timeout=60)
        took = time.monotonic() - start
    assert r.returncode == 1, str(r)
    rows = summary_rows(r.stdout)
    assert rows["load"]["status"] == "timed_out", r.stdout
    assert rows["slow"]["status"] == "timed_out", "another task's timeout must still fire"
    assert took < 3 + 5, f"took {took:.1f}s; the timeout is 3s and connect_timeout 30s\n{r}"


def test_postgres_stopped_during_commit_ends_on_time_and_says_so(tmp_path, postgres_server):
    """A COMMIT sent to a server that then stops: the attempt ends on time, and since nobody can
    know yet whether the server will commit it, the record says so; the ledger tells later."""
    pg = postgres_server
    pg.sql("DROP TABLE IF EXISTS hang_commit; CREATE TABLE hang_commit (id integer, name text)")
    p = pipeline(tmp_path, pg_connection(pg), "hang_commit")
    b = _start(tmp_path, p, "stop:load.before_commit")
    try:
        wait_for(lambda: "stopped at load.before_commit" in b.stderr(), 60, what="the fault")
        wait_for(lambda: _state(b.proc.pid) == "T", 10, what="sluice to stop")
        with stopped(pg):
            os.kill(b.proc.pid, signal.SIGCONT)
            start = time.monotonic()
            code = b.wait(60)
            took = time.monotonic() - start
        assert code == 1, b.stdout()
        assert took < 15, f"took {took:.1f}s after the server stopped answering\n{b.stdout()}"
        (load,) = [a for a in attempts(tmp_path) if a[0] == "load"]
        assert load[1] == "timed_out", load
        assert "timed out after 3s" in load[2] and "outcome is unknown" in load[2], load
        # Once the server runs again, the table and the ledger agree.
        wait_for(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name "
                                "= 'sluice'") == [("0",)], 20, what="the load's backend to end")
        rows = pg.sql("SELECT count(*) FROM hang_commit")[0][0]
        ledger = pg.sql("SELECT count(*) FROM public._sluice_loads WHERE target = 'hang_commit'")
        assert ledger == [(rows,)], (rows, ledger)
    finally:
        b.close()


def test_commit_that_goes_through_after_the_timeout_is_recorded_as_success(tmp_path,
                                                                          postgres_server):
    """The lease at COMMIT: a timeout that fires while the commit runs stops the attempt, but
    the record is what the commit did. Here a deferred trigger makes COMMIT take 4s and
    swallows the cancel, so the commit goes through after the 2s timeout."""
    pg = postgres_server
    pg.sql("""
        DROP TABLE IF EXISTS hang_slow_commit;
        CREATE TABLE hang_slow_commit (id integer, name text);
        CREATE OR REPLACE FUNCTION hang_slow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          BEGIN
            PERFORM pg_sleep(4);
          EXCEPTION WHEN query_canceled THEN
            PERFORM pg_sleep(1);
          END;
          RETURN NULL;
        END $$;
        CREATE CONSTRAINT TRIGGER hang_slow AFTER INSERT ON hang_slow_commit
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hang_slow();
    """)
    try:
        p = pipeline(tmp_path, pg_connection(pg), "hang_slow_commit", load_timeout="2s")
        r = run_sluice("run", p, "--date", DS, cwd=tmp_path, env={"DWH_PASSWORD": "etl"},
                       timeout=60)
        assert pg.sql("SELECT count(*) FROM hang_slow_commit") == [("1",)], "the commit went through"
        assert r.returncode == 0, str(r)
        assert summary_rows(r.stdout)["load"]["status"] == "success", r.stdout
        (load,) = [a for a in attempts(tmp_path) if a[0] == "load"]
        assert load[1] == "success", load
        log = next((tmp_path / ".sluice" / "logs").rglob("load.1.log")).read_text()
        assert "timed out after 2s while committing" in log, log
    finally:
        pg.sql("DROP TABLE IF EXISTS hang_slow_commit; DROP FUNCTION IF EXISTS hang_slow()")


def test_mariadb_stopped_during_commit_ends_on_time_and_says_so(tmp_path, mariadb_server):
    db = mariadb_server
    db.sql("DROP TABLE IF EXISTS hang_commit; CREATE TABLE hang_commit (id int, name longtext)",
           database="shop")
    p = pipeline(tmp_path, my_connection(db), "hang_commit")
    b = _start(tmp_path, p, "stop:load.before_commit")
    try:
        wait_for(lambda: "stopped at load.before_commit" in b.stderr(), 60, what="the fault")
        wait_for(lambda: _state(b.proc.pid) == "T", 10, what="sluice to stop")
        with stopped(db):
            os.kill(b.proc.pid, signal.SIGCONT)
            start = time.monotonic()
            code = b.wait(60)
            took = time.monotonic() - start
        assert code == 1, b.stdout()
        assert took < 15, f"took {took:.1f}s after the server stopped answering\n{b.stdout()}"
        (load,) = [a for a in attempts(tmp_path) if a[0] == "load"]
        assert load[1] == "timed_out", load
        assert "outcome is unknown" in load[2], load
        time.sleep(1)
        rows = db.sql("SELECT count(*) FROM hang_commit", database="shop")[0][0]
        ledger = db.sql("SELECT count(*) FROM _sluice_loads WHERE target = 'hang_commit'",
                        database="shop")
        assert ledger == [(rows,)], (rows, ledger)
    finally:
        b.close()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def _start(folder: Path, pipeline_file: Path, fault: str):
    from conftest import Background
    return Background("run", pipeline_file, "--date", DS, cwd=folder,
                      env={"SLUICE_FAULT": fault, "DWH_PASSWORD": "etl"})
