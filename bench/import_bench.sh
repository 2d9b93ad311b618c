#!/usr/bin/env bash
# MariaDB -> lake: `sluice import` (-m 1 and -m 4, Parquet) against the server's own CSV
# exports (mysqldump --tab and SELECT ... INTO OUTFILE) and the raw client reading every row
# (mariadb --quick --batch to /dev/null), on one table `orders` made by `sluice-gen shop`, in
# a private MariaDB server started for the run. Each tool runs RUNS times, in rounds whose
# order rotates so no tool always goes first. Reports the median wall time, client and server
# CPU of each, and the ratios.
#
#   bench/import_bench.sh                            # 10M rows, 3 runs
#   ROWS=1000000 RUNS=1 bench/import_bench.sh
#   BUFFER_POOL=4G PORT=55497 bench/import_bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
rows=${ROWS:-10000000}
runs=${RUNS:-3}
port=${PORT:-55497}
pool=${BUFFER_POOL:-4G}
out=${OUT:-$root/bench/out}
date=2026-11-21
sluice=$build/sluice
[ -x "$sluice" ] || { echo "build first: make build" >&2; exit 2; }
for b in mariadb mysqldump; do
  command -v "$b" >/dev/null || { echo "$b not found: bash scripts/servers/mariadb.sh install" >&2; exit 2; }
done
mkdir -p "$out"
report=$out/import-$(date +%F).txt
exec > >(tee "$report")

work=$(mktemp -d /tmp/sluice-import-bench.XXXXXX)
chmod 755 "$work" # the server runs as user mysql and must reach $work/db
trap 'bash "$root/scripts/servers/mariadb.sh" stop "$work/db" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
bash "$root/scripts/servers/mariadb.sh" install >/dev/null 2>&1
bash "$root/scripts/servers/mariadb.sh" start "$work/db" "$port" >/dev/null
files=$work/db/files # the server's --secure-file-priv folder
server_pid=$(cat "$work/db/mariadb.pid")

# The clients read the password from a defaults file (only that file: like --no-defaults).
printf '[client]\nuser=etl\npassword=etl\nprotocol=tcp\nhost=127.0.0.1\nport=%s\n' "$port" >"$work/etl.cnf"
chmod 600 "$work/etl.cnf"
export SHOP_PASSWORD=etl
url=mysql://etl@127.0.0.1:$port/shop
client=(mariadb --defaults-file="$work/etl.cnf" --database=shop)
admin() { mariadb --no-defaults --socket="$work/db/mysqld.sock" --user="$(id -un)" -N --batch -e "$1"; }

# scripts/servers/mariadb.sh takes no extra server options, so the buffer pool is grown after
# start (innodb_buffer_pool_size is dynamic since 10.2; the resize runs in the background).
admin "SET GLOBAL innodb_buffer_pool_size = $(numfmt --from=iec "$pool")"
for _ in $(seq 120); do
  status=$(admin "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_resize_status'" | cut -f2)
  [[ -z $status || $status == *ompleted* ]] && break
  sleep 0.5
done

t0=$(date +%s)
"$build/sluice-gen" shop --connect "$url" --password-env SHOP_PASSWORD --rows "$rows" --tables orders \
  >"$work/gen.log" 2>&1 || { cat "$work/gen.log"; exit 1; }
gen_s=$(($(date +%s) - t0))
table_rows=$("${client[@]}" -N -e "SELECT count(*) FROM orders")
[ "$table_rows" = "$rows" ] || { echo "orders has $table_rows rows, not $rows" >&2; exit 1; }
# One untimed full read so that every run finds the table in the buffer pool.
"${client[@]}" --quick --batch -e 'SELECT * FROM orders' >/dev/null

var() { admin "SELECT @@$1"; }
table_mb=$(admin "SELECT ROUND((data_length + index_length) / 1048576) FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 'orders'")
echo "sluice import benchmark, $(date -u '+%F %T') UTC, sluice $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "  machine     $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GB RAM, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  server      $(var version), private (scripts/servers/mariadb.sh) on 127.0.0.1:$port, TCP for every client"
echo "  settings    innodb_buffer_pool_size=$(var innodb_buffer_pool_size | numfmt --to=iec) (SET GLOBAL after start: mariadb.sh takes no server options),"
echo "              innodb_flush_log_at_trx_commit=$(var innodb_flush_log_at_trx_commit), max_allowed_packet=$(var max_allowed_packet | numfmt --to=iec), net_buffer_length=$(var net_buffer_length), character_set_server=$(var character_set_server), time_zone=$(var time_zone)"
echo "  data        shop.orders, $rows rows, ${table_mb} MB in InnoDB (data + index), made by 'sluice-gen shop' in ${gen_s} s, warmed by one full read"
echo "  runs        $runs of each, in rounds of rotating order"
echo

lake=$work/lake
part=$lake/raw/orders/ds=$date
sluice_import() {
  "$sluice" import --connect "$url" --password-env SHOP_PASSWORD --table orders -m "$1" \
    --lake "$lake" --date "$date"
}
# Each tool: the command (shell text, shown in the report) and what to delete before it runs.
tools=(sluice_m1 sluice_m4 mysqldump_tab into_outfile raw_client)
declare -A cmd=(
  [sluice_m1]="sluice_import 1"
  [sluice_m4]="sluice_import 4"
  [mysqldump_tab]="mysqldump --defaults-file=$work/etl.cnf --tab=$files --fields-terminated-by=, shop orders"
  [into_outfile]="${client[*]} -e \"SELECT * FROM orders INTO OUTFILE '$files/orders.csv' FIELDS TERMINATED BY ','\""
  [raw_client]="${client[*]} --quick --batch -e 'SELECT * FROM orders'"
)
clean() {
  case $1 in
    sluice_*) rm -rf "$lake" ;;
    mysqldump_tab) rm -f "$files/orders.txt" "$files/orders.sql" ;;
    into_outfile) rm -f "$files/orders.csv" ;;
  esac
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A wall=() ucpu=() scpu=()
lake_rows=""
for i in $(seq "$runs"); do
  line="round $i:"
  for k in "${!tools[@]}"; do
    t=${tools[$(((k + i - 1) % ${#tools[@]}))]}
    clean "$t"
    s0=$(cpu_ticks "$server_pid")
    # bash's time: wall, user and system CPU of the tool (with its children).
    times=$({ TIMEFORMAT='%R %U %S'; time eval "${cmd[$t]}" >/dev/null 2>"$work/$t.log"; } 2>&1) ||
      { echo "$t failed:"; cat "$work/$t.log"; exit 1; }
    s1=$(cpu_ticks "$server_pid")
    read -r w u s <<<"$times"
    wall[$t]+="$w "
    ucpu[$t]+="$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}') "
    scpu[$t]+="$(awk -v a="$s0" -v b="$s1" -v hz="$hz" 'BEGIN {print (b - a) / hz}') "
    line+=" $t ${w}s"
    if [[ $t == sluice_* ]]; then
      n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' "$part/_SUCCESS")
      [ "$n" = "$rows" ] || { echo "$t published $n rows, the table has $rows" >&2; exit 1; }
      lake_rows=$n
      lake_bytes=$(cat "$part"/*.parquet | wc -c)
      lake_files=$(ls "$part"/*.parquet | wc -l)
    fi
  done
  echo "$line"
done
csv_bytes=$(stat -c %s "$files/orders.csv")
tab_bytes=$(stat -c %s "$files/orders.txt")
cmp -s "$files/orders.csv" "$files/orders.txt" && same_csv=identical || same_csv=different

echo
echo "command lines (the password comes from etl.cnf / \$SHOP_PASSWORD):"
echo "  sluice_m1      $sluice import --connect $url --password-env SHOP_PASSWORD --table orders -m 1 --lake $lake --date $date"
echo "  sluice_m4      $sluice import --connect $url --password-env SHOP_PASSWORD --table orders -m 4 --lake $lake --date $date"
for t in mysqldump_tab into_outfile raw_client; do printf '  %-14s %s\n' "$t" "${cmd[$t]}"; done
echo "  (before each run: rm -rf the lake / the output files; the server refuses to overwrite an OUTFILE)"

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
args=()
for t in "${tools[@]}"; do
  # shellcheck disable=SC2086
  args+=("$t" "$(median ${wall[$t]})" "$(median ${ucpu[$t]})" "$(median ${scpu[$t]})")
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$rows" "$lake_rows" "$lake_bytes" "$lake_files" "$csv_bytes" "$tab_bytes" "$same_csv" "${args[@]}" <<'PY'
import sys
rows, lake_rows, lake_b, lake_files, csv_b, tab_b = map(int, sys.argv[1:7])
same = sys.argv[7]
a = sys.argv[8:]
m = {a[i]: tuple(map(float, a[i + 1:i + 4])) for i in range(0, len(a), 4)}
label = {
    "sluice_m1": "sluice import -m 1 (Parquet)",
    "sluice_m4": "sluice import -m 4 (Parquet)",
    "mysqldump_tab": "mysqldump --tab (CSV)",
    "into_outfile": "SELECT INTO OUTFILE (CSV)",
    "raw_client": "mariadb --quick --batch",
}
print(f"\nMariaDB -> files, {rows:,} rows, median of runs")
print(f"  {'':30} {'wall s':>8} {'rows/s':>12} {'client CPU s':>13} {'server CPU s':>13}")
for k, (w, u, s) in m.items():
    print(f"  {label[k]:30} {w:8.2f} {rows / w:12,.0f} {u:13.2f} {s:13.2f}")
w = {k: v[0] for k, v in m.items()}
print("\nratios (wall)")
for num, den, target in [("mysqldump_tab", "sluice_m4", ">= 1.5"), ("sluice_m4", "into_outfile", "<= 1.5"),
                         ("sluice_m1", "raw_client", ""), ("sluice_m4", "sluice_m1", "")]:
    r = w[num] / w[den]
    verdict = ""
    if target:
        ok = r >= float(target[3:]) if target[0] == ">" else r <= float(target[3:])
        verdict = f"target {target}: {'met' if ok else 'MISSED'}"
    print(f"  {num + ' / ' + den:30} {r:6.2f}   {verdict}")
print(f"\nrows in the lake partition (_SUCCESS manifest): {lake_rows:,} (table: {rows:,})")
print(f"lake partition {lake_b / 1e6:8.1f} MB in {lake_files} Parquet file(s) (last -m 4 or -m 1 run)")
print(f"CSV (OUTFILE)  {csv_b / 1e6:8.1f} MB, mysqldump --tab .txt {tab_b / 1e6:.1f} MB ({same});"
      f" lake/CSV = {lake_b / csv_b:.2f}")
PY
