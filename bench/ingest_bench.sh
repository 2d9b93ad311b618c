#!/usr/bin/env bash
# CSV -> Parquet ingest: sluice (a one-task pipeline, csv_import with declared columns and a
# rejects dataset) against DuckDB alone (the same read_csv options and COPY through the same
# libduckdb, from a 30-line C program), in the same run, on the same generated file.
# Reports the median wall time of each over RUNS runs and sluice's overhead in percent.
#
#   bench/ingest_bench.sh                 # ~1 GB file (5.8M rows)
#   ROWS=1000000 RUNS=3 bench/ingest_bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
rows=${ROWS:-5800000}
runs=${RUNS:-5}
out=${OUT:-$root/bench/out}
sluice=$build/sluice
peer=$build/bench_duckdb_alone
[ -x "$sluice" ] && [ -x "$peer" ] || { echo "build first: make build" >&2; exit 2; }

mkdir -p "$out/incoming"
csv=$out/incoming/citizens_data_20261121.csv
if [ ! -f "$csv" ] || [ "$(cat "$out/rows" 2>/dev/null)" != "$rows" ]; then
  "$build/sluice-gen" citizens --rows "$rows" --out "$csv"
  echo "$rows" >"$out/rows"
fi
bytes=$(stat -c %s "$csv")

cat >"$out/pipeline.yaml" <<YAML
pipeline: ingest_bench
lake: ./lake
state: ./.sluice
tasks:
  - id: ingest
    kind: csv_import
    path: incoming/citizens_data_{{ ds_nodash }}.csv
    into: raw.citizens
    columns: {citizen_id: BIGINT, first_name: VARCHAR, last_name: VARCHAR, gender: VARCHAR,
              birth_date: DATE, email: VARCHAR, phone: VARCHAR, street: VARCHAR, city: VARCHAR,
              region: VARCHAR, postal_code: VARCHAR, occupation: VARCHAR,
              annual_income: "DECIMAL(12,2)", registered_at: TIMESTAMP, updated_at: TIMESTAMP}
    rejects: {max: 1%}
YAML

cols="{'citizen_id': 'BIGINT', 'first_name': 'VARCHAR', 'last_name': 'VARCHAR', 'gender': 'VARCHAR', 'birth_date': 'DATE', 'email': 'VARCHAR', 'phone': 'VARCHAR', 'street': 'VARCHAR', 'city': 'VARCHAR', 'region': 'VARCHAR', 'postal_code': 'VARCHAR', 'occupation': 'VARCHAR', 'annual_income': 'DECIMAL(12,2)', 'registered_at': 'TIMESTAMP', 'updated_at': 'TIMESTAMP'}"
peer_sql="COPY (SELECT * FROM read_csv('$csv', header = true, delim = ',', quote = '\"', escape = '\"', nullstr = '', encoding = 'utf-8', strict_mode = true, store_rejects = true, rejects_table = 'r', rejects_scan = 'rs', auto_detect = false, columns = $cols)) TO '$out/peer.parquet' (FORMAT parquet)"

now() { date +%s.%N; }
sluice_times=()
peer_times=()
for i in $(seq "$runs"); do
  sync; t0=$(now)
  "$sluice" run "$out/pipeline.yaml" --date 2026-11-21 --force >"$out/sluice.log" 2>&1 ||
    { cat "$out/sluice.log"; exit 1; }
  t1=$(now)
  sync; t2=$(now)
  "$peer" "$peer_sql" >/dev/null
  t3=$(now)
  sluice_times+=("$(echo "$t1 - $t0" | bc)")
  peer_times+=("$(echo "$t3 - $t2" | bc)")
  echo "run $i: sluice ${sluice_times[-1]} s, duckdb alone ${peer_times[-1]} s"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
s=$(median "${sluice_times[@]}")
p=$(median "${peer_times[@]}")
python3 - "$s" "$p" "$bytes" "$rows" <<'PY'
import sys
s, p, b, rows = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"\nCSV -> Parquet, {b/1e9:.2f} GB, {rows:,} rows (median of runs, wall time)")
print(f"  sluice run (csv_import)  {s:7.2f} s  {b/1e6/s:7.1f} MB/s")
print(f"  DuckDB alone (same COPY) {p:7.2f} s  {b/1e6/p:7.1f} MB/s")
print(f"  ratio sluice/duckdb      {s/p:7.3f}  (overhead {100*(s/p-1):+.1f}%)")
PY
