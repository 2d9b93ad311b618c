#!/usr/bin/env bash
# Lake -> MariaDB: sluice's db_load in each mode against the `mariadb` client's own
# LOAD DATA LOCAL INFILE of the same rows from a prepared tab-separated file, into the same
# table definition (InnoDB, primary key on id), on a private MariaDB server started for the run.
#   client      LOAD DATA LOCAL into an empty table (the peer every mode is compared with)
#   client_truncate   the client doing what truncate does, as atomically: BEGIN; DELETE FROM
#               the full table; LOAD DATA LOCAL; COMMIT
#   client_merge      the client's own upsert of a file: LOAD DATA LOCAL ... REPLACE INTO the
#               full table (delete and insert on a duplicate key; sluice's merge updates the row)
#   append      sluice db_load mode: append into an empty table
#   truncate    mode: truncate of a table that holds every row already
#   merge       mode: merge (upsert on id) into a table that holds every row already
#   replace     mode: replace (a new table swapped in)
# The ways are interleaved, RUNS rounds; prints the median of each and its ratio to the client.
#
#   bench/mysql_load_bench.sh                  # 1M rows, 3 runs
#   ROWS=200000 RUNS=1 bench/mysql_load_bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
rows=${ROWS:-1000000}
runs=${RUNS:-3}
port=${PORT:-55496}
sluice=$build/sluice
peer=$build/bench_duckdb_alone
[ -x "$sluice" ] && [ -x "$peer" ] || { echo "build first: make build" >&2; exit 2; }
command -v mariadb >/dev/null || { echo "mariadb not found: bash scripts/servers/mariadb.sh install" >&2; exit 2; }

work=$(mktemp -d /tmp/sluice-mysql-load-bench.XXXXXX)
chmod 755 "$work"
trap 'bash "$root/scripts/servers/mariadb.sh" stop "$work/db" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
bash "$root/scripts/servers/mariadb.sh" install >/dev/null 2>&1
bash "$root/scripts/servers/mariadb.sh" start "$work/db" "$port" >/dev/null
printf '[client]\nuser=etl\npassword=etl\nprotocol=tcp\nhost=127.0.0.1\nport=%s\n' "$port" >"$work/etl.cnf"
chmod 600 "$work/etl.cnf"
sql() { mariadb --defaults-file="$work/etl.cnf" --local-infile=1 -N -B shop -e "$1"; }

cd "$work"
printf etl >pass && chmod 600 pass
table_sql="(id BIGINT NOT NULL PRIMARY KEY, customer_id BIGINT, amount DECIMAL(12,2), created_at DATETIME(6), status LONGTEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
{
  cat <<YAML
pipeline: mysql_load_bench
lake: ./lake
state: ./.sluice
connections:
  my: {type: mysql, host: 127.0.0.1, port: "$port", database: shop, user: etl,
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
YAML
  for mode in append truncate merge replace; do
    cat <<YAML
  - id: $mode
    kind: db_load
    after: [orders]
    connection: my
    datasets: {bench.orders: shop.orders_$mode}
    mode: $mode
    key: [id]
YAML
  done
} >pipeline.yaml
"$sluice" run pipeline.yaml --date 2026-11-21 --task orders >/dev/null
parquet=$(ls "$work"/lake/bench/orders/ds=2026-11-21/*.parquet)
"$peer" "COPY (SELECT * FROM read_parquet('$parquet', hive_partitioning = false)) TO '$work/orders.tsv' (FORMAT csv, DELIMITER '\t', HEADER false)" >/dev/null

now() { date +%s.%N; }
declare -A times
ways=(client client_truncate client_merge append truncate merge replace)
for i in $(seq "$runs"); do
  # Every table starts as its mode expects: empty for the client and append, full for truncate
  # and merge (filled by the client, untimed), absent for replace.
  sql "DROP TABLE IF EXISTS orders_client, orders_client_truncate, orders_client_merge,
       orders_append, orders_truncate, orders_merge, orders_replace;
       DELETE FROM _sluice_loads" 2>/dev/null || true
  for t in client client_truncate client_merge append truncate merge; do
    sql "CREATE TABLE orders_$t $table_sql"
  done
  for t in client_truncate client_merge truncate merge; do
    sql "LOAD DATA LOCAL INFILE '$work/orders.tsv' INTO TABLE orders_$t FIELDS TERMINATED BY '\t'"
  done
  n=${#ways[@]}
  for k in $(seq 0 $((n - 1))); do
    way=${ways[$(((k + i) % n))]}
    t0=$(now)
    load="LOAD DATA LOCAL INFILE '$work/orders.tsv'"
    if [ "$way" = client ]; then
      sql "$load INTO TABLE orders_client FIELDS TERMINATED BY '\t'"
    elif [ "$way" = client_truncate ]; then
      sql "BEGIN; DELETE FROM orders_client_truncate;
           $load INTO TABLE orders_client_truncate FIELDS TERMINATED BY '\t'; COMMIT"
    elif [ "$way" = client_merge ]; then
      sql "$load REPLACE INTO TABLE orders_client_merge FIELDS TERMINATED BY '\t'"
    else
      "$sluice" run pipeline.yaml --date 2026-11-21 --task "$way" --force >"$work/$way.log" 2>&1 ||
        { cat "$work/$way.log"; exit 1; }
    fi
    t1=$(now)
    times[$way]="${times[$way]:-} $(echo "$t1 - $t0" | bc)"
  done
  for t in "${ways[@]}"; do
    got=$(sql "SELECT count(*) FROM orders_$t")
    [ "$got" = "$rows" ] || { echo "orders_$t has $got rows, not $rows" >&2; exit 1; }
  done
  diff=$(sql "SELECT count(*) FROM orders_client c LEFT JOIN orders_append a ON a.id = c.id AND a.customer_id <=> c.customer_id AND a.amount <=> c.amount AND a.created_at <=> c.created_at AND a.status <=> c.status WHERE a.id IS NULL")
  [ "$diff" = 0 ] || { echo "orders_append differs from the client's load in $diff rows" >&2; exit 1; }
  echo "run $i:$(for w in "${ways[@]}"; do printf ' %s %.2f s' "$w" "$(echo "${times[$w]}" | awk '{print $NF}')"; done)"
done
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
client=$(median "${times[client]}")
echo
echo "lake -> MariaDB, $rows rows (5 columns, primary key), median of $runs"
for w in "${ways[@]}"; do
  m=$(median "${times[$w]}")
  same=""
  case $w in
    truncate | merge) same=$(printf '  %5.2fx client_%s' "$(echo "$m / $(median "${times[client_$w]}")" | bc -l)" "$w") ;;
  esac
  printf '  %-16s %7.2f s  %5.2fx the client%s\n' "$w" "$m" "$(echo "$m / $client" | bc -l)" "$same"
done
