#!/usr/bin/env bash
# The web UI at scale: a year of daily runs of a 50-task pipeline (365 runs, 18,250 task
# attempts, a few failed and retried) in the state store, served by `sluice ui`; for every API
# call the pages make, the server's time to the first byte (curl's time_starttransfer minus
# time_pretransfer), median and max over REPEAT calls. The issue's target: under 100 ms.
#
#   bench/ui_bench.sh
#   DAYS=730 TASKS=80 bench/ui_bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
days=${DAYS:-365}
tasks=${TASKS:-50}
repeat=${REPEAT:-9}
sluice=$build/sluice
[ -x "$sluice" ] || { echo "build first: make build" >&2; exit 2; }
work=$(mktemp -d /tmp/sluice-ui-bench.XXXXXX)
ui_pid=
trap '[ -n "$ui_pid" ] && kill $ui_pid 2>/dev/null; rm -rf "$work"' EXIT

# The pipeline: t00 writes a dataset, the others check it, in a fan of chains.
python3 - "$work/big.yaml" "$tasks" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
lines = ["pipeline: big", 'schedule: "0 2 * * *"', "timezone: Europe/Berlin",
         "start_date: 2025-01-01", "lake: ./lake", "state: ./.sluice", "tasks:",
         "  - {id: t00, kind: sql, into: staging.x, sql: SELECT 1 AS x}"]
for i in range(1, n):
    after = f"t{max(0, i - 5):02d}"
    lines.append(f"  - {{id: t{i:02d}, kind: check, dataset: staging.x, after: [{after}], "
                 "expect: [{row_count: {min: 1}}]}")
open(path, "w").write("\n".join(lines) + "\n")
PY
(cd "$work" && "$sluice" run big.yaml --date 2026-01-01 >/dev/null)  # schema, lake, one real run

# A year of history, written straight into the state store (as the runner would have).
python3 - "$work/.sluice/state.db" "$days" "$tasks" <<'PY'
import datetime as dt, random, sqlite3, sys
db, days, n = sqlite3.connect(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
random.seed(7)
log = db.execute("SELECT log_path FROM task_attempts LIMIT 1").fetchone()[0]
start = dt.datetime(2025, 1, 1, 1, 0, tzinfo=dt.timezone.utc)
iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
for d in range(days):
    ds = (dt.date(2025, 1, 1) + dt.timedelta(days=d)).isoformat()
    t0 = start + dt.timedelta(days=d + 1)
    failed = random.random() < 0.03
    cur = db.execute("INSERT INTO runs (pipeline, ds, status, trigger, started_at, ended_at, pid, "
                     "error, run_key, interval_start, interval_end, interrupted) VALUES "
                     "('big', ?, ?, 'scheduled', ?, ?, 1, ?, ?, ?, ?, 0)",
                     (ds, "failed" if failed else "success", iso(t0),
                      iso(t0 + dt.timedelta(minutes=30)), "t07: boom" if failed else "", ds,
                      ds + "T02:00:00+01:00", ds + "T02:00:00+01:00"))
    run = cur.lastrowid
    t = t0
    for i in range(n):
        for attempt in (1, 2) if random.random() < 0.02 else (1,):
            end = t + dt.timedelta(seconds=random.randint(1, 60))
            status = "success" if attempt == 2 or not failed or i != 7 else "failed"
            db.execute("INSERT INTO task_attempts (run_id, pipeline, ds, task_id, attempt, "
                       "status, started_at, ended_at, rows_read, rows_written, rows_rejected, "
                       "bytes, error, log_path, run_key) VALUES (?, 'big', ?, ?, ?, ?, ?, ?, ?, "
                       "?, ?, ?, '', ?, ?)",
                       (run, ds, f"t{i:02d}", attempt, status, iso(t), iso(end),
                        random.randint(0, 10**6), random.randint(0, 10**6), random.randint(0, 99),
                        random.randint(0, 10**8), log, ds))
            t = end
db.commit()
print(db.execute("SELECT count(*) FROM task_attempts").fetchone()[0], "attempts in",
      db.execute("SELECT count(*) FROM runs").fetchone()[0], "runs")
PY

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
(cd "$work" && exec "$sluice" ui big.yaml --listen 127.0.0.1:$port >"$work/ui.log" 2>&1) &
ui_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/v1/session" >/dev/null && break; sleep 0.1; done
run=$(python3 -c "import sqlite3;print(sqlite3.connect('$work/.sluice/state.db').execute('SELECT max(run_id) FROM runs').fetchone()[0])")
attempt=$(python3 -c "import sqlite3;print(sqlite3.connect('$work/.sluice/state.db').execute('SELECT max(attempt_id) FROM task_attempts').fetchone()[0])")

printf "%-58s %10s %10s\n" "call (what the pages fetch)" "median ms" "max ms"
worst=0
for path in /api/v1/pipelines /api/v1/pipelines/big "/api/v1/pipelines/big/grid?limit=30" \
    "/api/v1/pipelines/big/grid?limit=365" "/api/v1/pipelines/big/trends?limit=365" \
    /api/v1/pipelines/big/runs "/api/v1/pipelines/big/runs/$run" \
    "/api/v1/pipelines/big/attempts/$attempt/log" /api/v1/datasets /api/v1/datasets/staging.x \
    /api/v1/datasets/staging.x/preview /pipelines/big; do
  times=()
  for _ in $(seq "$repeat"); do
    times+=("$(curl -s -o /dev/null -w '%{time_starttransfer} %{time_pretransfer}' \
      "http://127.0.0.1:$port$path" | awk '{printf "%.1f", ($1 - $2) * 1000}')")
  done
  read -r med max < <(printf "%s\n" "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[NR]}')
  printf "%-58s %10s %10s\n" "$path" "$med" "$max"
  worst=$(python3 -c "print(max($worst, $max))")
done
echo "slowest call: ${worst} ms (target: under 100 ms)"
