"""SIGKILL at every step of writing and publishing a partition, then recovery at the next
start: a partition is always the complete old one or the complete new one, its manifest
matches its files, no staging or trash is left, the journal is empty, the killed run is
marked failed, and a normal re-run gives what a fresh run gives."""

import os
import signal
from pathlib import Path

import duckdb
import pytest

from conftest import (run_gen, assert_manifest_matches_files, assert_no_leftovers, lake_leftovers,
                      partition_dir,
                      read_rows, rows_checksum, run_sluice, state_query,
                      summary_rows, wait_for, write_pipeline)

DS = "2026-11-21"

# Points in the order the code reaches them; the rename is where new data becomes visible.
PUBLISH_POINTS = ["publish.before_journal", "publish.after_journal", "publish.after_move_aside",
                  "publish.after_rename"]
POINTS = ["write.after_data"] + PUBLISH_POINTS
NEW_AFTER = {"publish.after_rename"}
# The journal's step for the partition being published when the kill lands at a point (none
# before the journal entry is written).
JOURNAL_STEP = {"publish.after_journal": "begun", "publish.after_move_aside": "moved_aside",
                "publish.after_rename": "renamed"}

OLD_ROWS = [(1, "old-a"), (2, "old-b"), (3, "old-c"), (4, "old-d"), (5, "old-e")]
NEW_ROWS = [(1, "new-a"), (2, "new-b"), (3, "new-c"), (10, "new-x"), (11, "new-y"),
            (12, "new-z"), (13, "new-w")]
# csv_import inputs also carry bad rows, so that the rejects partition differs too.
OLD_BAD = [b"x,bad-old"]
NEW_BAD = [b"y,bad-new", b"7"]


def csv_bytes(rows, bad=()):
    lines = [b"id,name"] + [f"{i},{n}".encode() for i, n in rows] + list(bad)
    return b"\n".join(lines) + b"\n"


def sql_pipeline(folder: Path) -> Path:
    return write_pipeline(folder, f"""
        pipeline: crash_sql
        lake: ./lake
        warehouse: ./warehouse.duckdb
        state: ./.sluice
        tasks:
          - id: build
            kind: sql
            into: staging.items
            sql: >-
              SELECT * FROM read_csv('{folder}/input.csv', header = true, auto_detect = false,
              columns = {{'id': 'BIGINT', 'name': 'VARCHAR'}})
        """)


def csv_pipeline(folder: Path) -> Path:
    return write_pipeline(folder, """
        pipeline: crash_csv
        lake: ./lake
        warehouse: ./warehouse.duckdb
        state: ./.sluice
        tasks:
          - id: ingest
            kind: csv_import
            path: input.csv
            into: raw.items
            columns: {id: BIGINT, name: VARCHAR}
            rejects: {max: 10}
        """)


def reject_lines(lake, ds=DS):
    return sorted({r[1] for r in read_rows(lake, "rejects.raw_items", ds)})


def run_killed(folder: Path, pipeline: Path, point: str, *extra):
    r = run_sluice("run", pipeline, "--date", DS, "--force", *extra, cwd=folder,
                   env={"SLUICE_FAULT": f"kill:{point}"})
    assert r.returncode == -signal.SIGKILL, f"sluice must die by SIGKILL at {point}\n{r}"
    assert f"killed at fault point {point}" in r.stderr, str(r)
    return r


def assert_crash_left_work_behind(lake: Path, point: str):
    """Before recovery the crash has left its work in _staging or _trash (so the later
    'no leftovers' check proves that recovery cleaned up)."""
    left = [p for sub in ("_staging", "_trash") if (lake / sub).exists()
            for p in (lake / sub).rglob("*") if p.is_file()]
    assert left, f"a kill at {point} left nothing in _staging or _trash"


def killed_run_id(folder: Path) -> int:
    return state_query(folder, "SELECT max(run_id) AS id FROM runs")[0]["id"]


def assert_recovered(folder: Path, run_id: int):
    """The state after recovery: no leftovers, empty journal, the killed run failed."""
    assert_no_leftovers(folder / "lake")
    assert state_query(folder, "SELECT * FROM publish_journal") == []
    run = state_query(folder, "SELECT status, error FROM runs WHERE run_id = ?", (run_id,))[0]
    assert run["status"] == "failed", run
    assert run["error"], run
    attempts = state_query(folder, "SELECT status FROM task_attempts WHERE run_id = ?", (run_id,))
    assert attempts and all(a["status"] != "running" for a in attempts), attempts


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Checksums of fresh runs on the new inputs, to compare recovered re-runs with."""
    out = {}
    folder = tmp_path_factory.mktemp("fresh_sql")
    (folder / "input.csv").write_bytes(csv_bytes(NEW_ROWS))
    run_sluice("run", sql_pipeline(folder), "--date", DS, cwd=folder, expect=0)
    out["sql"] = rows_checksum(folder / "lake", "staging.items", DS)
    folder = tmp_path_factory.mktemp("fresh_csv")
    (folder / "input.csv").write_bytes(csv_bytes(NEW_ROWS, NEW_BAD))
    run_sluice("run", csv_pipeline(folder), "--date", DS, cwd=folder, expect=0)
    out["csv"] = rows_checksum(folder / "lake", "raw.items", DS)
    out["csv_rejects"] = rows_checksum(folder / "lake", "rejects.raw_items", DS,
                                      exclude=["file"])  # the file's path differs
    return out


@pytest.mark.parametrize("point", POINTS)
def test_sql_task_killed_at(point, tmp_path, fresh):
    lake = tmp_path / "lake"
    pipeline = sql_pipeline(tmp_path)
    (tmp_path / "input.csv").write_bytes(csv_bytes(OLD_ROWS))
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    assert read_rows(lake, "staging.items", DS, order_by="id") == OLD_ROWS

    (tmp_path / "input.csv").write_bytes(csv_bytes(NEW_ROWS))
    run_killed(tmp_path, pipeline, point)
    assert_crash_left_work_behind(lake, point)
    run_id = killed_run_id(tmp_path)
    assert state_query(tmp_path, "SELECT status FROM runs WHERE run_id = ?",
                       (run_id,)) == [{"status": "running"}], "the crash itself cannot end the run"
    journal = state_query(tmp_path, "SELECT dataset, partition, step FROM publish_journal")
    assert journal == ([{"dataset": "staging.items", "partition": f"ds={DS}",
                         "step": JOURNAL_STEP[point]}] if point in JOURNAL_STEP else []), (
        f"the journal must say how far the publish got before the kill at {point}")

    r = run_sluice("status", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    expected = NEW_ROWS if point in NEW_AFTER else OLD_ROWS
    got = read_rows(lake, "staging.items", DS, order_by="id")
    assert got == expected, (f"after a crash at {point} the partition must be the "
                             f"{'new' if point in NEW_AFTER else 'old'} one\n{r}")
    assert_manifest_matches_files(lake, "staging.items", DS)
    assert_recovered(tmp_path, run_id)

    r = run_sluice("run", pipeline, "--date", DS, "--force", cwd=tmp_path, expect=0)
    assert read_rows(lake, "staging.items", DS, order_by="id") == NEW_ROWS
    assert rows_checksum(lake, "staging.items", DS) == fresh["sql"]
    assert_manifest_matches_files(lake, "staging.items", DS)
    assert_no_leftovers(lake)


@pytest.mark.parametrize("point", POINTS)
def test_csv_import_killed_at(point, tmp_path, fresh):
    """csv_import publishes its rejects first and its rows second, so a kill inside the first
    publish decides the rejects partition; the rows partition is still the old one."""
    lake = tmp_path / "lake"
    pipeline = csv_pipeline(tmp_path)
    old = csv_bytes(OLD_ROWS, OLD_BAD)
    new = csv_bytes(NEW_ROWS, NEW_BAD)
    (tmp_path / "input.csv").write_bytes(old)
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    old_rejects = reject_lines(lake)
    assert old_rejects == [7]

    (tmp_path / "input.csv").write_bytes(new)
    run_killed(tmp_path, pipeline, point)
    assert_crash_left_work_behind(lake, point)
    run_id = killed_run_id(tmp_path)

    run_sluice("status", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    assert read_rows(lake, "raw.items", DS, order_by="id") == OLD_ROWS
    want_rejects = [9, 10] if point in NEW_AFTER else old_rejects
    assert reject_lines(lake) == want_rejects, f"crash at {point}"
    for d in ("raw.items", "rejects.raw_items"):
        assert_manifest_matches_files(lake, d, DS)
    assert_recovered(tmp_path, run_id)

    run_sluice("run", pipeline, "--date", DS, "--force", cwd=tmp_path, expect=0)
    assert rows_checksum(lake, "raw.items", DS) == fresh["csv"]
    assert rows_checksum(lake, "rejects.raw_items", DS, exclude=["file"]) == fresh["csv_rejects"]
    assert_no_leftovers(lake)


def test_recovery_runs_at_start_of_any_pipeline_command(tmp_path):
    """`sluice runs` (not only status or run) finishes an interrupted publish."""
    lake = tmp_path / "lake"
    pipeline = sql_pipeline(tmp_path)
    (tmp_path / "input.csv").write_bytes(csv_bytes(OLD_ROWS))
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    (tmp_path / "input.csv").write_bytes(csv_bytes(NEW_ROWS))
    run_killed(tmp_path, pipeline, "publish.after_move_aside")
    # Killed between moving the old partition aside and renaming the new one in: no partition
    # is in place right now.
    assert not (partition_dir(lake, "staging.items", DS) / "_SUCCESS").exists()
    run_id = killed_run_id(tmp_path)
    r = run_sluice("runs", pipeline, cwd=tmp_path, expect=0)
    assert "recovered" in r.stderr, str(r)
    assert read_rows(lake, "staging.items", DS, order_by="id") == OLD_ROWS
    assert_recovered(tmp_path, run_id)


def test_staging_and_trash_hold_nothing_after_run_and_recovery(tmp_path):
    """Not even empty folders are left in _staging or _trash, after a normal run and after
    the recovery of a crash."""
    lake = tmp_path / "lake"
    pipeline = sql_pipeline(tmp_path)
    (tmp_path / "input.csv").write_bytes(csv_bytes(OLD_ROWS))
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    assert lake_leftovers(lake, strict=True) == [], "after a run"
    (tmp_path / "input.csv").write_bytes(csv_bytes(NEW_ROWS))
    run_killed(tmp_path, pipeline, "publish.after_move_aside")
    run_sluice("status", pipeline, cwd=tmp_path, expect=0)
    assert lake_leftovers(lake, strict=True) == [], "after a recovery"


# ---------------------------------------------------------------------------------------------
# An external SIGKILL while a large CSV is being written.

BIG_ROWS = 1_500_000
CITIZEN_COLUMNS = "".join(
    f"\n              {name}: {typ}" for name, typ in [
        ("citizen_id", "BIGINT"), ("first_name", "VARCHAR"), ("last_name", "VARCHAR"),
        ("gender", "VARCHAR"), ("birth_date", "DATE"), ("email", "VARCHAR"),
        ("phone", "VARCHAR"), ("street", "VARCHAR"), ("city", "VARCHAR"), ("region", "VARCHAR"),
        ("postal_code", "VARCHAR"), ("occupation", "VARCHAR"),
        ("annual_income", "DECIMAL(12,2)"), ("registered_at", "TIMESTAMP"),
        ("updated_at", "TIMESTAMP")])
DUCK_COLUMNS = ("{'citizen_id': 'BIGINT', 'first_name': 'VARCHAR', 'last_name': 'VARCHAR', "
                "'gender': 'VARCHAR', 'birth_date': 'DATE', 'email': 'VARCHAR', "
                "'phone': 'VARCHAR', 'street': 'VARCHAR', 'city': 'VARCHAR', "
                "'region': 'VARCHAR', 'postal_code': 'VARCHAR', 'occupation': 'VARCHAR', "
                "'annual_income': 'DECIMAL(12,2)', 'registered_at': 'TIMESTAMP', "
                "'updated_at': 'TIMESTAMP'}")


@pytest.fixture(scope="session")
def big_csv(tmp_path_factory):
    """A ~260 MB citizens CSV without malformed rows, generated once per session."""
    folder = tmp_path_factory.mktemp("big")
    path = folder / "citizens_big.csv"
    run_gen("citizens", "--rows", BIG_ROWS, "--malformed", "0", "--seed", "5",
            "--out", path, expect=0, timeout=120)
    return path


def citizens_pipeline(folder: Path) -> Path:
    return write_pipeline(folder, f"""
        pipeline: crash_big
        lake: ./lake
        state: ./.sluice
        tasks:
          - id: ingest
            kind: csv_import
            path: input.csv
            into: raw.citizens
            columns: {CITIZEN_COLUMNS}
            rejects: {{max: 0}}
        """)


def test_external_sigkill_while_writing_large_csv(tmp_path, big_csv, background):
    lake = tmp_path / "lake"
    pipeline = citizens_pipeline(tmp_path)
    small = tmp_path / "small.csv"
    run_gen("citizens", "--rows", 1000, "--malformed", "0", "--seed", "1",
            "--out", small, expect=0)
    (tmp_path / "input.csv").symlink_to(small)
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    old_sum = rows_checksum(lake, "raw.citizens", DS)
    assert old_sum[0] == 1000

    (tmp_path / "input.csv").unlink()
    (tmp_path / "input.csv").symlink_to(big_csv)
    proc = background("run", pipeline, "--date", DS, "--force", cwd=tmp_path)

    def staging_file():
        d = lake / "_staging"
        return d.exists() and any(p.is_file() for p in d.rglob("*"))

    wait_for(lambda: staging_file() or proc.proc.poll() is not None, 60, interval=0.01,
             what="a file under lake/_staging")
    assert proc.proc.poll() is None, (f"the run ended before it could be killed:\n"
                                      f"{proc.stdout()}\n{proc.stderr()}")
    os.kill(proc.proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    assert_crash_left_work_behind(lake, "external SIGKILL")
    run_id = killed_run_id(tmp_path)

    run_sluice("status", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    assert rows_checksum(lake, "raw.citizens", DS) == old_sum, "the old partition must survive"
    assert_manifest_matches_files(lake, "raw.citizens", DS)
    assert_recovered(tmp_path, run_id)

    r = run_sluice("run", pipeline, "--date", DS, "--force", cwd=tmp_path, expect=0, timeout=180)
    s = summary_rows(r.stdout)["ingest"]
    assert (s["read"], s["loaded"], s["rejected"]) == (BIG_ROWS, BIG_ROWS, 0), r.stdout
    m = assert_manifest_matches_files(lake, "raw.citizens", DS, check_crc=False)
    assert m["rows"] == BIG_ROWS
    con = duckdb.connect()
    want = con.execute(
        f"SELECT count(*), coalesce(sum(hash(t::VARCHAR)), 0) FROM read_csv('{big_csv}', "
        f"header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
        f"columns = {DUCK_COLUMNS}) t").fetchone()
    assert rows_checksum(lake, "raw.citizens", DS) == want
    assert_no_leftovers(lake)


# ---------------------------------------------------------------------------------------------
# db_load: a kill before the warehouse transaction commits leaves the table as it was.


def load_pipeline(folder: Path, mode: str) -> Path:
    key = "\n            key: [id]" if mode == "merge" else ""
    return write_pipeline(folder, f"""
        pipeline: crash_load
        lake: ./lake
        warehouse: ./warehouse.duckdb
        state: ./.sluice
        tasks:
          - id: build
            kind: sql
            into: staging.items
            sql: >-
              SELECT * FROM read_csv('{folder}/input.csv', header = true, auto_detect = false,
              columns = {{'id': 'BIGINT', 'name': 'VARCHAR'}})
          - id: load
            kind: db_load
            datasets: {{staging.items: dwh.items}}
            mode: {mode}{key}
        """)


def warehouse_rows(folder: Path):
    con = duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("SELECT id, name FROM dwh.items ORDER BY id").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("mode", ["replace", "merge"])
def test_db_load_killed_before_commit_leaves_warehouse_unchanged(mode, tmp_path):
    pipeline = load_pipeline(tmp_path, mode)
    (tmp_path / "input.csv").write_bytes(csv_bytes(OLD_ROWS))
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    assert warehouse_rows(tmp_path) == OLD_ROWS

    (tmp_path / "input.csv").write_bytes(csv_bytes(NEW_ROWS))
    run_killed(tmp_path, pipeline, "load.before_commit")
    run_id = killed_run_id(tmp_path)
    r = run_sluice("query", "--pipeline", pipeline, "--format", "csv",
                   "SELECT id, name FROM warehouse.dwh.items ORDER BY id", cwd=tmp_path, expect=0)
    assert r.stdout.splitlines()[1:] == [f"{i},{n}" for i, n in OLD_ROWS], str(r)
    assert warehouse_rows(tmp_path) == OLD_ROWS
    assert_recovered(tmp_path, run_id)

    run_sluice("run", pipeline, "--date", DS, "--force", cwd=tmp_path, expect=0)
    if mode == "replace":
        want = NEW_ROWS
    else:  # merge on id: new rows win, old ids absent from the new data stay
        merged = dict(OLD_ROWS)
        merged.update(dict(NEW_ROWS))
        want = sorted(merged.items())
    assert warehouse_rows(tmp_path) == want
