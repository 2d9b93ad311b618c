"""`sluice airflow` checked by a real Airflow 3.3.2 (installed from PyPI by the harness,
tests/e2e/airflow_harness.py): the generated DAG imports cleanly, `airflow dags test` runs it
through sluice into sluice's state store and lake, a failing sluice task fails its Airflow
task and stops what is downstream, its data intervals are sluice's (and differ on the DST
nights exactly as documented), and the run key is the local date, not Airflow's UTC ds (and,
for schedules that fire several times a day, exactly sluice's run key).

Airflow needs no network here once installed; ensure_airflow() raises (never skips) when it
cannot be installed. Each `dags test` costs about 10 s on a 2-core machine, so the module runs
three of them, each DAG in its own folder (dags test parses every file of its folder)."""

import datetime as dt
import json
import re
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest

from airflow_harness import (CLI_TIMEOUT, _env_for_dags, dag_ids, dags_test, ensure_airflow,
                             import_errors, next_intervals)
from conftest import query_json, run_sluice, sluice_bin, state_query, write_pipeline

UTC = dt.timezone.utc


# ---------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(scope="module")
def airflow_venv():
    """The Airflow venv, installed once for the module (instant when it is current)."""
    return ensure_airflow()


def instant(iso: str) -> dt.datetime:
    """An ISO 8601 time with an offset ("Z" too) as an aware UTC datetime."""
    t = dt.datetime.fromisoformat(iso)
    assert t.tzinfo is not None, f"{iso} has no UTC offset"
    return t.astimezone(UTC)


def generate_dag(pipeline: Path, dags_dir: Path) -> Path:
    """Runs `sluice airflow PIPELINE --out DAGS_DIR/` and returns the DAG file it wrote."""
    dags_dir.mkdir(parents=True, exist_ok=True)
    before = set(dags_dir.glob("*.py"))
    r = run_sluice("airflow", pipeline, "--out", f"{dags_dir}/", "--sluice", sluice_bin(),
                   expect=0)
    written = sorted(set(dags_dir.glob("*.py")) - before)
    assert len(written) == 1, f"expected one new DAG file in {dags_dir}, got {written}\n{r}"
    return written[0]


def dag_details(dags_dir: Path) -> dict:
    """What Airflow's DagBag reads from the DAG files of dags_dir, after the serialization round
    trip the DAG processor does: {dag_id: {timetable, timezone, start_date, catchup,
    max_active_runs, tasks: {task_id: {upstream, retries, pool, execution_timeout, command}}}}.
    Runs in the Airflow venv, with the harness's private home for that folder."""
    script = textwrap.dedent("""
        import json, sys
        from airflow.dag_processing.dagbag import DagBag
        from airflow.serialization.serialized_objects import DagSerialization

        bag = DagBag(dag_folder=sys.argv[1])
        if bag.import_errors:
            sys.exit("import errors: " + json.dumps(bag.import_errors))
        out = {}
        for dag_id, sdk_dag in sorted(bag.dags.items()):
            dag = DagSerialization.from_dict(DagSerialization.to_dict(sdk_dag))
            tt = dag.timetable
            delta = getattr(tt, "_delta", None)
            out[dag_id] = {
                "timetable": type(tt).__name__,
                "expression": getattr(tt, "_expression", None),
                "timetable_timezone": str(getattr(tt, "_timezone", None) or ""),
                "delta_seconds": delta.total_seconds() if delta is not None else None,
                "timezone": dag.timezone.name,
                "start_date": dag.start_date.isoformat() if dag.start_date else None,
                "catchup": dag.catchup,
                "max_active_runs": dag.max_active_runs,
                "tasks": {t.task_id: {
                    "upstream": sorted(t.upstream_task_ids),
                    "retries": t.retries,
                    "pool": t.pool,
                    "execution_timeout": (t.execution_timeout.total_seconds()
                                          if t.execution_timeout else None),
                    "command": getattr(t, "bash_command", None),
                } for t in dag.tasks},
            }
        print(json.dumps(out))
    """)
    venv = ensure_airflow()
    try:
        p = subprocess.run([str(venv / "bin" / "python"), "-c", script, str(dags_dir.resolve())],
                           env=_env_for_dags(dags_dir), capture_output=True, text=True,
                           timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading the DAGs of {dags_dir} with DagBag took over {CLI_TIMEOUT}s")
    assert p.returncode == 0, f"DagBag on {dags_dir} failed\n{p.stdout}\n{p.stderr[-4000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def airflow_rows(dags_dir: Path, sql: str, params=()) -> list:
    """Rows of the Airflow metadata database that `dags test` of a DAG in dags_dir wrote to (the
    harness gives each DAGs folder its own home)."""
    db = Path(_env_for_dags(dags_dir)["AIRFLOW_HOME"]) / "airflow.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params).fetchall()]
    finally:
        con.close()


def airflow_utc(stored: str) -> dt.datetime:
    """A timestamp from Airflow's SQLite database ("2026-11-21 01:00:00.000000", UTC)."""
    return dt.datetime.fromisoformat(stored).replace(tzinfo=UTC)


def sluice_intervals(pipeline: Path, after: str, n: int) -> list:
    """[(start, end)] of the first n runs `sluice next` lists after the instant after."""
    r = run_sluice("next", pipeline, "--from", after, "-n", n, "--format", "json", expect=0)
    return [(instant(x["interval_start"]), instant(x["interval_end"]))
            for x in json.loads(r.stdout)["runs"]]


def airflow_intervals(dag_file: Path, dag_id: str, after: str, n: int) -> list:
    return [(instant(s), instant(e)) for s, e in next_intervals(dag_file, dag_id, n, after)]


def show(iv) -> str:
    return "-" if iv is None else f"[{iv[0].isoformat()}, {iv[1].isoformat()})"


def runs_of(folder: Path, pipeline: str) -> list:
    return state_query(folder, "SELECT run_id, ds, run_key, status, trigger, interval_start, "
                               "interval_end FROM runs WHERE pipeline = ? ORDER BY run_id",
                       (pipeline,))


def attempts_of(folder: Path, pipeline: str) -> list:
    return state_query(folder, "SELECT run_id, ds, task_id, attempt, status, error FROM "
                               "task_attempts WHERE pipeline = ? ORDER BY attempt_id",
                       (pipeline,))


# ---------------------------------------------------------------------------------------------
# 1. A 3-task pipeline: imports, runs one interval through sluice, has the pipeline's graph

ORDERS = """
    pipeline: af_orders
    schedule: "0 2 * * *"
    timezone: Europe/Berlin
    start_date: 2026-11-01
    defaults: {retries: 1, retry_delay: 1s, max_retry_delay: 1m, timeout: 5m}
    pools: {db: 1}
    tasks:
      - id: ingest
        kind: csv_import
        path: incoming/orders_{{ ds_nodash }}.csv
        into: raw.orders
        columns: {order_id: BIGINT, customer: VARCHAR, amount: "DECIMAL(12,2)"}
      - id: totals
        kind: sql
        into: marts.totals
        pool: db
        timeout: 2m
        sql: SELECT count(*) AS orders, sum(amount) AS total FROM {{ ref('raw.orders') }}
      - id: check_totals
        kind: check
        dataset: marts.totals
        expect:
          - row_count: {min: 1, max: 1}
          - name: total_is_the_csvs
            sql: SELECT total FROM {{ ref('marts.totals') }} WHERE total <> 60.00
    """
# The sluice settings of each task, as ORDERS says: (timeout, retries, max_retry_delay).
ORDERS_TASKS = {"ingest": (300, 1, 60), "totals": (120, 1, 60), "check_totals": (300, 1, 60)}


@pytest.fixture(scope="module")
def orders(tmp_path_factory, airflow_venv):
    """The ORDERS pipeline with the CSV of ds 2026-11-21 and its generated DAG, alone in its
    DAGs folder."""
    folder = tmp_path_factory.mktemp("orders")
    (folder / "incoming").mkdir()
    (folder / "incoming" / "orders_20261121.csv").write_text(
        "order_id,customer,amount\n1,anna,10.00\n2,ben,20.00\n3,cleo,30.00\n")
    pipeline = write_pipeline(folder, ORDERS)
    dag_file = generate_dag(pipeline, folder / "dags")
    return pipeline, dag_file


def test_three_task_dag_imports_without_errors(orders):
    _, dag_file = orders
    assert import_errors(dag_file.parent) == []
    assert dag_ids(dag_file.parent) == ["af_orders"]


def test_three_task_dag_has_the_pipelines_tasks_dependencies_and_schedule(orders):
    _, dag_file = orders
    dag = dag_details(dag_file.parent)["af_orders"]
    tasks = dag["tasks"]
    assert {t: v["upstream"] for t, v in tasks.items()} == {
        "ingest": [], "totals": ["ingest"], "check_totals": ["totals"]}, tasks
    assert dag["timetable"] == "CronDataIntervalTimetable", dag
    assert (dag["expression"], dag["timetable_timezone"], dag["timezone"]) == (
        "0 2 * * *", "Europe/Berlin", "Europe/Berlin"), dag
    assert instant(dag["start_date"]) == instant("2026-11-01T00:00:00+01:00"), dag
    assert (dag["catchup"], dag["max_active_runs"]) == (False, 1), dag
    for task_id, (timeout, retries, max_delay) in ORDERS_TASKS.items():
        t = tasks[task_id]
        # sluice retries (and times out) each attempt itself; Airflow retries on top would
        # multiply the attempts.
        assert t["retries"] == 0, (task_id, t)
        # Airflow's timeout is a backstop a little above sluice's worst case: every attempt
        # timing out, with the longest delay between attempts.
        worst = timeout * (retries + 1) + max_delay * retries
        assert worst < t["execution_timeout"] <= worst + 300, (task_id, worst, t)
        # sluice holds the pool slot across processes; an Airflow pool that nobody created
        # in Airflow would keep the task from ever being scheduled (dags test ignores pools,
        # so only this shows it).
        assert t["pool"] == "default_pool", (task_id, t)
        assert f"--task {task_id} " in t["command"] and "--trigger airflow" in t["command"], t


def test_three_task_dag_test_runs_every_task_through_sluice_for_the_interval(orders):
    pipeline, dag_file = orders
    # dags test runs the last interval that ended at the given instant: [11-21 02:00,
    # 11-22 02:00) Berlin, sluice's ds 2026-11-21.
    r = dags_test(dag_file, "af_orders", "2026-11-22T02:00:00+01:00")
    assert r.returncode == 0, str(r)
    folder = pipeline.parent
    runs = runs_of(folder, "af_orders")
    # One sluice run per Airflow task (each is one `sluice run --task`), in dependency order.
    assert [(x["ds"], x["run_key"], x["trigger"], x["status"]) for x in runs] == [
        ("2026-11-21", "2026-11-21", "airflow", "success")] * 3, runs
    for x in runs:
        assert (instant(x["interval_start"]), instant(x["interval_end"])) == (
            instant("2026-11-21T02:00:00+01:00"), instant("2026-11-22T02:00:00+01:00")), x
    attempts = attempts_of(folder, "af_orders")
    assert [(a["run_id"], a["task_id"], a["attempt"], a["status"]) for a in attempts] == [
        (runs[0]["run_id"], "ingest", 1, "success"),
        (runs[1]["run_id"], "totals", 1, "success"),
        (runs[2]["run_id"], "check_totals", 1, "success")], attempts
    # The lake has the date's partitions, and nothing else.
    assert query_json(pipeline, "SELECT ds, count(*) AS n, sum(amount) AS amount FROM "
                                "{{ ref('raw.orders') }} GROUP BY ds") == [
        {"ds": "2026-11-21", "n": 3, "amount": 60}]
    assert query_json(pipeline, "SELECT ds, orders, total FROM {{ ref('marts.totals') }}") == [
        {"ds": "2026-11-21", "orders": 3, "total": 60}]


# ---------------------------------------------------------------------------------------------
# 2. Data intervals: Airflow's are sluice's


@pytest.mark.parametrize("schedule, n, after", [
    ('"0 2 * * *"', 10, "2026-11-10T12:00:00Z"),    # daily, 02:00 Berlin
    ('"0 */6 * * *"', 12, "2026-11-10T12:00:00Z"),  # four times a day, cron
    ('"every 6h"', 12, "2026-11-10T12:00:00Z"),     # DeltaDataIntervalTimetable from start_date
    ('"@once"', 5, "2026-10-01T00:00:00Z"),         # one run, at start_date
], ids=["daily", "cron_6h", "every_6h", "once"])
def test_dag_data_intervals_equal_sluice_next_without_dst(tmp_path, airflow_venv, schedule, n,
                                                          after):
    # November 2026 in Berlin has no DST change (it ended on 10-25).
    pipeline = write_pipeline(tmp_path, f"""
        pipeline: af_iv
        schedule: {schedule}
        timezone: Europe/Berlin
        start_date: 2026-11-01
        tasks:
          - {{id: a, kind: sql, into: marts.a, sql: SELECT 1 AS one}}
        """)
    dag_file = generate_dag(pipeline, tmp_path / "dags")
    theirs = airflow_intervals(dag_file, "af_iv", after, n)
    ours = sluice_intervals(pipeline, after, n)
    expected_count = 1 if schedule == '"@once"' else n
    assert len(ours) == expected_count, ours
    assert theirs == ours, "\n".join(
        f"airflow {show(a)}  sluice {show(s)}"
        for a, s in zip(theirs + [None] * n, ours + [None] * n) if a != s)


def test_daily_schedule_differs_from_airflow_only_on_the_dst_nights_as_documented(
        tmp_path, airflow_venv):
    """docs/scheduling.md: sluice's once-a-day schedules fire at the end of the spring gap
    (03:00) and at the first of the repeated autumn times; Airflow 3.3.2 shifts the spring time
    by the gap (03:30) and fires at the second 02:30. Every other interval of the summer is the
    same. When either side changes, this test shows it."""
    pipeline = write_pipeline(tmp_path, """
        pipeline: af_dst
        schedule: "30 2 * * *"
        timezone: Europe/Berlin
        start_date: 2026-03-01
        tasks:
          - {id: a, kind: sql, into: marts.a, sql: SELECT 1 AS one}
        """)
    dag_file = generate_dag(pipeline, tmp_path / "dags")
    after, n = "2026-03-26T12:00:00Z", 215  # 2026-03-26 .. 2026-10-27, both DST nights
    theirs = airflow_intervals(dag_file, "af_dst", after, n)
    ours = sluice_intervals(pipeline, after, n)
    assert len(theirs) == len(ours) == n, (len(theirs), len(ours))
    assert ours[-1][1] > instant("2026-10-26T02:30:00+01:00"), ours[-1]
    differ = [(a, s) for a, s in zip(theirs, ours) if a != s]

    def iv(start, end):
        return instant(start), instant(end)

    assert differ == [
        # Spring, 2026-03-29: 02:30 does not exist.
        (iv("2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00"),   # Airflow
         iv("2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00")),  # sluice
        (iv("2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"),
         iv("2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00")),
        # Autumn, 2026-10-25: 02:30 happens twice.
        (iv("2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+01:00"),   # Airflow: the second
         iv("2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00")),  # sluice: the first
        (iv("2026-10-25T02:30:00+01:00", "2026-10-26T02:30:00+01:00"),
         iv("2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00")),
    ], "\n".join(f"airflow {show(a)}  sluice {show(s)}" for a, s in differ)


# ---------------------------------------------------------------------------------------------
# 3. A failing task


def test_failing_sluice_task_fails_its_airflow_task_and_downstream_never_runs(tmp_path,
                                                                             airflow_venv):
    pipeline = write_pipeline(tmp_path, """
        pipeline: af_fail
        schedule: "0 2 * * *"
        timezone: Europe/Berlin
        start_date: 2026-11-01
        tasks:
          - id: base
            kind: sql
            into: raw.base
            sql: SELECT 1 AS id
          - id: broken
            kind: sql
            into: marts.broken
            sql: SELECT no_such_column FROM {{ ref('raw.base') }}
          - id: after_broken
            kind: check
            dataset: marts.broken
            expect: [{row_count: {min: 1}}]
        """)
    dag_file = generate_dag(pipeline, tmp_path / "dags")
    r = dags_test(dag_file, "af_fail", "2026-11-22T02:00:00+01:00")
    assert r.returncode != 0, str(r)
    states = {x["task_id"]: x["state"] for x in airflow_rows(
        dag_file.parent, "SELECT task_id, state FROM task_instance WHERE dag_id = 'af_fail'")}
    assert states == {"base": "success", "broken": "failed",
                      "after_broken": "upstream_failed"}, f"{states}\n{r}"
    attempts = attempts_of(tmp_path, "af_fail")
    assert [(a["ds"], a["task_id"], a["status"]) for a in attempts] == [
        ("2026-11-21", "base", "success"), ("2026-11-21", "broken", "failed")], attempts
    assert "no_such_column" in (attempts[1]["error"] or ""), attempts[1]
    assert [(x["trigger"], x["status"]) for x in runs_of(tmp_path, "af_fail")] == [
        ("airflow", "success"), ("airflow", "failed")]


# ---------------------------------------------------------------------------------------------
# 4. The run key is the local date


def test_run_key_is_the_local_date_of_the_interval_start_not_airflows_utc_ds(tmp_path,
                                                                             airflow_venv):
    # Midnight in Berlin is 23:00 UTC of the day before: the interval of sluice's ds 2026-11-21
    # is [2026-11-20T23:00Z, 2026-11-21T23:00Z).
    pipeline = write_pipeline(tmp_path, """
        pipeline: af_midnight
        schedule: "0 0 * * *"
        timezone: Europe/Berlin
        start_date: 2026-11-01
        tasks:
          - id: stamp
            kind: sql
            into: marts.stamp
            sql: SELECT '{{ ds }}' AS ds_seen
        """)
    dag_file = generate_dag(pipeline, tmp_path / "dags")
    # 2026-11-22T00:00Z (01:00 Berlin): the last interval that has ended is that of 11-21.
    r = dags_test(dag_file, "af_midnight", "2026-11-22")
    assert r.returncode == 0, str(r)
    (run,) = airflow_rows(dag_file.parent, "SELECT logical_date, data_interval_start FROM "
                                           "dag_run WHERE dag_id = 'af_midnight'")
    start = airflow_utc(run["data_interval_start"])
    # The run started before midnight UTC, so Airflow's dates are not the local date: its
    # {{ ds }} (the UTC date of logical_date) and the UTC date of the interval start.
    assert start == instant("2026-11-20T23:00:00Z"), run
    airflow_ds = airflow_utc(run["logical_date"]).date().isoformat()
    assert {airflow_ds, start.date().isoformat()} == {"2026-11-22", "2026-11-20"}, run
    runs = runs_of(tmp_path, "af_midnight")
    assert [(x["ds"], x["run_key"], x["trigger"], x["status"]) for x in runs] == [
        ("2026-11-21", "2026-11-21", "airflow", "success")], runs
    assert instant(runs[0]["interval_start"]) == start, runs
    assert query_json(pipeline, "SELECT ds, ds_seen FROM {{ ref('marts.stamp') }}") == [
        {"ds": "2026-11-21", "ds_seen": "2026-11-21"}]


# ---------------------------------------------------------------------------------------------
# 5. Schedules without a cron


def test_once_none_and_every_schedules_generate_dags_that_import_cleanly(tmp_path,
                                                                         airflow_venv):
    dags_dir = tmp_path / "dags"
    for name, schedule in [("af_once", '"@once"'), ("af_none", "none"),
                           ("af_every", '"every 6h"')]:
        pipeline = write_pipeline(tmp_path, f"""
            pipeline: {name}
            schedule: {schedule}
            timezone: Europe/Berlin
            start_date: 2026-11-01
            tasks:
              - {{id: a, kind: sql, into: marts.a, sql: SELECT 1 AS one}}
            """, name=f"{name}.yaml")
        generate_dag(pipeline, dags_dir)
    assert import_errors(dags_dir) == []
    assert dag_ids(dags_dir) == ["af_every", "af_none", "af_once"]
    dags = dag_details(dags_dir)
    assert {d: v["timetable"] for d, v in dags.items()} == {
        "af_once": "OnceTimetable", "af_none": "NullTimetable",
        "af_every": "DeltaDataIntervalTimetable"}, dags
    assert dags["af_every"]["delta_seconds"] == 6 * 3600, dags["af_every"]
    for d, v in dags.items():
        assert instant(v["start_date"]) == instant("2026-11-01T00:00:00+01:00"), (d, v)
        assert v["timezone"] == "Europe/Berlin", (d, v)


# ---------------------------------------------------------------------------------------------
# 6. Run keys of schedules that fire several times a day


def rendered_dates(dag_file: Path, dag_id: str, task_id: str, starts: list) -> list:
    """The --date each start of a data interval (ISO instants) gives in task_id's command, as
    Airflow renders the command's template for a scheduled run (whose data_interval_start is
    that instant)."""
    script = textwrap.dedent("""
        import json, re, sys
        import pendulum
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=sys.argv[1])
        if bag.import_errors:
            sys.exit("import errors: " + json.dumps(bag.import_errors))
        dag = bag.dags[sys.argv[2]]
        task = dag.get_task(sys.argv[3])
        env = dag.get_template_env()
        out = []
        for start in json.loads(sys.argv[4]):
            cmd = task.render_template(task.bash_command,
                                       {"data_interval_start": pendulum.parse(start)},
                                       jinja_env=env)
            m = re.search(r"--date (\\S+)", cmd)
            out.append(m.group(1) if m else cmd)
        print(json.dumps(out))
    """)
    venv = ensure_airflow()
    try:
        p = subprocess.run([str(venv / "bin" / "python"), "-c", script, str(dag_file.resolve()),
                            dag_id, task_id, json.dumps([s.isoformat() for s in starts])],
                           env=_env_for_dags(dag_file.parent), capture_output=True, text=True,
                           timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"rendering the commands of {dag_file} took over {CLI_TIMEOUT}s")
    assert p.returncode == 0, f"rendering {dag_file} failed\n{p.stdout}\n{p.stderr[-4000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("schedule, start_date, after, n", [
    # Autumn night: 02:30 happens twice; sluice's keys are 2026-10-25T02:30 and ...T02:30b.
    ('"30 * * * *"', "2026-10-01", "2026-10-25T01:00:00+02:00", 4),
    # A period with seconds: sluice's keys carry them (2026-11-01T00:01:30).
    ('"every 90s"', "2026-11-01", "2026-11-01T00:00:00+01:00", 4),
], ids=["hourly_autumn_night", "every_90s"])
def test_sub_daily_dag_runs_the_interval_of_each_run_key(tmp_path, airflow_venv,
                                                                schedule, start_date, after, n):
    pipeline = write_pipeline(tmp_path, f"""
        pipeline: af_sub
        schedule: {schedule}
        timezone: Europe/Berlin
        start_date: {start_date}
        tasks:
          - {{id: a, kind: sql, into: marts.a, sql: SELECT 1 AS one}}
        """)
    dag_file = generate_dag(pipeline, tmp_path / "dags")
    theirs = airflow_intervals(dag_file, "af_sub", after, n)
    r = run_sluice("next", pipeline, "--from", after, "-n", n, "--format", "json", expect=0)
    ours = json.loads(r.stdout)["runs"]
    assert theirs == [(instant(x["interval_start"]), instant(x["interval_end"])) for x in ours], (
        [show(iv) for iv in theirs], ours)
    # What the DAG passes as --date makes sluice run exactly that interval, under its key
    # (the second 02:30 of the autumn night included): run each one and read the key back.
    dates = rendered_dates(dag_file, "af_sub", "a", [s for s, _ in theirs])
    keys = []
    for d in dates:
        run = run_sluice("run", pipeline, "--date", d, "--trigger", "airflow", cwd=tmp_path,
                         expect=0)
        run_id = int(re.search(r"^run (\d+) success", run.stdout, re.M).group(1))
        keys.append(state_query(tmp_path, "SELECT run_key FROM runs WHERE run_id = ?",
                                (run_id,))[0]["run_key"])
    assert keys == [x["run_key"] for x in ours], (dates, [show(iv) for iv in theirs])
