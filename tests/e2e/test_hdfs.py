"""The lake on a real HDFS (NameNode + 2 DataNodes, tests/servers/hdfs.py) through WebHDFS: the
citizens example publishes the same data as on local disk, `sluice dfs` copies files, csv_import
reads from webhdfs://, and the failures a cluster has: a DataNode killed during an upload, the
NameNode stopped during a publish, sluice killed between the two renames of a re-publish, and a
user without permission.

The cluster runs once per session (keep every HDFS test in this file). Tests act as the HDFS
user 'etl', which owns /data; the superuser only prepares folders and reads results back."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from conftest import copy_tree, run_gen, run_sluice, sluice_bin, state_query, wait_for

REPO = Path(__file__).resolve().parents[2]

DS = "2026-11-21"
USER = "etl"


@pytest.fixture
def home(hdfs_cluster, request):
    """A fresh HDFS folder /data/<test> that etl owns (its parent too)."""
    hdfs_cluster.mkdirs("/data", owner=USER)
    path = "/data/" + re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)
    hdfs_cluster.delete(path)
    hdfs_cluster.mkdirs(path, owner=USER)
    return path


def citizens(folder: Path, lake: str, rows: int = 20000, extra: str = "") -> Path:
    """The citizens example in folder with its lake at `lake` and a generated CSV."""
    copy_tree(REPO / "examples" / "citizens", folder)
    p = folder / "pipeline.yaml"
    text = p.read_text().replace("lake: ./lake", f"lake: {lake}\n{extra}".rstrip())
    p.write_text(text)
    csv = folder / "incoming" / f"citizens_data_{DS.replace('-', '')}.csv"
    if not csv.exists():
        run_gen("citizens", "--rows", rows, "--out", csv, expect=0)
    return p


def hdfs_section(cluster, **extra) -> str:
    items = {"user": USER, **extra}
    return "hdfs: {" + ", ".join(f"{k}: {v}" for k, v in items.items()) + "}"


def manifest(cluster, lake: str, dataset: str, ds: str = DS) -> dict:
    zone, name = dataset.split(".")
    return json.loads(cluster.get(f"{lake}/{zone}/{name}/ds={ds}/_SUCCESS"))


def hdfs_rows(cluster, lake: str, dataset: str, tmp: Path, ds: str = DS) -> list:
    """The partition's rows, read from files downloaded straight from HDFS (not sluice)."""
    m = manifest(cluster, lake, dataset, ds)
    zone, name = dataset.split(".")
    files = []
    for i, f in enumerate(m["files"]):
        local = tmp / f"{dataset}-{i}.parquet"
        local.write_bytes(cluster.get(f"{lake}/{zone}/{name}/ds={ds}/{f['name']}"))
        files.append(str(local))
    return sorted(duckdb.sql(f"SELECT * FROM read_parquet({files!r}, hive_partitioning = false)")
                  .fetchall(), key=repr)


def local_rows(lake: Path, dataset: str, ds: str = DS) -> list:
    zone, name = dataset.split(".")
    files = sorted(str(f) for f in (lake / zone / name / f"ds={ds}").glob("*.parquet"))
    return sorted(duckdb.sql(f"SELECT * FROM read_parquet({files!r}, hive_partitioning = false)")
                  .fetchall(), key=repr)


def tree(cluster, path: str) -> list[str]:
    """Every path under path on HDFS, depth first."""
    out = []
    for name in cluster.list(path):
        child = f"{path}/{name}"
        out.append(child)
        st = cluster.status(child)
        if st and st["type"] == "DIRECTORY":
            out.extend(tree(cluster, child))
    return out


def test_citizens_on_hdfs_publishes_what_the_local_lake_does(hdfs_cluster, home, tmp_path):
    local_dir, hdfs_dir = tmp_path / "local", tmp_path / "hdfs"
    local = citizens(local_dir, "./lake")
    lake = f"{home}/lake"  # missing: sluice creates it as etl
    remote = citizens(hdfs_dir, hdfs_cluster.url + lake, extra=hdfs_section(hdfs_cluster))
    # Same input bytes for both.
    (hdfs_dir / "incoming").mkdir(exist_ok=True)
    csv = f"incoming/citizens_data_{DS.replace('-', '')}.csv"
    (hdfs_dir / csv).write_bytes((local_dir / csv).read_bytes())

    run_sluice("run", local, "--date", DS, expect=0)
    r = run_sluice("run", remote, "--date", DS, expect=0)
    assert "read 20,000 = loaded" in r.output

    assert hdfs_cluster.status(lake)["owner"] == USER
    # The imported partition is byte-identical: the same manifest checksum.
    want = json.loads((local_dir / "lake" / "raw" / "citizens" / f"ds={DS}" / "_SUCCESS")
                      .read_text())
    assert manifest(hdfs_cluster, lake, "raw.citizens")["checksum"] == want["checksum"]
    # The rejects are the same rows; only their `file` column names the other folder.
    got = hdfs_rows(hdfs_cluster, lake, "rejects.raw_citizens", tmp_path)
    assert [r[1:] for r in got] == [r[1:] for r in local_rows(local_dir / "lake",
                                                                "rejects.raw_citizens")]
    assert got and all(r[0].startswith(str(hdfs_dir)) for r in got)
    # Model outputs are equal row for row, read from HDFS directly.
    for dataset in ("staging.citizens", "marts.citizens_by_region",
                    "marts.income_by_city_age_band"):
        got = hdfs_rows(hdfs_cluster, lake, dataset, tmp_path)
        assert got == local_rows(local_dir / "lake", dataset), dataset
        assert got
    # The lake's files have two replicas (replication 2), and nothing is left outside the
    # published partitions: no staging, no trash, no temporary names.
    assert "Live_repl=2" in hdfs_cluster.fsck(lake + "/raw")
    leftovers = [p for p in tree(hdfs_cluster, lake)
                 if "/_staging" in p or "/_trash" in p or "sluice-tmp" in p]
    assert leftovers == []
    local_staging = hdfs_dir / ".sluice" / "lake-local" / "_staging"
    assert not local_staging.exists() or list(local_staging.rglob("*.parquet")) == []
    # Queries and loads read the HDFS lake: the warehouse got the marts.
    q = run_sluice("query", "--pipeline", remote, "--date", DS, "--format", "csv",
                   "SELECT count(*) FROM staging.citizens", expect=0)
    assert q.stdout.strip().splitlines()[-1] == str(len(local_rows(local_dir / "lake",
                                                                  "staging.citizens")))


def test_dfs_put_get_ls_rm_as_a_user(hdfs_cluster, home, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "citizens_data_20261122.csv"
    src.write_bytes(data)
    url = f"{hdfs_cluster.url}{home}/landing/"
    hdfs_cluster.mkdirs(f"{home}/landing", owner=USER)

    r = run_sluice("dfs", "put", src, url, "--user", USER, expect=0)
    assert f"{home}/landing/citizens_data_20261122.csv" in r.stdout
    assert hdfs_cluster.get(f"{home}/landing/citizens_data_20261122.csv") == data
    assert hdfs_cluster.status(f"{home}/landing/citizens_data_20261122.csv")["owner"] == USER
    # An existing file is refused unless --overwrite.
    src.write_bytes(b"newer")
    r = run_sluice("dfs", "put", src, url, "--user", USER)
    assert r.returncode != 0 and "already exists" in r.stderr and "--overwrite" in r.stderr
    assert hdfs_cluster.get(f"{home}/landing/citizens_data_20261122.csv") == data
    run_sluice("dfs", "put", src, url, "--user", USER, "--overwrite", expect=0)
    assert hdfs_cluster.get(f"{home}/landing/citizens_data_20261122.csv") == b"newer"
    assert hdfs_cluster.list(f"{home}/landing") == ["citizens_data_20261122.csv"]

    ls = run_sluice("dfs", "ls", url, "--user", USER, expect=0)
    assert re.search(r"^-\s+5\s+citizens_data_20261122\.csv$", ls.stdout, re.M), ls.stdout
    got = tmp_path / "back.csv"
    run_sluice("dfs", "get", url + "citizens_data_20261122.csv", got, "--user", USER, expect=0)
    assert got.read_bytes() == b"newer"

    r = run_sluice("dfs", "rm", url, "--user", USER)
    assert r.returncode != 0 and "--recursive" in r.stderr
    run_sluice("dfs", "rm", url, "--user", USER, "--recursive", expect=0)
    assert hdfs_cluster.status(f"{home}/landing") is None
    r = run_sluice("dfs", "put", src, "sftp://x/y", "--user", USER)
    assert r.returncode == 2 and "webhdfs://" in r.stderr


def test_a_user_without_permission_is_refused_clearly(hdfs_cluster, home, tmp_path):
    src = tmp_path / "f.csv"
    src.write_bytes(b"a\n1\n")
    r = run_sluice("dfs", "put", src, f"{hdfs_cluster.url}{home}/", "--user", "mallory")
    assert r.returncode != 0
    assert "Permission denied: user=mallory" in r.stderr and "--user" in r.stderr, r.stderr
    assert hdfs_cluster.list(home) == []
    # The same for a whole pipeline whose lake the user may not write.
    p = citizens(tmp_path / "p", f"{hdfs_cluster.url}{home}/lake", rows=100,
                 extra="hdfs: {user: mallory}")
    r = run_sluice("run", p, "--date", DS)
    assert r.returncode != 0 and "user=mallory" in r.output, r.output
    assert hdfs_cluster.list(home) == []


def test_csv_import_reads_its_path_from_webhdfs(hdfs_cluster, home, tmp_path):
    hdfs_cluster.put(f"{home}/sales_20261121.csv", b"id,amount\n1,2.50\n2,x\n3,4.00\n", user=USER)
    p = tmp_path / "pipeline.yaml"
    p.write_text(f"""
pipeline: pickup
hdfs: {{user: {USER}}}
tasks:
  - id: ingest
    kind: csv_import
    path: {hdfs_cluster.url}{home}/sales_{{{{ ds_nodash }}}}.csv
    into: raw.sales
    columns: {{id: BIGINT, amount: "DECIMAL(12,2)"}}
    rejects: {{max: 1}}
""")
    r = run_sluice("run", p, "--date", DS, expect=0)
    assert "read 3 = loaded 2 + rejected 1" in r.output
    rows = local_rows(tmp_path / "lake", "raw.sales")
    assert [(i, str(a)) for i, a in rows] == [(1, "2.50"), (3, "4.00")]


def test_kill_between_the_renames_of_a_republish_is_recovered(hdfs_cluster, home, tmp_path):
    lake = f"{home}/lake"
    p = citizens(tmp_path / "p", hdfs_cluster.url + lake, rows=2000,
                 extra=hdfs_section(hdfs_cluster))
    run_sluice("run", p, "--date", DS, expect=0)
    datasets = ("raw.citizens", "rejects.raw_citizens")  # both published by ingest_citizens
    first = {d: manifest(hdfs_cluster, lake, d) for d in datasets}
    # The re-publish dies after moving an old partition aside, before moving the new one in.
    r = run_sluice("run", p, "--date", DS, "--force", "--task", "ingest_citizens",
                   env={"SLUICE_FAULT": "kill:publish.after_move_aside"})
    assert r.returncode == -signal.SIGKILL, r
    missing = [d for d in datasets
               if hdfs_cluster.status(f"{lake}/{d.replace('.', '/')}/ds={DS}") is None]
    assert len(missing) == 1  # the window between the two renames
    # The next start recovers: the old partition is back, whole.
    run_sluice("runs", p, expect=0)
    assert {d: manifest(hdfs_cluster, lake, d) for d in datasets} == first
    assert [x for x in tree(hdfs_cluster, lake) if "/_staging" in x or "/_trash" in x] == []
    run_sluice("run", p, "--date", DS, "--force", "--task", "ingest_citizens", expect=0)
    again = manifest(hdfs_cluster, lake, "raw.citizens")
    assert again["checksum"] == first["raw.citizens"]["checksum"]
    assert again["attempt_id"] != first["raw.citizens"]["attempt_id"]


def test_namenode_stopped_during_publish_fails_clearly_and_publishes_nothing(
        hdfs_cluster, home, tmp_path, background):
    lake = f"{home}/lake"
    p = citizens(tmp_path / "p", hdfs_cluster.url + lake, rows=2000,
                 extra=hdfs_section(hdfs_cluster, retries=1, timeout="5s"))
    text = p.read_text().replace("defaults: {retries: 2, retry_delay: 10s, timeout: 1h}",
                                 "defaults: {retries: 1, retry_delay: 1s, timeout: 2m}")
    p.write_text(text)
    run = background("run", p, "--date", DS, cwd=tmp_path,
                     env={"SLUICE_FAULT": "stop:publish.after_upload"})
    wait_for(lambda: "stopped at publish.after_upload" in run.stderr(), 60,
             what="sluice to stop after its first upload")
    hdfs_cluster.stop_namenode()
    try:
        os.kill(run.proc.pid, signal.SIGCONT)
        code = run.wait(120)
        out = run.stdout() + run.stderr()
        assert code == 1, out
        assert "ingest_citizens" in out and "failed" in out
        assert "NameNode" in out and f"127.0.0.1:{hdfs_cluster.http_port}" in out, out
        attempts = state_query(tmp_path / "p", "SELECT count(*) AS n FROM task_attempts "
                               "WHERE task_id = 'ingest_citizens'")
        assert attempts[0]["n"] == 2  # retried by the task's policy
    finally:
        hdfs_cluster.start_namenode()
    assert hdfs_cluster.status(f"{lake}/raw/citizens/ds={DS}") is None  # nothing published
    # The next run cleans the failed run's staging and publishes.
    run_sluice("run", p, "--date", DS, expect=0)
    assert manifest(hdfs_cluster, lake, "raw.citizens")["rows"] > 0
    assert [x for x in tree(hdfs_cluster, lake) if "/_staging" in x or "/_trash" in x] == []


def test_datanode_killed_during_an_upload(hdfs_cluster, home, tmp_path, background):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(24):
            f.write(os.urandom(8 << 20))  # 192 MiB
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    final = f"{home}/big.bin"
    put = background("dfs", "put", big, f"{hdfs_cluster.url}{home}/", "--user", USER,
                     cwd=tmp_path)
    dn_ports = {hdfs_cluster.datanode_port(n, "HTTP"): n for n in (1, 2)}

    def receiving_datanode():
        # The DataNode whose HTTP port sluice is sending to.
        out = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            if f"pid={put.proc.pid}," not in line:
                continue
            peer = line.split()[3]
            port = int(peer.rsplit(":", 1)[1])
            if port in dn_ports:
                return dn_ports[port]
        return None

    victim = wait_for(receiving_datanode, 30, interval=0.01, what="the upload to start")
    hdfs_cluster.kill_datanode(victim)
    try:
        code = put.wait(120)
        out = put.stdout() + put.stderr()
        if code == 0:
            # Completed through the other DataNode: the whole file, under its final name.
            got = hdfs_cluster.get(final)
            assert hashlib.sha256(got).hexdigest() == digest
        else:
            # Failed clearly, and nothing is under the final name.
            assert "upload" in out and "DataNode" in out, out
            assert hdfs_cluster.status(final) is None
    finally:
        hdfs_cluster.start_datanode(victim)
    assert [n for n in hdfs_cluster.list(home) if n != "big.bin" and "sluice-tmp" not in n] == []
