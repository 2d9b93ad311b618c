#!/usr/bin/env bash
# The citizens daily transforms through sluice and its peers on this machine, in one run:
#   sluice       examples/citizens with only its transforms (ingest_citizens: CSV -> raw
#                Parquet with rejects; clean_citizens: the latest-row dedupe -> staging; the two
#                marts), `sluice run` on the embedded engine;
#   duckdb       the same SQL in DuckDB alone (Python duckdb 1.4.4, the same library, its
#                default settings): read_csv with the declared columns and ignore_errors=true
#                -> raw Parquet, then each model's SQL -> Parquet;
#   polars       the same work with Polars 2.1 (lazy frames, streaming sinks);
#   spark        the same SQL on Spark 4.3 local[2] (pyspark from scripts/servers/spark.sh:
#                driver memory 4g, spark.sql.shuffle.partitions=4, CSV mode DROPMALFORMED).
# The ways are interleaved (the order rotates every round), each a process of its own, timed
# whole (wall time, peak RSS by GNU time), median of REPEAT. Ratios: above 1, the peer is slower
# than sluice. Then the staging row counts are compared (each peer's CSV error handling
# differs: said where it does) and the marts by a fingerprint of their rows.
#
#   bench/peers.sh
#   ROWS=500000 REPEAT=1 bench/peers.sh
#
# Environment: ROWS (default 6000000, about 1 GB), REPEAT (2), DATE (2026-11-21), PEERS (the
# ways to run, default "sluice duckdb polars spark"), BUILD (the build folder). Polars goes into
# its own venv (bench/peers-requirements.txt, sha256-pinned) under the user cache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
[ -x "$build/sluice" ] && [ -x "$build/sluice-gen" ] || { echo "build first: make build" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time) for the peak RSS" >&2; exit 2; }
cache=${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}
peers=${PEERS:-sluice duckdb polars spark}

if [[ " $peers " == *" polars "* ]]; then
  venv=$cache/peers-venv
  if ! "$venv/bin/python" -c "import polars; assert polars.__version__ == '2.1.0'" 2>/dev/null; then
    echo "peers: installing Polars 2.1.0 into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps \
      --only-binary :all: -r "$root/bench/peers-requirements.txt"
  fi
  export POLARS_PYTHON=$venv/bin/python
fi
if [[ " $peers " == *" spark "* ]]; then
  bash "$root/scripts/servers/spark.sh" install >/dev/null
  export SPARK_PYTHON=$cache/spark-4.3.0/venv/bin/python
fi
python3 -c "import duckdb; assert duckdb.__version__ == '1.4.4'" ||
  { echo "needs Python duckdb 1.4.4 (scripts/install-deps.sh)" >&2; exit 2; }

ROWS=${ROWS:-6000000} REPEAT=${REPEAT:-2} DATE=${DATE:-2026-11-21} PEERS=$peers \
  SLUICE=$build/sluice GEN=$build/sluice-gen EXAMPLE=$root/examples/citizens \
  python3 - <<'PY'
import json, os, re, shutil, statistics, subprocess, sys, tempfile, time

import duckdb
import yaml

rows, repeat, DATE = int(os.environ["ROWS"]), int(os.environ["REPEAT"]), os.environ["DATE"]
example, sluice = os.environ["EXAMPLE"], os.environ["SLUICE"]
peers = os.environ["PEERS"].split()
MODELS = ("clean_citizens", "citizens_by_region", "income_by_city_age_band")
KEEP = ("ingest_citizens",) + MODELS


def fail(msg):
    raise SystemExit(f"peers: {msg}")


def tree_rss(sid):
    """The summed RSS in kB of the processes of session sid (a Python driver and its JVM)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
            if int(stat[stat.rindex(")") + 2:].split()[3]) != sid:
                continue
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def timed(cmd, cwd=None, env=None):
    """(wall seconds, peak RSS MB, stdout) of cmd; a failure ends the bench with its output.
    The peak is GNU time's for the process, or the sampled sum over its process tree (every
    0.2 s) when that is larger: pyspark's JVM is a child that GNU time does not see."""
    with tempfile.NamedTemporaryFile("r") as rss, tempfile.TemporaryFile("w+") as out, \
            tempfile.TemporaryFile("w+") as err:
        t = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd], cwd=cwd,
                             env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        sampled = 0
        while p.poll() is None:
            sampled = max(sampled, tree_rss(p.pid))
            time.sleep(0.2)
        seconds = time.monotonic() - t
        peak = rss.read().split()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode != 0:
        fail(f"exit {p.returncode}: {' '.join(cmd)}\n{stdout[-4000:]}\n{stderr[-4000:]}")
    return seconds, max(int(peak[-1]), sampled) / 1024, stdout


work = tempfile.mkdtemp(prefix="sluice-peers-")
pipe = os.path.join(work, "citizens")
shutil.copytree(example, pipe, ignore=shutil.ignore_patterns(
    "incoming", "lake", ".sluice", "warehouse.duckdb*"))
spec = yaml.safe_load(open(os.path.join(pipe, "pipeline.yaml")))
ingest = next(t for t in spec["tasks"] if t["id"] == "ingest_citizens")
COLUMNS = ingest["columns"]
spec["tasks"] = [t for t in spec["tasks"] if t["id"] in KEEP]
for t in spec["tasks"]:
    t["after"] = [a for a in t.get("after", []) if a in KEEP]
    if not t["after"]:
        t.pop("after")
with open(os.path.join(pipe, "transforms.yaml"), "w") as f:
    yaml.safe_dump(spec, f, sort_keys=False)
os.makedirs(os.path.join(pipe, "incoming"))
csv = os.path.join(pipe, "incoming", f"citizens_data_{DATE.replace('-', '')}.csv")
t_gen, _, _ = timed([os.environ["GEN"], "citizens", "--rows", str(rows), "--out", csv])


def model_sql(name, refs):
    sql = open(os.path.join(pipe, "models", f"{name}.sql")).read()
    sql = re.sub(r"\{\{\s*ref\(\s*'([^']+)'\s*\)\s*\}\}", lambda m: refs[m.group(1)], sql)
    return re.sub(r"\{\{\s*ds\s*\}\}", DATE, sql)


# ---- the peers' scripts: each prints "PEER {json}" with its row counts and step times --------
DUCKDB_PY = r'''
import duckdb, json, sys, time
job = json.load(open(sys.argv[1]))
out, steps = job["out"], {}
con = duckdb.connect()
cols = ", ".join(f"'{k}': '{v}'" for k, v in job["columns"].items())
t = time.monotonic()
con.execute(f"COPY (SELECT * FROM read_csv('{job['csv']}', header = true, columns = {{{cols}}}, "
            f"ignore_errors = true)) TO '{out}/raw.parquet' (FORMAT parquet)")
steps["ingest_citizens"] = time.monotonic() - t
for name, sql in job["models"].items():
    t = time.monotonic()
    con.execute(f"COPY ({sql}) TO '{out}/{name}.parquet' (FORMAT parquet)")
    steps[name] = time.monotonic() - t
print("PEER " + json.dumps({"steps": steps}))
'''

POLARS_PY = r'''
import json, sys, time
import polars as pl
job = json.load(open(sys.argv[1]))
out, steps, ds = job["out"], {}, job["date"]
T = {"BIGINT": pl.Int64, "VARCHAR": pl.String, "DATE": pl.Date, "TIMESTAMP": pl.Datetime("us"),
     "DECIMAL(12,2)": pl.Decimal(12, 2)}
schema = {k: T[v] for k, v in job["columns"].items()}
t = time.monotonic()
# ignore_errors: a value that does not parse becomes NULL (the row stays); ragged rows are cut;
# invalid UTF-8 becomes U+FFFD (Polars fails on it otherwise).
pl.scan_csv(job["csv"], schema=schema, ignore_errors=True, truncate_ragged_lines=True,
            encoding="utf8-lossy") \
    .sink_parquet(f"{out}/raw.parquet")
steps["ingest_citizens"] = time.monotonic() - t

t = time.monotonic()
day = pl.lit(ds).str.to_date()
raw = pl.scan_parquet(f"{out}/raw.parquet")
latest = raw.filter(pl.col("updated_at").rank("ordinal", descending=True).over("citizen_id") == 1)
staging = latest.filter((pl.col("birth_date") <= day) & (pl.col("annual_income") >= 0)).select(
    "citizen_id", pl.col("first_name").str.strip_chars(), pl.col("last_name").str.strip_chars(),
    "gender", "birth_date", pl.col("email").str.strip_chars().str.to_lowercase(), "phone",
    "street", "city", "region", "postal_code", "occupation", "annual_income", "registered_at",
    "updated_at")
staging.sink_parquet(f"{out}/clean_citizens.parquet")
steps["clean_citizens"] = time.monotonic() - t


def money():
    n = pl.len()
    total = pl.col("annual_income").sum()
    avg = ((total.cast(pl.Float64) * 200 + n) / (2 * n)).floor() * 0.01
    return [n.alias("citizens"), total.cast(pl.Decimal(18, 2)).alias("total_income"),
            avg.round(2).cast(pl.Decimal(14, 2)).alias("avg_income")]


staged = pl.scan_parquet(f"{out}/clean_citizens.parquet")
t = time.monotonic()
staged.group_by("region").agg(money()).sort("region") \
    .sink_parquet(f"{out}/citizens_by_region.parquet")
steps["citizens_by_region"] = time.monotonic() - t
t = time.monotonic()
d = pl.col("birth_date")
age = (day.dt.year() - d.dt.year()
       - pl.when((d.dt.month() > day.dt.month())
                 | ((d.dt.month() == day.dt.month()) & (d.dt.day() > day.dt.day())))
       .then(1).otherwise(0))
band = (pl.when(age < 18).then(pl.lit("0-17")).when(age < 30).then(pl.lit("18-29"))
        .when(age < 45).then(pl.lit("30-44")).when(age < 65).then(pl.lit("45-64"))
        .otherwise(pl.lit("65+")))
staged.with_columns(band.alias("age_band")).group_by("region", "city", "age_band") \
    .agg(money()).sort("region", "city", "age_band") \
    .sink_parquet(f"{out}/income_by_city_age_band.parquet")
steps["income_by_city_age_band"] = time.monotonic() - t
print("PEER " + json.dumps({"steps": steps}))
'''

SPARK_PY = r'''
import json, sys, time
t0 = time.monotonic()
from pyspark.sql import SparkSession
job = json.load(open(sys.argv[1]))
out, steps = job["out"], {}
spark = (SparkSession.builder.master("local[2]").appName("sluice-peers")
         .config("spark.driver.memory", "4g").config("spark.sql.shuffle.partitions", "4")
         .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
         .config("spark.sql.timestampType", "TIMESTAMP_NTZ").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
steps["session"] = time.monotonic() - t0
T = {"BIGINT": "BIGINT", "VARCHAR": "STRING", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP",
     "DECIMAL(12,2)": "DECIMAL(12,2)"}
schema = ", ".join(f"{k} {T[v]}" for k, v in job["columns"].items())
t = time.monotonic()
spark.read.schema(schema).option("header", True).option("mode", "DROPMALFORMED") \
    .option("escape", '"').csv(job["csv"]).write.mode("overwrite").parquet(f"{out}/raw.parquet")
spark.read.parquet(f"{out}/raw.parquet").createOrReplaceTempView("raw_citizens")
steps["ingest_citizens"] = time.monotonic() - t
for name, sql in job["models"].items():
    t = time.monotonic()
    spark.sql(sql).write.mode("overwrite").parquet(f"{out}/{name}.parquet")
    spark.read.parquet(f"{out}/{name}.parquet").createOrReplaceTempView(
        "staging_citizens" if name == "clean_citizens" else name)
    steps[name] = time.monotonic() - t
spark.stop()
print("PEER " + json.dumps({"steps": steps}))
'''


def job_file(way, refs):
    out = os.path.join(work, way)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(work, f"{way}.json")
    json.dump({"csv": csv, "out": out, "date": DATE, "columns": COLUMNS,
               "models": {m: model_sql(m, refs(out)) for m in MODELS}}, open(path, "w"))
    return out, path


ways = {}
for peer in peers:
    if peer == "sluice":
        ways[peer] = {"cmd": [sluice, "run", "transforms.yaml", "--date", DATE], "cwd": pipe,
                      "out": os.path.join(pipe, "lake")}
        continue
    script = os.path.join(work, f"peer_{peer}.py")  # not duckdb.py: it would shadow the module
    open(script, "w").write({"duckdb": DUCKDB_PY, "polars": POLARS_PY, "spark": SPARK_PY}[peer])
    if peer == "spark":
        refs = lambda out: {"raw.citizens": "raw_citizens", "staging.citizens": "staging_citizens"}
    else:
        refs = lambda out: {"raw.citizens": f"read_parquet('{out}/raw.parquet')",
                            "staging.citizens": f"read_parquet('{out}/clean_citizens.parquet')"}
    out, job = job_file(peer, refs)
    python = {"duckdb": sys.executable, "polars": os.environ.get("POLARS_PYTHON"),
              "spark": os.environ.get("SPARK_PYTHON")}[peer]
    ways[peer] = {"cmd": [python, script, job], "cwd": work, "out": out}
if not ways:
    fail(f"PEERS names no known way (sluice duckdb polars spark): {peers}")

print(f"citizens daily transforms, {rows:,} rows ({os.path.getsize(csv) / 2**20:.0f} MB CSV, "
      f"generated in {t_gen:.0f} s), ds {DATE}, median of {repeat}, the ways interleaved")
results = {w: [] for w in ways}
steps = {}


def step_times(way, stdout):
    """{step: seconds}: sluice's from its run summary's time column, a peer's from its own
    PEER line."""
    if way != "sluice":
        line = next((l for l in stdout.splitlines() if l.startswith("PEER ")), None)
        return json.loads(line[5:])["steps"] if line else {}
    out = {}
    for line in stdout.splitlines():
        cols = line.split()
        if len(cols) >= 4 and cols[0] in KEEP and cols[1] == "success":
            m = re.fullmatch(r"(?:(\d+)m)?([\d.]+)s", cols[3])
            if m:
                out[cols[0]] = int(m.group(1) or 0) * 60 + float(m.group(2))
    return out
order = list(ways)
for r in range(repeat):
    for way in order[r % len(order):] + order[:r % len(order)]:
        if way == "sluice":
            for name in ("lake", ".sluice"):
                shutil.rmtree(os.path.join(pipe, name), ignore_errors=True)
        else:
            shutil.rmtree(ways[way]["out"], ignore_errors=True)
            os.makedirs(ways[way]["out"])
        os.sync()
        time.sleep(1)
        seconds, peak, stdout = timed(ways[way]["cmd"], cwd=ways[way]["cwd"])
        results[way].append((seconds, peak))
        steps.setdefault(way, []).append(step_times(way, stdout))
        print(f"  round {r + 1}: {way:<8} {seconds:7.2f} s  peak RSS {peak:7.0f} MB", flush=True)
        ways[way]["stdout"] = stdout


def median(way, i):
    return statistics.median(x[i] for x in results[way])


print("\nwall time (median), peak RSS")
for way in ways:
    print(f"  {way:<8} {median(way, 0):7.2f} s  {median(way, 1):7.0f} MB")
if "sluice" in ways:
    for way in ways:
        if way != "sluice":
            print(f"  ratio {way}/sluice {median(way, 0) / median('sluice', 0):6.2f}x")

print("\nper step, median (sluice: the run summary; the models of the marts run in parallel "
      "there; a peer: its own timing)")
print("  " + f"{'step':<26}" + "".join(f"{w:>10}" for w in ways))
for step in ("session",) + KEEP:
    cells = []
    for w in ways:
        values = [r[step] for r in steps.get(w, []) if step in r]
        cells.append(f"{statistics.median(values):9.2f}s" if values else f"{'-':>10}")
    if any(c.strip() != "-" for c in cells):
        print(f"  {step:<26}" + "".join(cells))

# ---- the same answers? ----------------------------------------------------------------------
def files(way, dataset):
    if way == "sluice":
        zone, name = dataset.split(".")
        return f"'{ways[way]['out']}/{zone}/{name}/ds={DATE}/*.parquet'"
    name = {"raw.citizens": "raw", "staging.citizens": "clean_citizens"}.get(
        dataset, dataset.split(".")[1])
    return f"'{ways[way]['out']}/{name}.parquet/**/*.parquet'" if way == "spark" else \
        f"'{ways[way]['out']}/{name}.parquet'"


MART_KEYS = {"marts.citizens_by_region": "region",
             "marts.income_by_city_age_band": "region, city, age_band"}
print("\nrows")
for dataset in ("raw.citizens", "staging.citizens"):
    counts = {w: duckdb.sql(f"SELECT count(*) FROM read_parquet({files(w, dataset)})").fetchone()[0]
              for w in ways}
    print(f"  {dataset:<18} " + "  ".join(f"{w} {n:,}" for w, n in counts.items()))
print("  (sluice rejects what does not fit the declared types into rejects.raw_citizens; DuckDB "
      "alone drops such rows (ignore_errors); Polars keeps the row with NULL in the field and "
      "invalid UTF-8 as U+FFFD; Spark drops it (DROPMALFORMED) but keeps invalid UTF-8 as "
      "U+FFFD)")
print("marts (rows, md5 of every row in key order)")
for mart, keys in MART_KEYS.items():
    prints = {}
    for w in ways:
        cols = "region, citizens, total_income, avg_income" if "region" == keys else \
            "region, city, age_band, citizens, total_income, avg_income"
        cast = ", ".join(f"CAST({c} AS VARCHAR)" for c in cols.split(", "))
        prints[w] = duckdb.sql(
            f"SELECT count(*), md5(string_agg(concat_ws('|', {cast}), chr(10) ORDER BY {keys})) "
            f"FROM read_parquet({files(w, mart)})").fetchone()
    print(f"  {mart:<32} " + "  ".join(f"{w} {n} {h[:8]}" for w, (n, h) in prints.items()))
shutil.rmtree(work, ignore_errors=True)
PY
