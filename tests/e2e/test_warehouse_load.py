"""Loads into the embedded DuckDB warehouse from tasks of one run at the same time: loads into
different tables do not wait for each other, loads into the same table take turns (so a
repeated append of one partition is still loaded once), and every table ends up complete."""

from __future__ import annotations

import re

import duckdb

from conftest import run_sluice, write_pipeline

DS = "2026-11-21"


def durations(output: str) -> dict:
    """Task -> seconds, from the run's '+ task success in 1.2s' lines."""
    return {m[1]: float(m[2]) for m in re.finditer(r"\+ (\w+) success in ([0-9.]+)s", output)}


def test_loads_into_different_tables_do_not_wait_for_each_other(tmp_path):
    # The first load to reach its commit stalls there for 6 s, holding its table. The other
    # load, into another table (and a new schema), finishes meanwhile.
    p = write_pipeline(tmp_path, """
        pipeline: parallel_loads
        tasks:
          - id: build
            kind: sql
            into: staging.nums
            sql: SELECT range AS id, 'n' || range AS name FROM range(50000)
          - id: load_a
            kind: db_load
            datasets: {staging.nums: public.nums_a}
            mode: append
          - id: load_b
            kind: db_load
            datasets: {staging.nums: other.nums_b}
            mode: replace
        """)
    r = run_sluice("run", p, "--date", DS, env={"SLUICE_FAULT": "stall:load.before_commit:6"},
                   expect=0)
    took = durations(r.stdout)
    assert sorted(took[t] >= 6 for t in ("load_a", "load_b")) == [False, True], r.stdout
    assert min(took["load_a"], took["load_b"]) < 4, r.stdout
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        for table in ("public.nums_a", "other.nums_b"):
            assert db.sql(f"SELECT count(*), count(DISTINCT id), sum(id) FROM {table}")\
                .fetchone() == (50000, 50000, 50000 * 49999 // 2), table
        assert db.sql("SELECT count(*) FROM main._sluice_loads").fetchone() == (2,)
    # Neither had to be done again alone after a conflict.
    logs = "".join(f.read_text() for f in (tmp_path / ".sluice" / "logs").rglob("load_*.log"))
    assert "conflicted with another load" not in logs, logs


def test_parallel_appends_of_one_partition_into_one_table_load_it_once(tmp_path):
    # Both tasks append the same partition to the same table: they take turns, and the second
    # finds the first's ledger row (even while the first stalls before its commit).
    p = write_pipeline(tmp_path, """
        pipeline: same_table
        tasks:
          - id: build
            kind: sql
            into: staging.nums
            sql: SELECT range AS id FROM range(1000)
          - id: load_a
            kind: db_load
            datasets: {staging.nums: public.nums}
            mode: append
          - id: load_b
            kind: db_load
            datasets: {staging.nums: public.nums}
            mode: append
        """)
    r = run_sluice("run", p, "--date", DS, env={"SLUICE_FAULT": "stall:load.before_commit:2"},
                   expect=0)
    logs = "".join(f.read_text() for f in (tmp_path / ".sluice" / "logs").rglob("load_*.log"))
    assert logs.count("was already appended to public.nums with the same checksum; skipped") \
        == 1, logs
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        assert db.sql("SELECT count(*), count(DISTINCT id) FROM public.nums").fetchone() == \
            (1000, 1000)


def test_an_append_under_another_spelling_of_the_table_is_still_loaded_once(tmp_path):
    # DuckDB's names are case-insensitive: public.NUMS is public.nums, so the ledger must find
    # the first append whatever the spelling.
    p = write_pipeline(tmp_path, """
        pipeline: spelling
        tasks:
          - id: build
            kind: sql
            into: staging.nums
            sql: SELECT range AS id FROM range(1000)
          - id: load_a
            kind: db_load
            datasets: {staging.nums: public.nums}
            mode: append
          - id: load_b
            kind: db_load
            after: [load_a]
            datasets: {staging.nums: Public.NUMS}
            mode: append
        """)
    run_sluice("run", p, "--date", DS, expect=0)
    logs = "".join(f.read_text() for f in (tmp_path / ".sluice" / "logs").rglob("load_b.*.log"))
    assert "was already appended to Public.NUMS with the same checksum; skipped" in logs, logs
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        assert db.sql("SELECT count(*) FROM public.nums").fetchone() == (1000,)


def test_a_load_checkpoints_the_warehouse_within_its_own_time(tmp_path):
    # DuckDB keeps a committed load in the warehouse's write-ahead log until a checkpoint; the
    # load runs it, so the work is counted in the task, not in the seconds after the run ends.
    p = write_pipeline(tmp_path, """
        pipeline: checkpoint
        tasks:
          - id: build
            kind: sql
            into: staging.nums
            sql: SELECT range AS id, 'n' || range AS name FROM range(300000)
          - id: load
            kind: db_load
            datasets: {staging.nums: public.nums}
            mode: replace
        """)
    run_sluice("run", p, "--date", DS, expect=0)
    log = "".join(f.read_text() for f in (tmp_path / ".sluice" / "logs").rglob("load.*.log"))
    assert re.search(r"checkpointed .*warehouse\.duckdb in [0-9.]+s", log), log
    assert log.index("checkpointed") > log.index("loaded staging.nums")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        assert db.sql("SELECT count(*) FROM public.nums").fetchone() == (300000,)
