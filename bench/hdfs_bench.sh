#!/usr/bin/env bash
# HDFS on loopback against a real cluster (tests/servers/hdfs.py: 1 NameNode + 2 DataNodes,
# replication 2), interleaved, median of REPEAT runs each:
#   1. upload of a SIZE_MB citizens CSV: `sluice dfs put` against curl doing the same two-step
#      WebHDFS CREATE (NameNode, then the DataNode it names). sluice also pays for its safety: a
#      temporary name, a size check and a rename. Ratio curl/sluice: above 1, sluice is faster.
#      Peak RSS shows that sluice streams the file (memory stays bounded). One untimed round
#      first warms up the DataNodes' JVMs.
#   2. download: `sluice dfs get` against `curl -L` of op=OPEN, same reporting; every download
#      is compared with the original byte for byte.
#   3. the citizens example pipeline on ROWS rows with the lake on local disk and on HDFS
#      (lake: webhdfs://..., hdfs: {user: etl}); the lake, the state folder and the warehouse are
#      deleted before every run so each one does the full work. Ratio hdfs/local: the overhead
#      of the lake on HDFS (above 1: HDFS is slower).
# Before every timed run: 2 s for the DataNodes to drop deleted blocks, then sync, so no run
# pays for the writeback of the one before.
#
#   bench/hdfs_bench.sh
#   SIZE_MB=256 REPEAT=1 ROWS=100000 bench/hdfs_bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
[ -x "$build/sluice" ] && [ -x "$build/sluice-gen" ] || { echo "build first: make build" >&2; exit 2; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time) for the peak RSS" >&2; exit 2; }
SIZE_MB=${SIZE_MB:-1024} REPEAT=${REPEAT:-3} ROWS=${ROWS:-1000000} SLUICE=$build/sluice \
  GEN=$build/sluice-gen EXAMPLE=$root/examples/citizens \
  python3 - "$root/tests/servers" <<'PY'
import json, os, re, shutil, statistics, subprocess, sys, tempfile, time, urllib.parse
sys.path.insert(0, sys.argv[1])
from hdfs import HdfsCluster

size_mb, repeat, rows = int(os.environ["SIZE_MB"]), int(os.environ["REPEAT"]), int(os.environ["ROWS"])
sluice, gen, example = os.environ["SLUICE"], os.environ["GEN"], os.environ["EXAMPLE"]
DATE = "2026-11-21"
USER = "etl"


def fail(msg):
    raise SystemExit(f"hdfs_bench: {msg}")


def run(cmd, cwd=None):
    """Run cmd to completion; (wall seconds, peak RSS in MB, stdout). Any non-zero exit fails the
    bench. The RSS comes from GNU time: a child of this Python would inherit Python's own peak
    in its rusage."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        t = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd], stdout=out,
                           stderr=err, stdin=subprocess.DEVNULL, cwd=cwd)
        seconds = time.monotonic() - t
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        peak_kb = rss.read().split()
    if p.returncode != 0:
        fail(f"exit {p.returncode}: {' '.join(cmd)}\n--- stdout ---\n{stdout[-3000:]}\n"
             f"--- stderr ---\n{stderr[-3000:]}")
    return seconds, int(peak_kb[-1]) / 1024, stdout


def generate(path, n):
    run([gen, "citizens", "--rows", str(n), "--out", path])
    return os.path.getsize(path)


def settle():
    """The same start for every timed run: the DataNodes get two heartbeats (1 s each) to drop
    the blocks of the file deleted before, then every dirty page (their block files, the
    local file just written) goes to disk, so no run pays for the one before it."""
    time.sleep(2)
    os.sync()


def same_file(a, b):
    return subprocess.run(["cmp", "-s", a, b]).returncode == 0


work = tempfile.mkdtemp(prefix="sluice-hdfs-bench-")
hdfs = HdfsCluster()
finished = False
try:
    t_all = time.monotonic()
    # A real CSV of about SIZE_MB: bytes per row from a sample, then the full file.
    local = os.path.join(work, "citizens.csv")
    per_row = generate(local, 100_000) / 100_000
    size = generate(local, max(1, round(size_mb * 2**20 / per_row)))
    mb = size / 2**20

    hdfs.start(os.path.join(work, "cluster"))
    hdfs.mkdirs("/bench", owner=USER)
    port = hdfs.http_port
    remote = "/bench/citizens.csv"
    dfs_dir = f"webhdfs://127.0.0.1:{port}/bench/"
    http = f"http://127.0.0.1:{port}/webhdfs/v1"
    q = urllib.parse.urlencode
    create_url = f"{http}{remote}?" + q({"op": "CREATE", "user.name": USER, "overwrite": "true",
                                          "noredirect": "true"})
    open_url = f"{http}{remote}?" + q({"op": "OPEN", "user.name": USER})
    back = os.path.join(work, "back.csv")
    print(f"HDFS on loopback (1 NameNode + 2 DataNodes, replication 2), "
          f"{mb:.0f} MB CSV ({size:,} bytes), median of {repeat}, interleaved")

    def checksum():
        return hdfs._json("GET", remote, "GETFILECHECKSUM", USER)["FileChecksum"]["bytes"]

    # ---- 1. upload ----------------------------------------------------------------------
    def sluice_put():
        t, rss, _ = run([sluice, "dfs", "put", local, dfs_dir, "--user", USER, "--overwrite"])
        return t, rss

    def curl_put():
        t0 = time.monotonic()
        _, rss1, body = run(["curl", "-sS", "-f", "-X", "PUT", create_url])
        try:
            location = json.loads(body)["Location"]
        except (ValueError, KeyError):
            fail(f"CREATE step 1 answered no Location: {body[:500]}")
        _, rss2, code = run(["curl", "-sS", "-X", "PUT", "-T", local, "-H", "Expect:",
                             "-o", "/dev/null", "-w", "%{http_code}", location])
        t = time.monotonic() - t0
        if code.strip() != "201":
            fail(f"curl upload to the DataNode answered HTTP {code.strip()}, not 201")
        return t, max(rss1, rss2)

    put_checksum = None
    put = {"sluice": [], "curl": []}
    # Round 0 warms up the DataNodes' JVMs (their first upload is slower); it is not counted.
    for i in range(repeat + 1):
        order = ["sluice", "curl"] if i % 2 == 0 else ["curl", "sluice"]
        for name in order:
            hdfs.delete(remote, recursive=False, user=USER)
            if hdfs.list("/bench", user=USER):
                fail(f"/bench not empty before an upload: {hdfs.list('/bench', user=USER)}")
            settle()
            result = (sluice_put if name == "sluice" else curl_put)()
            if i > 0:
                put[name].append(result)
            st = hdfs.status(remote, user=USER)
            if st is None or st["length"] != size:
                fail(f"{name} put: {remote} is {st and st['length']} bytes, not {size}")
            if hdfs.list("/bench", user=USER) != ["citizens.csv"]:
                fail(f"{name} put left {hdfs.list('/bench', user=USER)} in /bench")
            c = checksum()
            if put_checksum is None:
                put_checksum = c
            elif c != put_checksum:
                fail(f"{name} put: the file's HDFS checksum differs from the first upload's")

    # ---- 2. download (of the file the last upload left) -------------------------------
    def sluice_get():
        t, rss, _ = run([sluice, "dfs", "get", f"webhdfs://127.0.0.1:{port}{remote}", back,
                         "--user", USER, "--overwrite"])
        return t, rss

    def curl_get():
        t, rss, code = run(["curl", "-sS", "-L", "-o", back, "-w", "%{http_code}", open_url])
        if code.strip() != "200":
            fail(f"curl OPEN answered HTTP {code.strip()}, not 200")
        return t, rss

    get = {"sluice": [], "curl": []}
    for i in range(repeat):
        order = ["sluice", "curl"] if i % 2 == 0 else ["curl", "sluice"]
        for name in order:
            if os.path.exists(back):
                os.unlink(back)
            settle()
            get[name].append((sluice_get if name == "sluice" else curl_get)())
            if os.path.getsize(back) != size or not same_file(local, back):
                fail(f"{name} get: the downloaded file differs from the original")
    os.unlink(back)
    hdfs.delete(remote, recursive=False, user=USER)

    def report(op, results):
        base = statistics.median(t for t, _ in results["sluice"])
        for name, res in results.items():
            t = statistics.median(x for x, _ in res)
            rss = max(r for _, r in res)
            ratio = "" if name == "sluice" else f"  ratio curl/sluice {t / base:.2f}x"
            print(f"  {op} {name:7s} {t:7.2f} s  {mb / t:7.1f} MB/s  peak RSS {rss:6.1f} MB{ratio}")
        print(f"      runs: " + "; ".join(
            f"{name} " + " ".join(f"{t:.2f}" for t, _ in res) for name, res in results.items()))

    report("put", put)
    report("get", get)

    # ---- 3. the citizens pipeline, lake local vs lake on HDFS --------------------------
    pipe = os.path.join(work, "citizens")
    shutil.copytree(example, pipe, ignore=shutil.ignore_patterns(
        "incoming", "lake", ".sluice", "warehouse.duckdb*"))
    os.makedirs(os.path.join(pipe, "incoming"))
    csv = os.path.join(pipe, "incoming", f"citizens_data_{DATE.replace('-', '')}.csv")
    csv_bytes = generate(csv, rows)
    with open(os.path.join(pipe, "pipeline.yaml")) as f:
        text = f.read()
    if len(re.findall(r"(?m)^lake: \./lake$", text)) != 1:
        fail("examples/citizens/pipeline.yaml has no single 'lake: ./lake' line")
    hdfs_lake = "/bench/lake"
    with open(os.path.join(pipe, "pipeline-hdfs.yaml"), "w") as f:
        f.write(re.sub(r"(?m)^lake: \./lake$",
                       f"lake: webhdfs://127.0.0.1:{port}{hdfs_lake}\nhdfs: {{user: {USER}}}", text))
    yamls = {"local": "pipeline.yaml", "hdfs": "pipeline-hdfs.yaml"}

    def parse_seconds(s):
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", s)
        if not parts or "".join(n + u for n, u in parts) != s:
            return None
        return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)

    def task_times(out):
        """task -> seconds from the run summary table (columns task, status, attempts, time)."""
        times, in_table = {}, False
        for line in out.splitlines():
            cols = line.split()
            if cols[:4] == ["task", "status", "attempts", "time"]:
                in_table = True
            elif in_table and len(cols) >= 4 and cols[2].isdigit():
                times[cols[0]] = parse_seconds(cols[3])
            elif in_table:
                in_table = False
        return times

    def pipeline_run(where):
        for name in ("lake", ".sluice", "warehouse.duckdb", "warehouse.duckdb.wal"):
            path = os.path.join(pipe, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.unlink(path)
        hdfs.delete(hdfs_lake, recursive=True, user=USER)
        settle()
        t, rss, out = run([sluice, "run", yamls[where], "--date", DATE], cwd=pipe)
        if where == "hdfs":
            if not hdfs.status(hdfs_lake, user=USER) or not hdfs.list(hdfs_lake, user=USER):
                fail("the HDFS run left no lake on HDFS")
            if os.path.exists(os.path.join(pipe, "lake")):
                fail("the HDFS run wrote a local ./lake")
        elif not os.listdir(os.path.join(pipe, "lake")):
            fail("the local run left an empty ./lake")
        return t, rss, task_times(out)

    runs = {"local": [], "hdfs": []}
    for i in range(repeat):
        for where in (["local", "hdfs"] if i % 2 == 0 else ["hdfs", "local"]):
            runs[where].append(pipeline_run(where))
    print(f"\ncitizens pipeline, {rows:,} rows ({csv_bytes / 2**20:.0f} MB CSV), "
          f"`sluice run --date {DATE}`, median of {repeat}")
    med = {w: statistics.median(t for t, _, _ in r) for w, r in runs.items()}
    for where, res in runs.items():
        rss = max(r for _, r, _ in res)
        ratio = "" if where == "local" else f"  ratio hdfs/local {med['hdfs'] / med['local']:.2f}x"
        print(f"  lake {where:5s} {med[where]:7.2f} s  peak RSS {rss:6.1f} MB{ratio}")
    print(f"      runs: " + "; ".join(
        f"{w} " + " ".join(f"{t:.2f}" for t, _, _ in r) for w, r in runs.items()))
    tasks = list(runs["local"][0][2])
    if tasks:
        print("  per task (median of the run summary's time column):")
        print(f"    {'task':25s} {'local':>8s} {'hdfs':>8s}")
        for task in tasks:
            cells = []
            for where in ("local", "hdfs"):
                vals = [r[2].get(task) for r in runs[where]]
                cells.append(f"{statistics.median(vals):7.1f}s" if None not in vals else "       ?")
            print(f"    {task:25s} {cells[0]:>8s} {cells[1]:>8s}")
    print(f"\ntotal {time.monotonic() - t_all:.0f} s (with generating the data and starting the cluster)")
    finished = True
finally:
    hdfs.cleanup(ignore_errors=not finished)
    shutil.rmtree(work, ignore_errors=True)
PY
