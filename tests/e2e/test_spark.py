"""The Spark engine against a real Spark standalone cluster (a master, two workers, a Spark
Connect server: tests/servers/spark.py): the citizens example publishes on Spark what it
publishes on the embedded engine (types included), the work runs on the workers' executors,
a model Spark rejects is named with Spark's message, an unreachable server fails clearly and
is retried by policy, and Ctrl-C cancels the job on the cluster.

The cluster runs once per session: keep every Spark test in this file."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from conftest import copy_tree, run_gen, run_sluice, state_query, wait_for

REPO = Path(__file__).resolve().parents[2]

DS = "2026-11-21"
DATASETS = ["raw.citizens", "staging.citizens", "marts.citizens_by_region",
            "marts.income_by_city_age_band"]


def citizens(folder: Path, engine: str = "", rows: int = 20000) -> Path:
    copy_tree(REPO / "examples" / "citizens", folder)
    p = folder / "pipeline.yaml"
    if engine:
        p.write_text(p.read_text().replace("state: ./.sluice\n", f"state: ./.sluice\n{engine}\n"))
    csv = folder / "incoming" / f"citizens_data_{DS.replace('-', '')}.csv"
    if not csv.exists():
        run_gen("citizens", "--rows", rows, "--out", csv, expect=0)
    return p


def spark_engine(cluster, extra: str = "") -> str:
    return f'engine: {{type: spark, remote: "{cluster.connect_url}"{extra}}}'


def published(lake: Path, dataset: str):
    """(columns with types, sorted rows) of a partition, read by DuckDB from the files."""
    zone, name = dataset.split(".")
    files = sorted(str(f) for f in (lake / zone / name / f"ds={DS}").glob("*.parquet"))
    assert files, dataset
    rel = duckdb.sql(f"SELECT * FROM read_parquet({files!r}, hive_partitioning = false)")
    return list(zip(rel.columns, map(str, rel.types))), sorted(rel.fetchall(), key=repr)


def completed_tasks(cluster) -> dict:
    return {e["id"]: e["completedTasks"] for e in cluster.executors()}


def test_citizens_on_spark_publishes_what_the_embedded_engine_does(spark_cluster, tmp_path):
    local = citizens(tmp_path / "local")
    remote = citizens(tmp_path / "spark", spark_engine(spark_cluster))
    csv = f"incoming/citizens_data_{DS.replace('-', '')}.csv"
    (tmp_path / "spark" / csv).write_bytes((tmp_path / "local" / csv).read_bytes())
    before = completed_tasks(spark_cluster)

    run_sluice("run", local, "--date", DS, expect=0)
    r = run_sluice("run", remote, "--date", DS, expect=0)

    for dataset in DATASETS:
        want = published(tmp_path / "local" / "lake", dataset)
        got = published(tmp_path / "spark" / "lake", dataset)
        assert got[0] == want[0], f"{dataset}: types differ"
        assert got[1] == want[1], f"{dataset}: rows differ"
        assert got[1]
    # Spark's own files stay out of the lake: only sluice's manifest and the data files.
    for path in (tmp_path / "spark" / "lake").rglob("*"):
        assert not path.name.endswith(".crc") and ".spark-" not in str(path), path
    assert not (tmp_path / "spark" / "lake" / "_staging").exists()
    # The executors on the two workers did the work, not the driver.
    after = completed_tasks(spark_cluster)
    workers = [e for e in after if e != "driver"]
    assert len(workers) == 2
    assert sum(after[e] - before.get(e, 0) for e in workers) > 0
    assert after.get("driver", 0) == before.get("driver", 0)
    # An ad-hoc query on the cluster reads the same lake.
    q = run_sluice("query", "--pipeline", remote, "--engine", "spark", "--date", DS, "--format",
                   "csv", "SELECT count(*) AS n FROM {{ ref('staging.citizens') }}", expect=0)
    assert q.stdout.strip().splitlines()[-1] == str(len(published(tmp_path / "local" / "lake",
                                                                  "staging.citizens")[1]))
    # The models ran on Spark: their logs say so.
    log = next((tmp_path / "spark" / ".sluice" / "logs").rglob("clean_citizens.1.log")).read_text()
    assert "spark" in log.lower(), log


def test_one_task_on_spark_the_rest_embedded(spark_cluster, tmp_path):
    p = tmp_path / "pipeline.yaml"
    p.write_text(f"""
pipeline: mixed
engine: {{remote: "{spark_cluster.connect_url}"}}
tasks:
  - id: nums
    kind: sql
    into: raw.nums
    sql: SELECT range AS n FROM range(10)
  - id: doubled
    kind: sql
    engine: spark
    into: marts.doubled
    sql: SELECT CAST(n * 2 AS BIGINT) AS n2 FROM {{{{ ref('raw.nums') }}}}
  - id: check
    kind: check
    engine: spark
    dataset: marts.doubled
    expect: [{{unique: n2}}, {{row_count: {{min: 10, max: 10}}}}]
""")
    run_sluice("run", p, "--date", DS, expect=0)
    cols, rows = published(tmp_path / "lake", "marts.doubled")
    assert cols == [("n2", "BIGINT")]
    assert sorted(r[0] for r in rows) == list(range(0, 20, 2))


def test_a_model_spark_rejects_is_named_with_sparks_message(spark_cluster, tmp_path):
    p = tmp_path / "pipeline.yaml"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "bad.sql").write_text(
        "-- DuckDB-only syntax\nSELECT * EXCLUDE (n)\nFROM {{ ref('raw.nums') }}\n")
    p.write_text(f"""
pipeline: bad
engine: {{remote: "{spark_cluster.connect_url}"}}
tasks:
  - id: nums
    kind: sql
    into: raw.nums
    sql: SELECT range AS n, range AS m FROM range(3)
  - id: bad
    kind: sql
    engine: spark
    into: marts.bad
    sql: models/bad.sql
""")
    r = run_sluice("run", p, "--date", DS)
    assert r.returncode == 1
    assert "models/bad.sql" in r.output and "SQLSTATE" in r.output, r.output
    attempts = state_query(tmp_path, "SELECT count(*) AS n FROM task_attempts WHERE task_id = 'bad'")
    assert attempts[0]["n"] == 1  # Spark's analysis error is not retried
    assert not (tmp_path / "lake" / "marts").exists()


def test_an_orc_dataset_is_written_and_read_on_spark(spark_cluster, tmp_path):
    """format: orc: Spark writes ORC part files, sluice publishes them with its manifest
    (checksums, rows, Spark's schema), and Spark models and checks read them back."""
    import crc32c
    import pyarrow.orc

    p = tmp_path / "pipeline.yaml"
    p.write_text(f"""
pipeline: orc
engine: {spark_engine(spark_cluster)[len("engine: "):]}
tasks:
  - id: nums
    kind: sql
    format: orc
    into: curated.nums
    sql: >
      SELECT CAST(id AS BIGINT) AS n, CAST(id * 1.5 AS DECIMAL(12,2)) AS x,
             CAST(id AS STRING) AS s FROM range(0, 1000, 1, 3)
  - id: summed
    kind: sql
    into: marts.summed
    sql: >
      SELECT CAST(count(*) AS BIGINT) AS c, CAST(sum(x) AS DECIMAL(18,2)) AS total
      FROM {{{{ ref('curated.nums') }}}}
  - id: check_nums
    kind: check
    dataset: curated.nums
    expect: [{{unique: n}}, {{row_count: {{min: 1000, max: 1000}}}}]
  - id: none
    kind: sql
    format: orc
    into: curated.none
    sql: SELECT n FROM {{{{ ref('curated.nums') }}}} WHERE n < 0
""")
    run_sluice("run", p, "--date", DS, expect=0)
    empty = json.loads((tmp_path / "lake" / "curated" / "none" / f"ds={DS}" / "_SUCCESS").read_text())
    assert empty["rows"] == 0 and empty["schema"] == [{"name": "n", "type": "BIGINT"}]
    part = tmp_path / "lake" / "curated" / "nums" / f"ds={DS}"
    files = sorted(part.glob("part-*.orc"))
    assert files and not list(part.glob("*.parquet")), list(part.iterdir())
    manifest = json.loads((part / "_SUCCESS").read_text())
    assert manifest["rows"] == 1000
    assert [f["name"] for f in manifest["files"]] == [f.name for f in files]
    for entry, f in zip(manifest["files"], files):
        assert entry["crc32c"] == f"{crc32c.crc32c(f.read_bytes()):08x}"
    assert manifest["schema"] == [{"name": "n", "type": "BIGINT"},
                                  {"name": "x", "type": "DECIMAL(12,2)"},
                                  {"name": "s", "type": "VARCHAR"}]
    # An independent ORC reader (Apache ORC through pyarrow) sees every row.
    rows = []
    for f in files:
        rows += pyarrow.orc.ORCFile(str(f)).read().to_pylist()
    assert sorted(r["n"] for r in rows) == list(range(1000))
    assert all(str(r["x"]) == f"{r['n'] * 1.5:.2f}" and r["s"] == str(r["n"]) for r in rows)
    cols, summed = published(tmp_path / "lake", "marts.summed")
    assert summed == [(1000, __import__("decimal").Decimal("749250.00"))]
    # The embedded engine cannot read it: sluice query says so and how.
    r = run_sluice("query", "--pipeline", p, "--date", DS, "SELECT * FROM {{ ref('curated.nums') }}")
    assert r.returncode != 0 and "ORC" in r.stderr and "--engine spark" in r.stderr, r.stderr
    q = run_sluice("query", "--pipeline", p, "--engine", "spark", "--date", DS, "--format", "csv",
                   "SELECT max(n) AS m FROM {{ ref('curated.nums') }}", expect=0)
    assert q.stdout.strip().splitlines()[-1] == "999"


def test_spark_on_an_hdfs_lake(spark_cluster, hdfs_cluster, tmp_path):
    """With the lake on HDFS, Spark reads the published partitions and writes the models'
    files into the lake's own staging through lake_path (hdfs://, the NameNode's RPC address);
    sluice checksums and publishes them there. Every dataset equals what the embedded engine
    publishes on a local lake, read straight from HDFS; nothing is left in _staging."""
    import crc32c

    lake = "/spark_on_hdfs"
    hdfs_cluster.delete(lake)
    local = citizens(tmp_path / "local")
    # Spark's executors act as their OS user on HDFS; sluice acts as the same user, since it
    # renames what Spark writes.
    remote = citizens(tmp_path / "spark", spark_engine(
        spark_cluster, f', lake_path: "hdfs://127.0.0.1:{hdfs_cluster.rpc_port}{lake}"'))
    remote.write_text(remote.read_text().replace(
        "lake: ./lake", f"lake: {hdfs_cluster.url}{lake}\nhdfs: {{user: {hdfs_cluster.superuser}}}"))
    csv = f"incoming/citizens_data_{DS.replace('-', '')}.csv"
    (tmp_path / "spark" / csv).write_bytes((tmp_path / "local" / csv).read_bytes())

    # Local copies of Spark's results that a killed sluice left are swept by the next one; a
    # live process's are kept.
    copies = tmp_path / "spark" / ".sluice" / "lake-local" / "spark"
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    dead = copies / f".spark-{dead_pid.pid}-3"
    live = copies / f".spark-{os.getpid()}-1"
    for folder in (dead, live):
        folder.mkdir(parents=True)
        (folder / "part-00000.parquet").write_bytes(b"left by a kill")

    run_sluice("run", local, "--date", DS, expect=0)
    run_sluice("run", remote, "--date", DS, expect=0)
    assert not dead.exists() and live.exists()
    shutil.rmtree(live)

    for dataset in DATASETS:
        zone, name = dataset.split(".")
        folder = f"{lake}/{zone}/{name}/ds={DS}"
        m = json.loads(hdfs_cluster.get(folder + "/_SUCCESS"))
        files = []
        for f in m["files"]:
            data = hdfs_cluster.get(f"{folder}/{f['name']}")
            assert f"{crc32c.crc32c(data):08x}" == f["crc32c"], (dataset, f)
            files.append(tmp_path / f"{dataset}-{f['name']}")
            files[-1].write_bytes(data)
        rel = duckdb.sql(f"SELECT * FROM read_parquet({[str(f) for f in files]!r}, "
                         "hive_partitioning = false)")
        got = list(zip(rel.columns, map(str, rel.types))), sorted(rel.fetchall(), key=repr)
        want = published(tmp_path / "local" / "lake", dataset)
        assert got == want, dataset
        assert m["rows"] == len(want[1])
        if dataset != "raw.citizens":
            # Written by Spark's own HDFS client (its default replication 3), not uploaded by
            # sluice (the cluster's default, 2).
            assert hdfs_cluster.status(f"{folder}/{m['files'][0]['name']}")["replication"] == 3
    assert "_staging" not in hdfs_cluster.list(lake)
    assert not any(".spark-" in p.name for p in (tmp_path / "spark" / ".sluice").rglob("*"))
    # Ad-hoc queries read the HDFS lake on the cluster too.
    rows = str(len(published(tmp_path / "local" / "lake", "staging.citizens")[1]))
    query = "SELECT count(*) AS n FROM {{ ref('staging.citizens') }}"
    q = run_sluice("query", "--pipeline", remote, "--engine", "spark", "--date", DS, "--format",
                   "csv", query, expect=0)
    assert q.stdout.strip().splitlines()[-1] == rows
    plain = tmp_path / "spark" / "webhdfs.yaml"
    plain.write_text(re.sub(r', lake_path: "[^"]*"', "", remote.read_text()))
    # Without lake_path sluice cannot know how Spark names the lake (the NameNode's RPC
    # address; Spark's bundled Hadoop client fails on webhdfs:// URLs): validation says so.
    r = run_sluice("validate", plain, "--offline", expect=2)
    assert "needs lake_path: the same folder as Spark names it" in r.stderr, r.stderr


def test_a_lake_path_that_names_another_folder_fails_instead_of_publishing_nothing(
        spark_cluster, tmp_path):
    """lake_path names a folder Spark can write but that is not the lake: Spark succeeds,
    sluice finds nothing where it should be, and fails the task instead of publishing an
    empty partition."""
    elsewhere = tmp_path / "elsewhere"
    p = tmp_path / "pipeline.yaml"
    p.write_text(f"""
pipeline: wrong_lake_path
engine: {spark_engine(spark_cluster, f', lake_path: "file://{elsewhere}"')[len("engine: "):]}
defaults: {{retries: 0}}
tasks:
  - id: nums
    kind: sql
    into: marts.nums
    sql: SELECT CAST(id AS BIGINT) AS n FROM range(10)
""")
    r = run_sluice("run", p, "--date", DS, expect=1)
    assert "Spark reported success, but" in r.output, r.output
    assert "check that engine.lake_path names the lake's folder as Spark sees it" in r.output
    assert not (tmp_path / "lake" / "marts").exists()
    assert any(elsewhere.rglob("*.parquet")), "Spark wrote to the folder lake_path names"


def test_an_unreachable_server_fails_clearly_and_is_retried(spark_cluster, tmp_path):
    p = tmp_path / "pipeline.yaml"
    p.write_text("""
pipeline: away
engine: {type: spark, remote: "sc://127.0.0.1:1"}
defaults: {retries: 1, retry_delay: 1s}
tasks:
  - id: m
    kind: sql
    into: marts.m
    sql: SELECT 1 AS one
""")
    r = run_sluice("run", p, "--date", DS)
    assert r.returncode == 1
    assert "cannot connect to the Spark Connect server sc://127.0.0.1:1" in r.output, r.output
    attempts = state_query(tmp_path, "SELECT count(*) AS n FROM task_attempts WHERE task_id = 'm'")
    assert attempts[0]["n"] == 2
    assert r.seconds < 30


def test_ctrl_c_cancels_the_job_on_the_cluster(spark_cluster, tmp_path, background):
    p = tmp_path / "pipeline.yaml"
    p.write_text(f"""
pipeline: long
engine: {{type: spark, remote: "{spark_cluster.connect_url}"}}
tasks:
  - id: forever
    kind: sql
    into: marts.forever
    sql: SELECT sum(id % 7) AS s FROM range(0, 2000000000000, 1, 4)
""")
    run = background("run", p, "--date", DS, cwd=tmp_path)

    def running_job():
        with urllib.request.urlopen(
                f"http://127.0.0.1:{spark_cluster.driver_ui_port}/api/v1/applications/"
                f"{spark_cluster.app_id()}/jobs?status=running", timeout=10) as resp:
            return json.loads(resp.read())

    jobs = wait_for(running_job, 90, interval=0.5, what="the Spark job to start")
    # The progress line shows the job's stages and tasks (a plain line every 10 s off a tty).
    wait_for(lambda: "Spark stages 0/1, tasks 0/4" in run.stdout(), 30, interval=0.5,
             what="the Spark job's progress")
    started = time.monotonic()
    run.proc.send_signal(signal.SIGINT)
    code = run.wait(60)
    assert code == 130, run.stdout() + run.stderr()
    assert time.monotonic() - started < 20
    # The job is cancelled on the cluster, not left running: its tasks stop on the executors.
    wait_for(lambda: not running_job(), 30, interval=0.5, what="the job to be cancelled")
    wait_for(lambda: all(e.get("activeTasks", 0) == 0 for e in spark_cluster.executors()), 30,
             interval=0.5, what="the executors to stop the job's tasks")
    with urllib.request.urlopen(
            f"http://127.0.0.1:{spark_cluster.driver_ui_port}/api/v1/applications/"
            f"{spark_cluster.app_id()}/jobs/{jobs[0]['jobId']}", timeout=10) as resp:
        assert json.loads(resp.read())["status"] != "SUCCEEDED"
    assert not (tmp_path / "lake" / "marts").exists()


class DroppingProxy:
    """A TCP proxy on loopback in front of the Connect server whose drop() cuts every open
    connection, as a restarted load balancer or a network blip would."""

    def __init__(self, port: int):
        import socket
        import threading
        self._socket, self._threading = socket, threading
        self.target = ("127.0.0.1", port)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open: list = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = self._socket.create_connection(self.target)
            with self.lock:
                self.accepted += 1
                self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                self._threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(2)
            except OSError:
                pass

    def drop(self):
        with self.lock:
            for sock in self.open:
                try:
                    sock.shutdown(2)
                except OSError:
                    pass
            self.open = []

    def close(self):
        self.listener.close()
        self.drop()


def test_a_dropped_stream_is_reattached_and_the_job_goes_on(spark_cluster, tmp_path, background):
    """The connection to the Connect server is cut while the job runs: sluice reattaches to
    the same operation (ReattachExecute) and gets its result; the job is not run again."""
    proxy = DroppingProxy(int(spark_cluster.connect_url.rsplit(":", 1)[1]))
    n = 400_000_000  # about 10 s on the test cluster (2 waves of 2 tasks)
    try:
        p = tmp_path / "pipeline.yaml"
        p.write_text(f"""
pipeline: blip
engine: {{type: spark, remote: "sc://127.0.0.1:{proxy.port}"}}
tasks:
  - id: long
    kind: sql
    into: marts.long
    sql: SELECT CAST(sum(id % 7) AS BIGINT) AS s FROM range(0, {n}, 1, 4)
""")
        url = (f"http://127.0.0.1:{spark_cluster.driver_ui_port}/api/v1/applications/"
               f"{spark_cluster.app_id()}/jobs")

        def jobs(status=""):
            with urllib.request.urlopen(url + (f"?status={status}" if status else ""),
                                        timeout=10) as resp:
                return json.loads(resp.read())

        before = {j["jobId"] for j in jobs()}
        run = background("run", p, "--date", DS, cwd=tmp_path)
        running = wait_for(lambda: jobs("running"), 90, interval=0.2, what="the Spark job")
        accepted = proxy.accepted
        proxy.drop()
        assert run.wait(300) == 0, run.stdout() + run.stderr()
        assert proxy.accepted > accepted, "sluice did not connect again"
        cols, rows = published(tmp_path / "lake", "marts.long")
        q, r = divmod(n, 7)
        assert rows == [(q * 21 + r * (r - 1) // 2,)]
        # The job that was running when the stream dropped finished, and the model's query was
        # not submitted again (that would be a second job with the same 4 tasks).
        new = [j for j in jobs() if j["jobId"] not in before]
        assert {j["status"] for j in new} == {"SUCCEEDED"}, new
        assert running[0]["jobId"] in {j["jobId"] for j in new}
        assert sum(j["numTasks"] == 4 for j in new) == 1, new
    finally:
        proxy.close()


def test_validate_asks_spark_to_analyze_each_model(spark_cluster, tmp_path):
    """Nothing is published: the inputs are stood in for by empty views of their schema
    (csv_import's declared columns, then each analyzed model's)."""
    p = citizens(tmp_path / "p", spark_engine(spark_cluster), rows=10)
    r = run_sluice("validate", p, expect=0)
    for task in ("clean_citizens", "citizens_by_region", "income_by_city_age_band"):
        assert f"{task}: ok on Spark" in r.stdout, r.stdout
    assert "check_marts (bands_add_up_to_regions): ok on Spark" in r.stdout
    model = tmp_path / "p" / "models" / "citizens_by_region.sql"
    model.write_text("-- DuckDB-only\nSELECT region,\n  strftime(birth_date, '%Y') AS y\n"
                     "FROM {{ ref('staging.citizens') }}\n")
    r = run_sluice("validate", p)
    assert r.returncode == 2
    assert f"{model}:3: sql 'citizens_by_region' on Spark" in r.stderr, r.stderr
    assert "UNRESOLVED_ROUTINE" in r.stderr and "strftime" in r.stderr
    # --offline checks the file only.
    assert "on Spark" not in run_sluice("validate", p, "--offline", expect=0).output
    assert not (tmp_path / "p" / "lake").exists()  # validate runs nothing


def test_a_worker_killed_mid_job(spark_cluster, tmp_path, background):
    """Spark reruns the lost executor's tasks elsewhere: the task succeeds, or fails clearly;
    either way nothing half-written is published."""
    p = tmp_path / "pipeline.yaml"
    p.write_text(f"""
pipeline: worker_dies
engine: {{type: spark, remote: "{spark_cluster.connect_url}"}}
defaults: {{retries: 0, timeout: 5m}}
tasks:
  - id: big
    kind: sql
    into: marts.big
    sql: |
      SELECT k, count(*) AS n
      FROM (SELECT id % 1000 AS k FROM range(0, 60000000, 1, 8))
      GROUP BY k
""")
    run = background("run", p, "--date", DS, cwd=tmp_path)

    def busy_executor():
        for e in spark_cluster.executors():
            if e["id"] != "driver" and e.get("activeTasks", 0) > 0:
                return e
        return None

    wait_for(busy_executor, 120, interval=0.2, what="a Spark task to run")
    spark_cluster.kill_worker(2)
    try:
        code = run.wait(240)
        out = run.stdout() + run.stderr()
        if code == 0:
            cols, rows = published(tmp_path / "lake", "marts.big")
            assert len(rows) == 1000 and sum(r[1] for r in rows) == 60000000
        else:
            assert "big" in out and "Spark" in out, out
            assert not (tmp_path / "lake" / "marts").exists()
    finally:
        spark_cluster.start_worker(2)
