"""The scheduler and its companions, through the real binary: catch-up and max_active_runs,
pools across pipelines and processes, a scheduler killed and restarted, reloads, one scheduler
per state folder, SIGTERM draining, hooks, retries with jittered backoff, backfill, clear, run
keys of sub-daily schedules and crontab export.

Runs are made to last a known time with the fault hook SLUICE_FAULT=stall:<point>:<seconds>
(src/common/cancel.h), which the scheduler passes on to the runs it starts."""

import ctypes
import datetime as dt
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from conftest import (query_json, run_sluice, state_query, summary_rows, wait_for,
                      write_pipeline)

TICK = "100ms"
UTC = dt.timezone.utc


# ---------------------------------------------------------------------------------------------
# Helpers


def today() -> dt.date:
    return dt.datetime.now(UTC).date()


def days_ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


def epoch(iso: str) -> float:
    """Seconds since the epoch of a state store timestamp ("2026-12-06T05:22:33.088Z")."""
    return dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def rows(folder: Path, sql: str, params=(), state_dir: str = ".sluice"):
    """state_query, or [] while the state database does not exist yet."""
    if not (Path(folder) / state_dir / "state.db").exists():
        return []
    try:
        return state_query(folder, sql, params, state_dir)
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):  # the schema is being created
            return []
        raise


def max_overlap(spans) -> int:
    """The largest number of (start, end) spans open at one moment (an end before a start at
    the same instant)."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans],
                    key=lambda x: (x[0], x[1]))
    now = peak = 0
    for _, d in events:
        now += d
        peak = max(peak, now)
    return peak


def overlaps(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def run_spans(folder: Path, where: str = "1", params=()):
    return [(epoch(r["started_at"]), epoch(r["ended_at"]))
            for r in rows(folder, f"SELECT started_at, ended_at FROM runs WHERE {where}", params)]


def started_keys(log: str, pipeline: str):
    """The run keys the scheduler log says it started for pipeline, in order."""
    return re.findall(rf"^\S+ {re.escape(pipeline)} (\S+): started \(", log, re.M)


def scheduler(background, folder: Path, *paths, env=None):
    return background("scheduler", *paths, "--tick", TICK, cwd=folder, env=env)


def all_success(folder: Path, pipeline: str, keys) -> bool:
    got = {r["run_key"]: r["status"] for r in rows(
        folder, "SELECT run_key, status FROM runs WHERE pipeline = ? ORDER BY run_id",
        (pipeline,))}
    return all(got.get(k) == "success" for k in keys)


def wait_logged(predicate, timeout: float, what: str, sched):
    """wait_for, showing the scheduler's log when it times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n--- scheduler log ---\n"
                f"{sched.stdout()[-5000:]}")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return not re.search(r"^State:\s+Z", status, re.M)


def reap(pid: int) -> bool:
    """Reaps pid if it is a child of ours that ended (see the subreaper fixture); True when it
    is gone or not ours."""
    try:
        r, _ = os.waitpid(pid, os.WNOHANG)
        return r == pid
    except ChildProcessError:
        return not alive(pid)


@pytest.fixture
def subreaper():
    """Makes this process the reaper of orphans while the test runs. A run whose scheduler was
    SIGKILLed is re-parented; in a container whose PID 1 reaps nothing it would stay a zombie
    after it ends, and a zombie looks alive to sluice's dead-run detection. As its reaper the
    test can let it die for real."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_child_subreaper = 36
    assert libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0
    yield
    libc.prctl(pr_set_child_subreaper, 0, 0, 0, 0)


def daily(name: str, start_days_ago: int, extra: str = "", sql: str = "SELECT '{{ ds }}' AS ds",
          catchup: bool = True, max_active_runs: int = 1) -> str:
    return f"""
        pipeline: {name}
        schedule: "@daily"
        start_date: "{days_ago(start_days_ago)}"
        catchup: {"true" if catchup else "false"}
        max_active_runs: {max_active_runs}
        {extra}
        tasks:
          - id: a
            kind: sql
            into: marts.{name}_a
            sql: {sql}
        """


# ---------------------------------------------------------------------------------------------
# 1. Catch-up order and max_active_runs


def test_catchup_runs_every_ended_interval_oldest_first_at_most_max_active_runs(tmp_path,
                                                                                 background):
    write_pipeline(tmp_path, daily("cu", 5, max_active_runs=2))
    keys = [days_ago(n) for n in range(5, 0, -1)]  # the 5 days that have ended, oldest first
    s = scheduler(background, tmp_path, "pipeline.yaml",
                  env={"SLUICE_FAULT": "stall:run.after_tasks:1"})
    wait_logged(lambda: all_success(tmp_path, "cu", keys), 60, "5 catch-up runs to succeed", s)
    assert started_keys(s.stdout(), "cu") == keys, s.stdout()
    runs = rows(tmp_path, "SELECT run_key, status, started_at, ended_at FROM runs ORDER BY run_id")
    assert sorted(r["run_key"] for r in runs) == keys, runs
    spans = {r["run_key"]: (epoch(r["started_at"]), epoch(r["ended_at"])) for r in runs}
    # Oldest first: no run began clearly before a run of an older date (two started in the same
    # tick may reach the state store in either order; newest first would put them a 1s stall
    # apart).
    for older, newer in zip(keys, keys[1:]):
        assert spans[newer][0] >= spans[older][0] - 0.9, (older, newer, runs)
    assert max_overlap(spans.values()) == 2, f"max_active_runs 2, runs: {runs}"


def test_catchup_false_runs_only_the_latest_interval(tmp_path, background):
    write_pipeline(tmp_path, daily("nocu", 5, catchup=False, max_active_runs=2))
    s = scheduler(background, tmp_path, "pipeline.yaml")
    wait_logged(lambda: all_success(tmp_path, "nocu", [days_ago(1)]), 30, "the latest run", s)
    time.sleep(1.0)  # ten more ticks in which an older interval must not start
    os.kill(s.proc.pid, signal.SIGTERM)
    assert s.wait(30) == 0, s.stdout()
    assert [r["run_key"] for r in rows(tmp_path, "SELECT run_key FROM runs")] == [days_ago(1)]
    assert started_keys(s.stdout(), "nocu") == [days_ago(1)], s.stdout()


# ---------------------------------------------------------------------------------------------
# 2. Pools


def pool_pipeline(name: str, extra: str = "") -> str:
    return f"""
        pipeline: {name}
        schedule: "@daily"
        start_date: "{days_ago(1)}"
        catchup: true
        {extra}
        pools: {{db: 1}}
        tasks:
          - id: load
            kind: sql
            into: marts.{name}
            pool: db
            sql: SELECT 1 AS one
        """


def pool_attempts(folder: Path):
    return rows(folder, "SELECT pipeline, run_id, started_at, ended_at, status FROM task_attempts "
                        "WHERE task_id = 'load' ORDER BY attempt_id")


def test_pool_slot_is_shared_by_two_scheduled_pipelines(tmp_path, background):
    write_pipeline(tmp_path, pool_pipeline("p1"), "p1.yaml")
    write_pipeline(tmp_path, pool_pipeline("p2"), "p2.yaml")
    key = days_ago(1)
    scheduler(background, tmp_path, tmp_path, env={"SLUICE_FAULT": "stall:write.after_data:1"})
    wait_for(lambda: all_success(tmp_path, "p1", [key]) and all_success(tmp_path, "p2", [key]),
             60, what="both pipelines' runs")
    att = pool_attempts(tmp_path)
    assert [a["status"] for a in att] == ["success", "success"], att
    a, b = [(epoch(x["started_at"]), epoch(x["ended_at"])) for x in att]
    # The runs were in flight together, so only the pool kept their tasks apart.
    r1, r2 = run_spans(tmp_path)
    assert overlaps(r1, r2), f"the two runs did not overlap: {r1} {r2}"
    assert not overlaps(a, b), f"pool db has 1 slot, yet its tasks overlapped: {att}"


def test_pool_slot_is_shared_by_a_manual_run_and_the_scheduler(tmp_path, background):
    write_pipeline(tmp_path, pool_pipeline("p1"), "p1.yaml")
    (tmp_path / "manual").mkdir()
    write_pipeline(tmp_path / "manual", pool_pipeline("m", "state: ../.sluice"), "m.yaml")
    manual = background("run", tmp_path / "manual" / "m.yaml", "--date", days_ago(1),
                        cwd=tmp_path, env={"SLUICE_FAULT": "stall:write.after_data:3"})
    wait_for(lambda: "stalled at write.after_data" in manual.stderr(), 30,
             what="the manual run to hold the pool slot")
    scheduler(background, tmp_path, tmp_path / "p1.yaml",
              env={"SLUICE_FAULT": "stall:write.after_data:1"})
    assert manual.wait(30) == 0, manual.stdout() + manual.stderr()
    wait_for(lambda: all_success(tmp_path, "p1", [days_ago(1)]), 30, what="the scheduled run")
    att = {x["pipeline"]: (epoch(x["started_at"]), epoch(x["ended_at"]))
           for x in pool_attempts(tmp_path)}
    assert set(att) == {"m", "p1"}, att
    (rm,) = run_spans(tmp_path, "pipeline = 'm'")
    (rp,) = run_spans(tmp_path, "pipeline = 'p1'")
    assert overlaps(rm, rp), f"the manual and the scheduled run did not overlap: {rm} {rp}"
    assert not overlaps(att["m"], att["p1"]), f"pool db has 1 slot, yet: {att}"


# ---------------------------------------------------------------------------------------------
# 3. A scheduler killed with SIGKILL and restarted


def test_sigkilled_scheduler_restarts_without_duplicate_or_lost_runs(tmp_path, background,
                                                                     subreaper):
    write_pipeline(tmp_path, daily("rs", 2))
    keys = [days_ago(2), days_ago(1)]
    s1 = scheduler(background, tmp_path, "pipeline.yaml",
                   env={"SLUICE_FAULT": "stall:run.after_tasks:3"})
    first = wait_for(lambda: rows(tmp_path, "SELECT run_id, pid, status FROM runs WHERE "
                                            "run_key = ? AND status = 'running'", (keys[0],)),
                     30, what="the first run to be in progress")[0]
    s1.kill()
    killed_at = time.time()
    assert alive(first["pid"]), "the run died with its scheduler"
    s2 = scheduler(background, tmp_path, "pipeline.yaml")
    wait_logged(lambda: all_success(tmp_path, "rs", keys), 60, "both keys to succeed", s2)
    wait_for(lambda: reap(first["pid"]), 10, what="the first run's process to end")
    runs = rows(tmp_path, "SELECT run_id, run_key, status, started_at, ended_at FROM runs "
                          "ORDER BY run_id")
    assert [r["run_key"] for r in runs] == keys, f"a duplicate or lost run: {runs}"
    assert runs[0]["run_id"] == first["run_id"]
    # The kill landed while the run was in progress, the run went on to success, and the new
    # scheduler was up while it still ran.
    assert epoch(runs[0]["ended_at"]) > killed_at, runs
    s2_up = epoch(s2.stdout().split(" ", 1)[0])
    assert s2_up < epoch(runs[0]["ended_at"]), (s2.stdout(), runs)
    assert keys[0] not in started_keys(s2.stdout(), "rs"), s2.stdout()
    for key in keys:
        spans = [(epoch(a["started_at"]), epoch(a["ended_at"])) for a in rows(
            tmp_path, "SELECT started_at, ended_at FROM task_attempts WHERE run_key = ?", (key,))]
        assert max_overlap(spans) == 1, (key, spans)


def test_sigkilled_scheduler_and_run_resume_the_interrupted_run(tmp_path, background, subreaper):
    write_pipeline(tmp_path, f"""
        pipeline: ri
        schedule: "@daily"
        start_date: "{days_ago(1)}"
        catchup: true
        tasks:
          - id: a
            kind: sql
            into: marts.ri_a
            sql: SELECT 1 AS one
          - id: b
            kind: sql
            into: marts.ri_b
            sql: SELECT * FROM {{{{ ref('marts.ri_a') }}}}
        """)
    key = days_ago(1)
    s1 = scheduler(background, tmp_path, "pipeline.yaml",
                   env={"SLUICE_FAULT": "stall:write.after_data#2:60"})
    out = tmp_path / ".sluice" / "logs" / "ri" / key / f"scheduled-{key}.out"
    wait_for(lambda: out.exists() and "stalled at write.after_data#2" in out.read_text(), 30,
             what="task b to be in progress")
    (run,) = rows(tmp_path, "SELECT run_id, pid FROM runs")
    s1.kill()
    os.kill(run["pid"], signal.SIGKILL)
    wait_for(lambda: reap(run["pid"]), 10, what="the killed run to be gone")
    s2 = scheduler(background, tmp_path, "pipeline.yaml")
    wait_logged(lambda: rows(tmp_path, "SELECT 1 FROM runs WHERE status = 'success'"), 60,
                "the interrupted key to run again", s2)
    runs = rows(tmp_path, "SELECT run_id, run_key, status, interrupted FROM runs ORDER BY run_id")
    assert [(r["run_key"], r["status"], r["interrupted"]) for r in runs] == [
        (key, "failed", 1), (key, "success", 0)], runs
    assert key in started_keys(s2.stdout(), "ri"), s2.stdout()
    att = rows(tmp_path, "SELECT run_id, task_id, status FROM task_attempts ORDER BY attempt_id")
    first, second = runs[0]["run_id"], runs[1]["run_id"]
    # a finished in the interrupted run and is not redone (the runner records no attempt for
    # a task it skips); b, killed in flight, runs again.
    assert [x for x in att if x["task_id"] == "a"] == [
        {"run_id": first, "task_id": "a", "status": "success"}], att
    assert [x for x in att if x["task_id"] == "b"] == [
        {"run_id": first, "task_id": "b", "status": "failed"},
        {"run_id": second, "task_id": "b", "status": "success"}], att


# ---------------------------------------------------------------------------------------------
# 4. Reload


def every_pipeline(name: str, marker: str, extra: str = "") -> str:
    return f"""
        pipeline: {name}
        schedule: "every 2s"
        {extra}
        tasks:
          - id: a
            kind: sql
            into: marts.{name}
            sql: SELECT '{marker}' AS marker
        """


def replace_file(path: Path, text: str):
    """Writes text to path in one rename, so the scheduler never reads half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(textwrap.dedent(text).lstrip())
    os.replace(tmp, path)


def runs_of(folder: Path, pipeline: str):
    return rows(folder, "SELECT run_id, status, started_at, ds FROM runs WHERE pipeline = ? "
                        "ORDER BY run_id", (pipeline,))


def model_sql(folder: Path, pipeline: str, run: dict) -> str:
    log = folder / ".sluice" / "logs" / pipeline / run["ds"] / f"run-{run['run_id']}" / "a.1.log"
    return log.read_text() if log.exists() else ""


def success_after(folder: Path, pipeline: str, t: float, marker: str = None):
    """A predicate: a successful run of pipeline that started after t (wall clock), whose model
    SQL holds marker."""
    def check():
        for r in runs_of(folder, pipeline):
            if (r["status"] == "success" and epoch(r["started_at"]) > t
                    and (marker is None or marker in model_sql(folder, pipeline, r))):
                return r
        return None
    return check


def reload_setup(tmp_path, background):
    d = tmp_path / "pipelines"
    d.mkdir()
    a = d / "a.yaml"
    replace_file(a, every_pipeline("ra", "v1"))
    s = scheduler(background, tmp_path, d)
    wait_logged(success_after(d, "ra", 0, "'v1'"), 30, "a first run", s)
    return d, a, s


def test_scheduler_reloads_changed_new_and_removed_files(tmp_path, background):
    d, a, s = reload_setup(tmp_path, background)

    # A change: reloaded, and the next runs use it.
    t = time.time()
    replace_file(a, every_pipeline("ra", "v2"))
    wait_logged(lambda: f"reloaded {a}" in s.stdout(), 10, "'reloaded'", s)
    wait_logged(success_after(d, "ra", t, "'v2'"), 30, "a run of the changed SQL", s)

    # A new file: loaded and run.
    b = d / "b.yaml"
    replace_file(b, every_pipeline("rb", "b1"))
    wait_logged(lambda: f"loaded {b}" in s.stdout(), 10, "the new file to be loaded", s)
    wait_logged(success_after(d, "rb", 0, "'b1'"), 30, "a run of the new file", s)

    # A removed file: no new runs of it (b's schedule is a's, so a's next run shows that the
    # tick in which b would have started went by).
    b.unlink()
    wait_logged(lambda: f"removed {b}" in s.stdout(), 10, "'removed'", s)
    t = time.time()
    before = len(runs_of(d, "rb"))
    wait_logged(success_after(d, "ra", t + 0.3), 30, "a run of a after the removal", s)
    assert len(runs_of(d, "rb")) == before, runs_of(d, "rb")


def test_invalid_change_is_reported_and_the_previous_version_keeps_running(tmp_path,
                                                                           background):
    d, a, s = reload_setup(tmp_path, background)
    t = time.time()
    replace_file(a, every_pipeline("ra", "v3", "max_active_runz: 2"))
    wait_logged(lambda: "previous version keeps running" in s.stdout(), 10, "the problem", s)
    log = s.stdout()
    assert f"{a} is not valid; its previous version keeps running" in log, log
    assert "max_active_runz" in log.split("previous version keeps running", 1)[1], log
    # Runs go on (every 2s), as the version loaded before.
    r = wait_logged(success_after(d, "ra", t), 10, "a run after the bad change", s)
    assert "'v1'" in model_sql(d, "ra", r), "the run after the bad change is not v1's"
    assert s.stdout().count("previous version keeps running") == 1, "reported more than once"


# ---------------------------------------------------------------------------------------------
# 5. One scheduler per state folder


def test_second_scheduler_on_a_shared_state_folder_exits_naming_the_first(tmp_path, background):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    write_pipeline(tmp_path / "one", "pipeline: one\ntasks: [{id: a, kind: sql, into: m.a, "
                                     "sql: SELECT 1 AS x}]\n")
    write_pipeline(tmp_path / "two", "pipeline: two\nstate: ../one/.sluice\ntasks: [{id: a, "
                                     "kind: sql, into: m.b, sql: SELECT 1 AS x}]\n")
    first = scheduler(background, tmp_path, tmp_path / "one")
    wait_for(lambda: "loaded" in first.stdout(), 30, what="the first scheduler to start")
    r = run_sluice("scheduler", tmp_path / "two", "--tick", TICK, cwd=tmp_path, timeout=30)
    assert r.returncode == 1, str(r)
    assert f"pid {first.proc.pid}" in r.output, str(r)
    assert first.proc.poll() is None, "the first scheduler stopped"


# ---------------------------------------------------------------------------------------------
# 6. SIGTERM drains; a second SIGTERM cancels


def test_sigterm_waits_for_the_running_run_and_starts_nothing_new(tmp_path, background):
    write_pipeline(tmp_path, daily("dr", 2))
    s = scheduler(background, tmp_path, "pipeline.yaml",
                  env={"SLUICE_FAULT": "stall:run.after_tasks:2"})
    wait_logged(lambda: rows(tmp_path, "SELECT 1 FROM runs WHERE status = 'running'"), 30,
                "a run in progress", s)
    os.kill(s.proc.pid, signal.SIGTERM)
    assert s.wait(30) == 0, s.stdout()
    exited = time.time()
    runs = rows(tmp_path, "SELECT run_key, status, ended_at FROM runs")
    assert [(r["run_key"], r["status"]) for r in runs] == [(days_ago(2), "success")], runs
    assert epoch(runs[0]["ended_at"]) <= exited
    assert started_keys(s.stdout(), "dr") == [days_ago(2)], s.stdout()


def test_second_sigterm_cancels_the_running_run(tmp_path, background):
    write_pipeline(tmp_path, daily("cx", 1, sql="SELECT count(*) AS n FROM range(1000000000000)"))
    s = scheduler(background, tmp_path, "pipeline.yaml")
    log = tmp_path / ".sluice" / "logs" / "cx" / days_ago(1) / "run-1" / "a.1.log"
    wait_logged(lambda: log.exists() and "model SQL" in log.read_text(), 30,
                "the slow query to start", s)
    os.kill(s.proc.pid, signal.SIGTERM)
    wait_logged(lambda: "stopping" in s.stdout(), 10, "the drain to begin", s)
    assert s.proc.poll() is None, "the first SIGTERM stopped the scheduler with a run in progress"
    assert rows(tmp_path, "SELECT status FROM runs") == [{"status": "running"}]
    os.kill(s.proc.pid, signal.SIGTERM)
    assert s.wait(30) == 0, s.stdout()
    assert rows(tmp_path, "SELECT status FROM runs") == [{"status": "cancelled"}]


# ---------------------------------------------------------------------------------------------
# 7. Hooks


HOOK_SCRIPT = """
import json, os, sys
env = {k: v for k, v in os.environ.items() if k.startswith("SLUICE_") and k != "SLUICE_FAULT"}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(env) + "\\n")
"""


class Webhook:
    """An HTTP server on 127.0.0.1 that keeps the JSON bodies POSTed to it."""

    def __init__(self):
        posts = self.posts = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    w = Webhook()
    yield w
    w.close()


def hook_lines(path: Path):
    return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


def test_on_success_and_on_failure_hooks_get_the_run_context(tmp_path, webhook):
    script = tmp_path / "hook.py"
    script.write_text(HOOK_SCRIPT)
    out = tmp_path / "hook.jsonl"
    cmd = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(out))}"
    p = write_pipeline(tmp_path, f"""
        pipeline: hk
        schedule: "0 */6 * * *"
        vars: {{fail: "no"}}
        on_success: {{command: {json.dumps(cmd)}, webhook: "{webhook.url}"}}
        on_failure: {{command: {json.dumps(cmd)}, webhook: "{webhook.url}"}}
        tasks:
          - id: a
            kind: sql
            into: marts.hk_a
            sql: SELECT 1 AS one
          - id: b
            kind: sql
            into: marts.hk_b
            sql: >-
              SELECT CASE WHEN '{{{{ var('fail') }}}}' = 'yes' THEN error('boom-42') ELSE 1 END
              AS x FROM {{{{ ref('marts.hk_a') }}}}
        """)
    key = "2026-11-21T06:00"
    run_sluice("run", p, "--date", key, "--var", "fail=yes", cwd=tmp_path, expect=1)
    run_sluice("run", p, "--date", key, cwd=tmp_path, expect=0)
    failure, success = hook_lines(out)
    assert len(webhook.posts) == 2, webhook.posts
    wf, ws = webhook.posts
    common = {"pipeline": "hk", "ds": "2026-11-21", "run_key": key,
              "data_interval_start": "2026-11-21T06:00:00+00:00",
              "data_interval_end": "2026-11-21T12:00:00+00:00"}
    for name, value in common.items():
        env = "SLUICE_" + name.upper()
        assert failure[env] == value and success[env] == value, (name, failure, success)
        assert wf[name] == value and ws[name] == value, (name, wf, ws)
    assert (failure["SLUICE_EVENT"], failure["SLUICE_STATUS"]) == ("failure", "failed"), failure
    assert failure["SLUICE_FAILED_TASKS"] == "b", failure
    assert failure["SLUICE_ERROR"].startswith("b: ") and "boom-42" in failure["SLUICE_ERROR"]
    assert (wf["event"], wf["status"]) == ("failure", "failed"), wf
    assert wf["tasks"] == {"a": "success", "b": "failed"}, wf
    assert wf["error"].startswith("b: ") and "boom-42" in wf["error"], wf
    assert (success["SLUICE_EVENT"], success["SLUICE_STATUS"]) == ("success", "success")
    assert success["SLUICE_FAILED_TASKS"] == "" and success["SLUICE_ERROR"] == "", success
    assert (ws["event"], ws["status"], ws["error"]) == ("success", "success", ""), ws
    assert ws["tasks"] == {"a": "skipped", "b": "success"}, ws
    assert wf["run_id"] == 1 and ws["run_id"] == 2 and failure["SLUICE_RUN_ID"] == "1"


def test_on_late_fires_once_per_late_run(tmp_path, background, webhook):
    script = tmp_path / "hook.py"
    script.write_text(HOOK_SCRIPT)
    out = tmp_path / "late.jsonl"
    cmd = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(out))}"
    write_pipeline(tmp_path, f"""
        pipeline: lt
        schedule: "every 2s"
        deadline: 1s
        on_late: {{command: {json.dumps(cmd)}, webhook: "{webhook.url}"}}
        tasks:
          - id: a
            kind: sql
            into: marts.lt
            sql: SELECT 1 AS one
        """)
    # Every run lasts 3s, longer than an interval plus its 1s deadline: each is late (and the
    # intervals that end meanwhile, which catchup: false never runs, are late as "not started").
    s = scheduler(background, tmp_path, "pipeline.yaml",
                  env={"SLUICE_FAULT": "stall:run.after_tasks:3"})
    first = wait_logged(lambda: hook_lines(out), 30, "on_late", s)[0]
    assert first["SLUICE_EVENT"] == "late" and first["SLUICE_PIPELINE"] == "lt", first
    assert first["SLUICE_STATUS"] in ("not started", "running"), first
    assert "deadline" in first["SLUICE_ERROR"], first

    def notified_run_ended():
        succeeded = {r["run_key"] for r in rows(
            tmp_path, "SELECT run_key FROM runs WHERE status = 'success'")}
        notified = [h["SLUICE_RUN_KEY"] for h in hook_lines(out)]
        return len(notified) >= 2 and succeeded & set(notified)

    # A run notified while not finished has since ended, ticks later: still once per run.
    key = next(iter(wait_logged(notified_run_ended, 30, "a late run to end", s)))
    notified = [h["SLUICE_RUN_KEY"] for h in hook_lines(out)]
    assert len(notified) == len(set(notified)), f"on_late fired twice for a run: {notified}"
    wait_logged(lambda: key in [p["run_key"] for p in webhook.posts], 10, "the webhook", s)
    posted = [p["run_key"] for p in webhook.posts]
    assert len(posted) == len(set(posted)), f"on_late posted twice for a run: {posted}"
    late_lines = re.findall(r" lt (\S+): late \(", s.stdout())
    assert len(late_lines) == len(set(late_lines)), s.stdout()


# ---------------------------------------------------------------------------------------------
# 8. Retries with backoff and jitter


def test_retry_delays_double_with_jitter_between_half_and_all(tmp_path):
    p = write_pipeline(tmp_path, """
        pipeline: rt
        tasks:
          - id: ingest
            kind: csv_import
            path: incoming/missing_{{ ds_nodash }}.csv
            into: raw.things
            retries: 3
            retry_delay: 1s
        """)
    r = run_sluice("run", p, "--date", "2026-11-21", cwd=tmp_path, timeout=60, expect=1)
    assert summary_rows(r.stdout)["ingest"]["attempts"] == 4, r.stdout
    att = rows(tmp_path, "SELECT attempt, status, started_at, ended_at FROM task_attempts "
                         "ORDER BY attempt")
    assert [a["attempt"] for a in att] == [1, 2, 3, 4], att
    for n in (1, 2, 3):
        backoff = 1.0 * 2 ** (n - 1)
        gap = epoch(att[n]["started_at"]) - epoch(att[n - 1]["started_at"])
        # From one attempt's start to the next: the (short) attempt plus the jittered delay.
        assert backoff / 2 - 0.05 <= gap <= backoff + 0.5, (
            f"retry {n}: {gap:.3f}s after attempt {n}, expected {backoff / 2}s to {backoff}s")


# ---------------------------------------------------------------------------------------------
# 9. backfill


BACKFILL = """
    pipeline: bf
    schedule: "0 */12 * * *"
    vars: {fail_at: none}
    tasks:
      - id: a
        kind: sql
        into: marts.bf_a
        sql: SELECT '{{ data_interval_start }}' AS s
      - id: b
        kind: sql
        into: marts.bf_b
        sql: >-
          SELECT CASE WHEN '{{ data_interval_start }}' = '{{ var('fail_at') }}'
          THEN error('boom') ELSE 1 END AS x FROM {{ ref('marts.bf_a') }}
    """


def test_backfill_dry_run_rerun_modes_parallel_and_exit_code(tmp_path):
    p = write_pipeline(tmp_path, BACKFILL)
    day1 = ["2026-11-20T00:00", "2026-11-20T12:00"]
    day2 = ["2026-11-21T00:00", "2026-11-21T12:00"]
    fail = ["--var", "fail_at=2026-11-21T12:00:00"]
    rng = ["--from", "2026-11-20", "--to", "2026-11-21"]

    r = run_sluice("backfill", p, *rng, "--dry-run", cwd=tmp_path, expect=0)
    assert re.findall(r"would run (\S+)", r.stdout) == day1 + day2, r.stdout
    assert rows(tmp_path, "SELECT 1 FROM runs") == [], "--dry-run ran something"

    # --parallel 2, one run fails: exit 1; two runs of one date never at once.
    r = run_sluice("backfill", p, *rng, "--parallel", "2", *fail, cwd=tmp_path, timeout=90,
                   env={"SLUICE_FAULT": "stall:run.after_tasks:1"})
    assert r.returncode == 1, str(r)
    runs = rows(tmp_path, "SELECT run_key, ds, status, trigger, started_at, ended_at FROM runs")
    assert sorted((x["run_key"], x["status"]) for x in runs) == [
        (day1[0], "success"), (day1[1], "success"), (day2[0], "success"), (day2[1], "failed")]
    assert {x["trigger"] for x in runs} == {"backfill"}
    spans = [(x["ds"], (epoch(x["started_at"]), epoch(x["ended_at"]))) for x in runs]
    assert max_overlap([s for _, s in spans]) == 2, f"--parallel 2 did not run 2 at once: {runs}"
    for ds in ("2026-11-20", "2026-11-21"):
        assert max_overlap([s for d, s in spans if d == ds]) == 1, f"two runs of {ds}: {runs}"

    # Default: only keys that never finished (the 19th), not the failed one.
    r = run_sluice("backfill", p, "--from", "2026-11-19", "--to", "2026-11-21", *fail,
                   cwd=tmp_path, expect=0, timeout=90)
    new = rows(tmp_path, "SELECT run_key FROM runs WHERE run_id > 4 ORDER BY run_id")
    assert [x["run_key"] for x in new] == ["2026-11-19T00:00", "2026-11-19T12:00"], r.stdout

    # --rerun failed: the failed key only.
    r = run_sluice("backfill", p, "--from", "2026-11-19", "--to", "2026-11-21", "--rerun",
                   "failed", cwd=tmp_path, expect=0, timeout=90)
    new = rows(tmp_path, "SELECT run_key, status FROM runs WHERE run_id > 6 ORDER BY run_id")
    assert new == [{"run_key": day2[1], "status": "success"}], r.stdout

    # --rerun all: every key again, its tasks redone (--force), none skipped.
    r = run_sluice("backfill", p, "--from", "2026-11-20", "--to", "2026-11-20", "--rerun", "all",
                   cwd=tmp_path, expect=0, timeout=90)
    new = rows(tmp_path, "SELECT run_id, run_key, status FROM runs WHERE run_id > 7 "
                         "ORDER BY run_id")
    assert [(x["run_key"], x["status"]) for x in new] == [(k, "success") for k in day1], r.stdout
    for x in new:
        tasks = rows(tmp_path, "SELECT task_id, status FROM task_attempts WHERE run_id = ? "
                               "ORDER BY task_id", (x["run_id"],))
        assert tasks == [{"task_id": "a", "status": "success"},
                         {"task_id": "b", "status": "success"}], (x, tasks)


# ---------------------------------------------------------------------------------------------
# 10. clear


def test_clear_task_downstream_reruns_them_and_refuses_while_running(tmp_path, background):
    p = write_pipeline(tmp_path, """
        pipeline: cl
        tasks:
          - id: a
            kind: sql
            into: marts.cl_a
            sql: SELECT 1 AS one
          - id: b
            kind: sql
            into: marts.cl_b
            sql: SELECT * FROM {{ ref('marts.cl_a') }}
          - id: c
            kind: sql
            into: marts.cl_c
            sql: SELECT * FROM {{ ref('marts.cl_b') }}
          - id: d
            kind: sql
            into: marts.cl_d
            sql: SELECT 2 AS two
        """)
    ds = "2026-11-21"
    run_sluice("run", p, "--date", ds, cwd=tmp_path, expect=0)
    run_sluice("clear", p, "--date", ds, "--task", "b", "--downstream", cwd=tmp_path, expect=0)
    r = run_sluice("run", p, "--date", ds, cwd=tmp_path, expect=0)
    status = {t: v["status"] for t, v in summary_rows(r.stdout).items()}
    assert status == {"a": "skipped", "b": "success", "c": "success", "d": "skipped"}, r.stdout

    # While a run of the date is in progress, clear refuses and changes nothing.
    run = background("run", p, "--date", ds, "--force", cwd=tmp_path,
                     env={"SLUICE_FAULT": "stall:run.after_tasks:3"})
    wait_for(lambda: "stalled at run.after_tasks" in run.stderr(), 30, what="a run in progress")
    before = rows(tmp_path, "SELECT attempt_id, status FROM task_attempts ORDER BY attempt_id")
    r = run_sluice("clear", p, "--date", ds, cwd=tmp_path)
    assert r.returncode != 0 and f"is running for {ds}" in r.output, str(r)
    assert rows(tmp_path, "SELECT attempt_id, status FROM task_attempts "
                          "ORDER BY attempt_id") == before
    assert run.wait(30) == 0


# ---------------------------------------------------------------------------------------------
# 11. Run keys


def six_hourly(folder: Path) -> Path:
    return write_pipeline(folder, """
        pipeline: sx
        schedule: "0 */6 * * *"
        tasks:
          - id: a
            kind: sql
            into: marts.sx
            sql: >-
              SELECT '{{ data_interval_start }}' AS s, '{{ data_interval_end }}' AS e,
              '{{ ts }}' AS ts
        """)


def latest_six_hourly_key(now: dt.datetime) -> str:
    start = now.replace(hour=now.hour // 6 * 6, minute=0, second=0, microsecond=0)
    return (start - dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M")


def test_run_key_of_a_sub_daily_schedule_and_latest(tmp_path):
    p = six_hourly(tmp_path)
    run_sluice("run", p, "--date", "2026-11-21T06:00", cwd=tmp_path, expect=0)
    assert query_json(p, "SELECT s, e, ts FROM marts.sx", date="2026-11-21", cwd=tmp_path) == [
        {"s": "2026-11-21T06:00:00", "e": "2026-11-21T12:00:00", "ts": "2026-11-21T06:00:00+00:00"}]
    assert rows(tmp_path, "SELECT run_key, ds FROM runs") == [
        {"run_key": "2026-11-21T06:00", "ds": "2026-11-21"}]

    r = run_sluice("run", p, "--date", "2026-11-21T07:00", cwd=tmp_path, expect=2)
    assert "not a run of schedule" in r.output, str(r)

    before = latest_six_hourly_key(dt.datetime.now(UTC))
    run_sluice("run", p, "--latest", cwd=tmp_path, expect=0)
    after = latest_six_hourly_key(dt.datetime.now(UTC))
    latest = rows(tmp_path, "SELECT run_id, run_key, status FROM runs WHERE run_id = 2")
    assert latest and latest[0]["run_key"] in (before, after) and latest[0]["status"] == "success"
    r = run_sluice("run", p, "--latest", cwd=tmp_path, expect=0)
    if latest[0]["run_key"] == latest_six_hourly_key(dt.datetime.now(UTC)):
        assert "already succeeded" in r.stdout, str(r)
        assert len(rows(tmp_path, "SELECT 1 FROM runs")) == 2


# ---------------------------------------------------------------------------------------------
# 12. crontab


def test_crontab_parses_and_its_command_runs_the_latest_key_once(tmp_path):
    croniter = pytest.importorskip("croniter")
    p = six_hourly(tmp_path)
    r = run_sluice("crontab", p, cwd=tmp_path, expect=0)
    jobs = []
    for line in r.stdout.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", line):
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"not a crontab job line: {line!r}"
        assert croniter.croniter.is_valid(" ".join(fields[:5])), line
        jobs.append((" ".join(fields[:5]), fields[5]))
    assert [j[0] for j in jobs] == ["0 */6 * * *"], r.stdout
    assert "CRON_TZ=UTC" in r.stdout.splitlines(), r.stdout
    command = jobs[0][1]
    # What cron does with the command (% is a line break to cron; the paths here have none).
    assert "%" not in command.replace("\\%", "")
    env = {k: v for k, v in os.environ.items() if k != "SLUICE_FAULT"}
    before = latest_six_hourly_key(dt.datetime.now(UTC))
    sh = subprocess.run(["/bin/sh", "-c", command], cwd="/", env=env, timeout=60,
                        capture_output=True, text=True)
    assert sh.returncode == 0, f"the crontab command failed: {command}\n{sh.stderr}"
    after = latest_six_hourly_key(dt.datetime.now(UTC))
    runs = rows(tmp_path, "SELECT run_key, status, trigger FROM runs")
    assert len(runs) == 1 and runs[0]["run_key"] in (before, after), runs
    assert (runs[0]["status"], runs[0]["trigger"]) == ("success", "cron"), runs
    sh = subprocess.run(["/bin/sh", "-c", command], cwd="/", env=env, timeout=60,
                        capture_output=True, text=True)
    assert sh.returncode == 0, f"the crontab command failed the second time\n{sh.stderr}"
    if runs[0]["run_key"] == latest_six_hourly_key(dt.datetime.now(UTC)):
        assert len(rows(tmp_path, "SELECT 1 FROM runs")) == 1, "the second call ran again"
