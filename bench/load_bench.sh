#!/usr/bin/env bash
# Lake -> PostgreSQL: sluice's db_load (binary COPY) against psql \copy of the same rows from a
# CSV file, into the same kind of table (logged, no indexes), on a private PostgreSQL server
# started for the run. Reports the median of RUNS runs and the ratio.
#
#   bench/load_bench.sh                    # 10M rows
#   ROWS=1000000 RUNS=1 bench/load_bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
rows=${ROWS:-10000000}
runs=${RUNS:-3}
port=${PORT:-55499}
sluice=$build/sluice
peer=$build/bench_duckdb_alone
[ -x "$sluice" ] && [ -x "$peer" ] || { echo "build first: make build" >&2; exit 2; }

work=$(mktemp -d /tmp/sluice-load-bench.XXXXXX)
chmod 755 "$work"
trap 'bash "$root/scripts/servers/postgres.sh" stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
bash "$root/scripts/servers/postgres.sh" install >/dev/null
bash "$root/scripts/servers/postgres.sh" start "$work/pg" "$port" >/dev/null
export PGPASSWORD=etl
psql_do() { psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U etl sluice_test "$@"; }
# CHECKPOINT between runs (superuser, over the server's private socket) so that one run's
# dirty pages are not flushed on the next one's time.
checkpoint() { psql -q -h "$work/pg" -p "$port" -U postgres sluice_test -c CHECKPOINT; }

cd "$work"
printf etl >pass && chmod 600 pass
cat >pipeline.yaml <<YAML
pipeline: load_bench
lake: ./lake
state: ./.sluice
connections:
  pg: {type: postgres, host: 127.0.0.1, port: "$port", database: sluice_test, user: etl,
       password: "\${file:pass}"}
tasks:
  - id: orders
    kind: sql
    into: bench.orders
    sql: |
      SELECT range AS id, range % 100000 AS customer_id,
             ((range * 7919) % 100000000 / 100.0)::DECIMAL(12,2) AS amount,
             TIMESTAMP '2026-01-01' + to_seconds(range % 31536000) AS created_at,
             ['new', 'paid', 'shipped', 'returned'][range % 4 + 1] AS status
      FROM range($rows)
  - id: load
    kind: db_load
    connection: pg
    datasets: {bench.orders: public.orders_sluice}
    mode: append
YAML
"$sluice" run pipeline.yaml --date 2026-11-21 --task orders >/dev/null
parquet=$(ls "$work"/lake/bench/orders/ds=2026-11-21/*.parquet)
"$peer" "COPY (SELECT * FROM read_parquet('$parquet', hive_partitioning = false)) TO '$work/orders.csv' (FORMAT csv, HEADER true)" >/dev/null
bytes=$(stat -c %s "$work/orders.csv")

table_sql="(id bigint, customer_id bigint, amount numeric(12,2), created_at timestamp without time zone, status text)"
now() { date +%s.%N; }
s_times=(); p_times=()
for i in $(seq "$runs"); do
  psql_do -c "DROP TABLE IF EXISTS orders_psql; CREATE TABLE orders_psql $table_sql" 2>/dev/null
  checkpoint
  t0=$(now)
  psql_do -c "\\copy orders_psql FROM '$work/orders.csv' WITH (FORMAT csv, HEADER true)"
  t1=$(now)
  psql_do -c "DROP TABLE IF EXISTS orders_sluice; CREATE TABLE orders_sluice $table_sql" 2>/dev/null
  # The ledger would (rightly) skip a second append of the same partition.
  psql_do -c "DELETE FROM _sluice_loads WHERE target = 'public.orders_sluice'" 2>/dev/null || true
  checkpoint
  t2=$(now)
  "$sluice" run pipeline.yaml --date 2026-11-21 --task load >"$work/sluice.log" 2>&1 || { cat "$work/sluice.log"; exit 1; }
  t3=$(now)
  n1=$(psql_do -At -c "SELECT count(*) FROM orders_psql")
  n2=$(psql_do -At -c "SELECT count(*) FROM orders_sluice")
  [ "$n1" = "$rows" ] && [ "$n2" = "$rows" ] || { echo "row counts differ: psql $n1, sluice $n2" >&2; exit 1; }
  p_times+=("$(echo "$t1 - $t0" | bc)")
  s_times+=("$(echo "$t3 - $t2" | bc)")
  echo "run $i: psql \\copy ${p_times[-1]} s, sluice ${s_times[-1]} s"
done
same=$(psql_do -At -c "SELECT count(*) FROM (SELECT * FROM orders_psql EXCEPT ALL SELECT * FROM orders_sluice) d")
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
python3 - "$(median "${s_times[@]}")" "$(median "${p_times[@]}")" "$rows" "$bytes" "$same" <<'PY'
import sys
s, p, rows, b, diff = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
print(f"\nlake -> PostgreSQL, {rows:,} rows ({b/1e9:.2f} GB as CSV), median wall time")
print(f"  psql \\copy (CSV)          {p:7.2f} s  {rows/p:12,.0f} rows/s")
print(f"  sluice db_load (binary)   {s:7.2f} s  {rows/s:12,.0f} rows/s")
print(f"  speedup psql/sluice       {p/s:7.2f}x   (rows differing between the tables: {diff})")
PY
