"""Runs the real Apache Airflow 3.3.2 against DAG files that `sluice airflow` writes.

Airflow lives in its own venv (scripts/install-airflow.sh, hash-locked), never in the test
interpreter: its dependencies would clash with ours, and the venv is what a user would run.
Every Airflow command gets a private AIRFLOW_HOME (nothing is written to ~/airflow) on SQLite,
runs offline, and has a deadline. A failing install raises: a test that needs Airflow never
quietly skips.

    dags_dir = tmp_path / "dags"                      # one DAG per folder (see dags_test)
    assert import_errors(dags_dir) == []
    assert dag_ids(dags_dir) == ["citizens"]
    r = dags_test(dags_dir / "citizens.py", "citizens", "2026-11-22T02:00:00+01:00")
    assert r.returncode == 0, r                       # ran ds 2026-11-21 (see dags_test)
    next_intervals(dags_dir / "citizens.py", "citizens", 2, "2026-11-21T12:00:00+00:00")
      -> [("2026-11-21T01:00:00+00:00", "2026-11-22T01:00:00+00:00"),
          ("2026-11-22T01:00:00+00:00", "2026-11-23T01:00:00+00:00")]

airflow_env(tmp_path) gives the environment for running airflow by hand in a test.
"""

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-airflow.sh"

# Deadlines, in seconds. A cold install downloads ~130 wheels (about 30 s here); the CLI
# commands take 2-8 s on this 2-core machine, so these only catch hangs.
INSTALL_TIMEOUT = 900
MIGRATE_TIMEOUT = 180
CLI_TIMEOUT = 120
DAGS_TEST_TIMEOUT = 300

_lock = threading.RLock()
_venv = None            # Guarded by _lock: the venv, once ensure_airflow succeeded
_migrated_db = None     # Guarded by _lock: a migrated airflow.db that new homes copy


class AirflowError(RuntimeError):
    """Airflow could not be installed or run (not: a DAG failed; those are results)."""


@dataclass
class AirflowResult:
    args: list
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (f"airflow {' '.join(self.args)} -> exit {self.returncode} in "
                f"{self.seconds:.1f}s\n--- stdout ---\n{self.stdout[-6000:]}\n"
                f"--- stderr ---\n{self.stderr[-6000:]}")


def ensure_airflow() -> Path:
    """Installs Airflow (once per session; instant when the venv is current) and returns the
    venv. Raises AirflowError with the script's output when the install fails."""
    global _venv
    with _lock:
        if _venv is None:
            try:
                p = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True,
                                   text=True, timeout=INSTALL_TIMEOUT)
            except subprocess.TimeoutExpired as e:
                raise AirflowError(f"{INSTALL_SCRIPT} did not finish within {INSTALL_TIMEOUT}s"
                                   f"\n{e.stderr or ''}") from None
            lines = p.stdout.strip().splitlines()
            if p.returncode != 0 or not lines:
                raise AirflowError(f"{INSTALL_SCRIPT} failed (exit {p.returncode}); Airflow "
                                   f"tests cannot run\n{p.stdout}\n{p.stderr}")
            venv = Path(lines[-1])
            if not (venv / "bin" / "airflow").exists():
                raise AirflowError(f"{INSTALL_SCRIPT} printed {venv}, which has no bin/airflow")
            _venv = venv
        return _venv


def airflow_env(tmpdir, dags_folder=None, log_level="ERROR") -> dict:
    """The environment for Airflow commands: home in tmpdir/airflow-home (created, with a
    migrated SQLite database), DAGs read from dags_folder (default tmpdir/dags), no example
    DAGs, logs at log_level, no Python warnings, and no AIRFLOW* variables from outside. With
    ERROR, stdout of `-o json` commands is pure JSON."""
    tmpdir = Path(tmpdir)
    home = tmpdir / "airflow-home"
    dags = Path(dags_folder) if dags_folder is not None else tmpdir / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        # Without AIRFLOW_HOME every airflow command, even --help, creates ~/airflow.
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags.resolve()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": log_level,
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "NO_COLOR": "1",
        "PYTHONWARNINGS": "ignore",
        # Importing a DAG file would leave __pycache__ in the DAGs folder.
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    _prepare_home(home, env)
    return env


def import_errors(dags_dir, timeout=CLI_TIMEOUT) -> list:
    """Parses every DAG file in dags_dir as Airflow's DAG processor would and returns the
    import errors, [{"filepath": ..., "error": ...}] (cycles, syntax and import errors, bad
    arguments). A file that lacks the words "airflow" and "dag" is skipped without an error;
    dag_ids() shows what was found."""
    r = _airflow(["dags", "list-import-errors", "--local", "-o", "json"],
                 _env_for_dags(dags_dir), timeout)
    # Exit 1 means "there are import errors"; the JSON still lists them.
    return _json_out(r, ok_codes=(0, 1))


def dag_ids(dags_dir, timeout=CLI_TIMEOUT) -> list:
    """The dag_ids that parse cleanly from the files in dags_dir, sorted."""
    r = _airflow(["dags", "list", "--local", "-o", "json"], _env_for_dags(dags_dir), timeout)
    return sorted(d["dag_id"] for d in _json_out(r, ok_codes=(0,)))


def dags_test(dag_file, dag_id, logical_date, env=None, timeout=DAGS_TEST_TIMEOUT,
              log_level="INFO") -> AirflowResult:
    """Runs one DAG run of dag_id from dag_file for logical_date ("2026-11-21" is midnight
    UTC, or an ISO instant) with `airflow dags test`: every task runs, in order, in one
    process. Returns the result (0: the run succeeded; 1: a task failed or the file did not
    parse); the logs, task output included, are on stdout at log_level INFO. env adds to the
    environment (a PATH with sluice, say). Raises AirflowError on a hang past timeout.

    Mind what `dags test` does (Airflow 3.3.2, checked):
    - The data interval is the last one that ENDED at or before logical_date, while ds and
      logical_date are logical_date itself. To run the interval [2026-11-21 02:00,
      2026-11-22 02:00) Berlin, pass its end, "2026-11-22T02:00:00+01:00".
    - Every file in the DAG's folder is parsed and stored: give each DAG its own folder.
    - Pools are ignored (a missing pool runs anyway), but retry_delay is waited out and
      execution_timeout is enforced (SIGTERM to the command's process group)."""
    dag_file = Path(dag_file).resolve()  # -f must be absolute and inside the DAGs folder
    full_env = _env_for_dags(dag_file.parent, log_level=log_level)
    if env:
        full_env.update(env)
    return _airflow(["dags", "test", "-f", str(dag_file), dag_id, str(logical_date)],
                    full_env, timeout)


def next_intervals(dag_file, dag_id, n, after_iso, timeout=CLI_TIMEOUT) -> list:
    """The first n data intervals of dag_id whose runs Airflow's scheduler would start after
    the instant after_iso, as [(start, end)] in ISO 8601 UTC ("2026-11-21T01:00:00+00:00").

    The DAG is loaded with Airflow's DagBag, serialized and deserialized as the DAG processor
    does, and walked with the scheduler's own timetable from the DAG's start_date to its
    end_date, as catchup does: an interval counts when its run_after (its end, for data
    interval timetables) is strictly after after_iso. catchup=False changes only where a
    scheduler starts, not the intervals, so it is ignored. Fewer than n when the schedule
    ends (end_date, "@once"); [] for schedule=None."""
    dag_file = Path(dag_file).resolve()
    script = textwrap.dedent("""
        import json, sys
        import pendulum
        from airflow.dag_processing.dagbag import DagBag
        from airflow.serialization.serialized_objects import DagSerialization
        from airflow.timetables.base import TimeRestriction

        dag_file, dag_id, n, after = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
        after = pendulum.parse(after)
        bag = DagBag(dag_folder=dag_file)
        if bag.import_errors:
            sys.exit("import errors: " + json.dumps(bag.import_errors))
        if dag_id not in bag.dags:
            sys.exit(f"no dag {dag_id!r} in {dag_file}; found {sorted(bag.dags)}")
        dag = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags[dag_id]))
        r = dag._time_restriction
        restriction = TimeRestriction(r.earliest, r.latest, catchup=True)
        out, info = [], None
        for _ in range(1_000_000):  # a bound, not a limit any test reaches
            if len(out) >= n:
                break
            info = dag.timetable.next_dagrun_info_v2(last_dagrun_info=info,
                                                      restriction=restriction)
            if info is None:
                break
            if info.run_after > after:
                iv = info.data_interval
                out.append([iv.start.in_timezone("UTC").isoformat(),
                            iv.end.in_timezone("UTC").isoformat()])
        print(json.dumps(out))
    """)
    env = _env_for_dags(dag_file.parent)
    venv = ensure_airflow()
    cmd = [str(venv / "bin" / "python"), "-c", script, str(dag_file), dag_id, str(n),
           str(after_iso)]
    r = _run(cmd, env, timeout, "next_intervals")
    if r.returncode != 0:
        raise AirflowError(f"next_intervals({dag_file}, {dag_id}) failed\n{r}")
    return [tuple(pair) for pair in json.loads(r.stdout.strip().splitlines()[-1])]


# ---- internals ----

def _env_for_dags(dags_dir, log_level="ERROR") -> dict:
    # The home sits beside the DAGs folder, not in it: the DAG processor would scan it.
    dags_dir = Path(dags_dir).resolve()
    return airflow_env(dags_dir.parent / f".{dags_dir.name}.airflow", dags_dir, log_level)


def _prepare_home(home: Path, env: dict):
    """Gives a new home a migrated database. `airflow db migrate` takes ~3 s, so it runs once
    per session and new homes copy the result (the database holds no paths)."""
    global _migrated_db
    if (home / "airflow.db").exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    with _lock:
        if _migrated_db is None:
            template = Path(tempfile.mkdtemp(prefix="sluice-airflow-template-"))
            atexit.register(shutil.rmtree, template, True)
            tenv = dict(env, AIRFLOW_HOME=str(template),
                        AIRFLOW__CORE__DAGS_FOLDER=str(template / "dags"))
            r = _airflow(["db", "migrate"], tenv, MIGRATE_TIMEOUT)
            if r.returncode != 0:
                raise AirflowError(f"airflow db migrate failed\n{r}")
            _migrated_db = template / "airflow.db"
    shutil.copyfile(_migrated_db, home / "airflow.db")


def _airflow(args, env, timeout) -> AirflowResult:
    venv = ensure_airflow()
    r = _run([str(venv / "bin" / "airflow")] + list(args), env, timeout, "airflow")
    r.args = list(args)
    return r


def _run(cmd, env, timeout, what) -> AirflowResult:
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AirflowError(f"{what} {' '.join(map(str, cmd[1:]))} did not finish within "
                           f"{timeout}s\nstdout: {(e.stdout or b'')[-3000:]!r}\n"
                           f"stderr: {(e.stderr or b'')[-3000:]!r}") from None
    return AirflowResult([str(c) for c in cmd[1:]], p.returncode,
                         p.stdout.decode("utf-8", "replace"),
                         p.stderr.decode("utf-8", "replace"), time.monotonic() - start)


def _json_out(r: AirflowResult, ok_codes) -> list:
    if r.returncode not in ok_codes:
        raise AirflowError(f"unexpected exit code\n{r}")
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise AirflowError(f"stdout is not JSON\n{r}") from None
