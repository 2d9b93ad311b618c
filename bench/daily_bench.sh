#!/usr/bin/env bash
# The seeds' whole daily job on this machine, in one `sluice run` on the embedded engine:
#   ingest_citizens   a citizens CSV (CSV_ROWS rows; 37M is about 6.5 GB) -> raw.citizens
#   import_shop       every table of a shop database in MariaDB (SHOP_ROWS orders, made by
#                     sluice-gen shop) -> shop.*
#   the models        examples/citizens' dedupe and two marts, and revenue per region and day
#                     from the shop's orders, customers and regions
#   the checks        examples/citizens' checks and one on the shop mart
#   the loads         into PostgreSQL: the marts (replace) and the citizens (merge on citizen_id)
# MariaDB and PostgreSQL are private servers started for the run (scripts/servers/). Prints the
# wall time, the peak RSS, and each task's time and its share of the run's wall time (tasks
# run in parallel where the graph allows, so shares add up to more than 100%).
#
#   bench/daily_bench.sh                                  # 37M citizens, 10M orders
#   CSV_ROWS=1000000 SHOP_ROWS=200000 bench/daily_bench.sh
#
# Environment: CSV_ROWS, SHOP_ROWS, MY_PORT (55493), PG_PORT (55492), BUFFER_POOL (4G),
# KEEP=1 keeps the work folder (its path is printed), BUILD (the build folder).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
csv_rows=${CSV_ROWS:-37000000}
shop_rows=${SHOP_ROWS:-10000000}
my_port=${MY_PORT:-55493}
pg_port=${PG_PORT:-55492}
pool=${BUFFER_POOL:-4G}
date=2026-11-21
sluice=$build/sluice
[ -x "$sluice" ] && [ -x "$build/sluice-gen" ] || { echo "build first: make build" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time) for the peak RSS" >&2; exit 2; }

work=$(mktemp -d /tmp/sluice-daily-bench.XXXXXX)
chmod 755 "$work" # the servers run as their own users and must reach their folders
cleanup() {
  bash "$root/scripts/servers/mariadb.sh" stop "$work/my" >/dev/null 2>&1 || true
  bash "$root/scripts/servers/postgres.sh" stop "$work/pg" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
bash "$root/scripts/servers/mariadb.sh" install >/dev/null 2>&1
bash "$root/scripts/servers/postgres.sh" install >/dev/null 2>&1
bash "$root/scripts/servers/mariadb.sh" start "$work/my" "$my_port" >/dev/null
bash "$root/scripts/servers/postgres.sh" start "$work/pg" "$pg_port" >/dev/null
admin() { mariadb --no-defaults --socket="$work/my/mysqld.sock" --user="$(id -un)" -N --batch -e "$1"; }
admin "SET GLOBAL innodb_buffer_pool_size = $(numfmt --from=iec "$pool")"

cd "$work"
printf etl >pass && chmod 600 pass
export SHOP_PASSWORD=etl
t0=$(date +%s)
"$build/sluice-gen" shop --connect "mysql://etl@127.0.0.1:$my_port/shop" --password-env SHOP_PASSWORD \
  --rows "$shop_rows" >gen-shop.log 2>&1 || { cat gen-shop.log; exit 1; }
t1=$(date +%s)
mkdir -p incoming
"$build/sluice-gen" citizens --rows "$csv_rows" --out "incoming/citizens_data_${date//-/}.csv" >gen-citizens.log 2>&1
t2=$(date +%s)
csv_bytes=$(stat -c %s "incoming/citizens_data_${date//-/}.csv")
shop_sizes=$(admin "SELECT GROUP_CONCAT(CONCAT(table_name, ' ', table_rows) ORDER BY table_name SEPARATOR ', ') FROM information_schema.tables WHERE table_schema = 'shop'")

# The pipeline: examples/citizens-postgres, plus the shop's import, model, check and load.
EXAMPLE=$root/examples/citizens-postgres MODELS=$root/examples/citizens/models \
  MY_PORT=$my_port PG_PORT=$pg_port python3 - <<'PY'
import os, yaml
p = yaml.safe_load(open(os.path.join(os.environ["EXAMPLE"], "pipeline.yaml")))
p["pipeline"] = "daily_bench"
p["connections"] = {
    "dwh": {"type": "postgres", "host": "127.0.0.1", "port": os.environ["PG_PORT"],
            "database": "sluice_test", "user": "etl", "password": "${file:pass}"},
    "shop": {"type": "mysql", "host": "127.0.0.1", "port": os.environ["MY_PORT"],
             "database": "shop", "user": "etl", "password": "${file:pass}"},
}
for t in p["tasks"]:
    if t.get("kind") == "sql":
        t["sql"] = os.path.join(os.environ["MODELS"], os.path.basename(t["sql"]))
p["tasks"] += [
    {"id": "import_shop", "kind": "db_import", "connection": "shop", "tables": "all", "zone": "shop",
     "parallel": 2},
    {"id": "revenue_by_region", "kind": "sql", "into": "marts.revenue_by_region", "sql":
     "SELECT r.name AS region, o.order_date, o.status, count(*) AS orders,\n"
     "       sum(o.total) AS revenue\n"
     "FROM {{ ref('shop.orders') }} o\n"
     "JOIN {{ ref('shop.customers') }} c USING (customer_id)\n"
     "JOIN {{ ref('shop.regions') }} r USING (region_id)\n"
     "GROUP BY 1, 2, 3\n"},
    {"id": "check_shop", "kind": "check", "dataset": "marts.revenue_by_region", "expect": [
        {"row_count": {"min": 1}},
        {"name": "every_order_counted", "sql":
         "SELECT m.n, o.n FROM (SELECT sum(orders) AS n FROM {{ ref('marts.revenue_by_region') }}) m,\n"
         "  (SELECT count(*) AS n FROM {{ ref('shop.orders') }}) o WHERE m.n <> o.n\n"}]},
    {"id": "load_shop", "kind": "db_load", "after": ["check_shop"], "connection": "dwh",
     "datasets": {"marts.revenue_by_region": "marts.revenue_by_region"}, "mode": "replace"},
]
yaml.safe_dump(p, open("pipeline.yaml", "w"), sort_keys=False)
PY
"$sluice" validate pipeline.yaml >/dev/null

echo "sluice daily job, $(date -u '+%F %T') UTC, sluice $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "  machine   $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GB RAM, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  citizens  $csv_rows rows, $(numfmt --to=iec "$csv_bytes")B CSV (generated in $((t2 - t1)) s)"
echo "  shop      MariaDB $(admin 'SELECT VERSION()'), $shop_rows orders ($shop_sizes, by information_schema's estimate; made in $((t1 - t0)) s)"
echo "  warehouse PostgreSQL $(PGPASSWORD=etl psql -h 127.0.0.1 -p "$pg_port" -U etl -At sluice_test -c 'SHOW server_version' 2>/dev/null <<<'' || echo '?') on 127.0.0.1"
echo

/usr/bin/time -f "%e %M" -o time.txt "$sluice" run pipeline.yaml --date "$date" >run.log 2>&1 ||
  { tail -40 run.log; exit 1; }
read -r wall rss <time.txt
python3 - "$wall" "$rss" <<'PY'
import re, sys
wall, rss = float(sys.argv[1]), int(sys.argv[2])
text = open("run.log").read()
def seconds(s):
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?", s)
    if not m or s in ("", "-"):
        return None
    h, mi, se = m.groups()
    return int(h or 0) * 3600 + int(mi or 0) * 60 + float(se or 0)
rows, table = [], False
for line in text.splitlines():
    if re.match(r"\s+task\s+status\s+attempts\s+time", line):
        table = True
        continue
    if table:
        f = line.split()
        if len(f) < 7 or f[1] not in ("success", "failed", "skipped", "upstream_failed"):
            break
        rows.append((f[0], f[1], seconds(f[3]), f[4], f[5], f[6]))
print(f"{'task':24s} {'status':8s} {'time':>8s} {'share':>6s} {'read':>14s} {'loaded':>14s}")
for name, status, secs, read, loaded, rejected in rows:
    t = f"{secs:7.1f}s" if secs is not None else "       -"
    share = f"{100 * secs / wall:5.0f}%" if secs is not None else "     -"
    print(f"{name:24s} {status:8s} {t} {share} {read:>14s} {loaded:>14s}")
print(f"\nwhole run: {wall:.1f} s wall, peak RSS {rss / 1024:,.0f} MB"
      f" (target: under 60 s on 2 cores)")
if any(r[1] != "success" for r in rows):
    sys.exit("a task did not succeed: see run.log")
PY
