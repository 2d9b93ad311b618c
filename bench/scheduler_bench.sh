#!/usr/bin/env bash
# The scheduler's own overhead, against Airflow 3.3 in the same run:
#   1. hand-off: the time from a task's end to its dependent's start, over a chain of N no-op
#      tasks (a one-row sql task, then checks of it), from the start and end times the state
#      store records for every attempt;
#   2. the whole chain end to end, per task;
#   3. the same chain of N no-op BashOperators (`true`) in Airflow 3.3.2 (`airflow dags test`,
#      Airflow's in-process runner), its hand-offs from Airflow's own task instance records;
#   4. fire to start: how long after an interval ends `sluice scheduler` has started its run
#      (process start and DuckDB included), for an `every 2s` schedule.
#
#   bench/scheduler_bench.sh              # N=100
#   N=30 SKIP_AIRFLOW=1 bench/scheduler_bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
n=${N:-100}
sluice=$build/sluice
[ -x "$sluice" ] || { echo "build first: make build" >&2; exit 2; }
work=$(mktemp -d /tmp/sluice-scheduler-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# A chain of n tasks: t000 writes one row, every next task checks it after the one before.
python3 - "$work/chain.yaml" "$n" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
lines = ["pipeline: chain", "lake: ./lake", "state: ./.sluice", "tasks:",
         "  - {id: t000, kind: sql, into: staging.x, sql: SELECT 1 AS x}"]
for i in range(1, n):
    lines.append(f"  - {{id: t{i:03d}, kind: check, dataset: staging.x, after: [t{i-1:03d}], "
                 "expect: [{row_count: {min: 1}}]}")
open(path, "w").write("\n".join(lines) + "\n")
PY

# Hand-offs of the newest run of a state db: next start - previous end, in ms.
handoffs() {  # handoffs STATE_DB
  python3 - "$1" <<'PY'
import datetime, sqlite3, statistics, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT task_id, started_at, ended_at FROM task_attempts WHERE run_id = "
                  "(SELECT max(run_id) FROM runs) ORDER BY task_id").fetchall()
t = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
h = sorted((t(rows[i][1]) - t(rows[i - 1][2])).total_seconds() * 1000 for i in range(1, len(rows)))
print(f"{statistics.median(h):.1f} {h[int(len(h) * 0.9)]:.1f} {h[-1]:.1f}")
PY
}

echo "sluice: a chain of $n no-op tasks (sluice run)"
(cd "$work" && "$sluice" run chain.yaml --date 2026-11-21 >/dev/null)  # warm: files, page cache
rm -rf "$work/.sluice" "$work/lake"
t0=$(date +%s.%N)
(cd "$work" && "$sluice" run chain.yaml --date 2026-11-21 >"$work/run.log")
t1=$(date +%s.%N)
read -r s_med s_p90 s_max < <(handoffs "$work/.sluice/state.db")
s_total=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
echo "  hand-off ms: median $s_med, p90 $s_p90, max $s_max (timestamps have ms resolution)"
echo "  end to end: ${s_total} s, $(python3 -c "print(f'{($t1 - $t0) * 1000 / $n:.1f}')") ms per task"

# 4. fire to start under the scheduler.
mkdir -p "$work/sched"
cat >"$work/sched/tick.yaml" <<'YAML'
pipeline: tick
schedule: every 2s
lake: ../lake2
state: ../.sluice2
tasks:
  - {id: a, kind: sql, into: staging.t, sql: SELECT 1 AS x}
YAML
"$sluice" scheduler "$work/sched" --tick 100ms >"$work/scheduler.log" 2>&1 &
spid=$!
sleep 13
kill -TERM $spid
wait $spid || true
fire=$(python3 - "$work/.sluice2/state.db" <<'PY'
import datetime, sqlite3, statistics, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT started_at, interval_end FROM runs WHERE trigger = 'scheduled' "
                  "ORDER BY run_id").fetchall()[1:]  # the first ran at once, not at its fire
d = sorted((datetime.datetime.fromisoformat(s.replace("Z", "+00:00")) -
            datetime.datetime.fromisoformat(e)).total_seconds() * 1000 for s, e in rows)
print(f"{statistics.median(d):.0f} {d[-1]:.0f} {len(d)}")
PY
)
read -r f_med f_max f_n <<<"$fire"
echo "sluice scheduler: fire to run start over $f_n runs of 'every 2s' (--tick 100ms): median ${f_med} ms, max ${f_max} ms"

if [ "${SKIP_AIRFLOW:-0}" = 1 ]; then
  exit 0
fi
echo "Airflow 3.3.2: a chain of $n BashOperator('true') (airflow dags test)"
venv=$(bash "$root/scripts/install-airflow.sh")
export AIRFLOW_HOME=$work/airflow AIRFLOW__CORE__LOAD_EXAMPLES=False \
  AIRFLOW__CORE__DAGS_FOLDER=$work/airflow/dags AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR \
  PYTHONWARNINGS=ignore
mkdir -p "$AIRFLOW__CORE__DAGS_FOLDER"
python3 - "$AIRFLOW__CORE__DAGS_FOLDER/chain.py" "$n" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
out = ["import pendulum", "from airflow.sdk import DAG",
       "from airflow.providers.standard.operators.bash import BashOperator", "",
       "with DAG(dag_id='chain', schedule=None, start_date=pendulum.datetime(2026, 1, 1, "
       "tz='UTC'), catchup=False):",
       "    prev = None"]
out += [f"    for i in range({n}):",
        "        t = BashOperator(task_id=f't{i:03d}', bash_command='true')",
        "        if prev is not None:", "            prev >> t", "        prev = t"]
open(path, "w").write("\n".join(out) + "\n")
PY
"$venv/bin/airflow" db migrate >/dev/null 2>&1
t0=$(date +%s.%N)
"$venv/bin/airflow" dags test chain 2026-11-21 >"$work/airflow.log" 2>&1 || {
  tail -30 "$work/airflow.log"
  exit 1
}
t1=$(date +%s.%N)
read -r a_med a_p90 a_max < <("$venv/bin/python" - "$AIRFLOW_HOME/airflow.db" <<'PY'
import sqlite3, statistics, sys, datetime
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT task_id, start_date, end_date FROM task_instance WHERE dag_id = 'chain' "
                  "ORDER BY task_id").fetchall()
t = lambda s: datetime.datetime.fromisoformat(str(s))
h = sorted((t(rows[i][1]) - t(rows[i - 1][2])).total_seconds() * 1000 for i in range(1, len(rows)))
print(f"{statistics.median(h):.1f} {h[int(len(h) * 0.9)]:.1f} {h[-1]:.1f}")
PY
)
a_total=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
echo "  hand-off ms: median $a_med, p90 $a_p90, max $a_max"
echo "  end to end: ${a_total} s, $(python3 -c "print(f'{($t1 - $t0) * 1000 / $n:.1f}')") ms per task"
# sluice's hand-offs are below the 1 ms resolution of its timestamps: the ratio takes 1 ms.
echo "ratio (Airflow / sluice): hand-off median at least $(python3 -c "print(f'{$a_med / max($s_med, 1.0):.0f}')")x, end to end $(python3 -c "print(f'{$a_total / $s_total:.0f}')")x"
