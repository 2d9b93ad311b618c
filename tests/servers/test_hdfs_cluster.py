"""The HDFS harness works: a real NameNode with 2 live DataNodes, files written through
WebHDFS come back byte for byte with 2 live replicas, permissions are enforced, files stay
readable across a NameNode restart, and a killed DataNode is noticed and comes back. The kill test runs last: it leaves the cluster whole
again, but takes ~20 s."""

from __future__ import annotations

import os
import re
import time

import pytest

from hdfs import WebHdfsError
from servers import ServerError

FOLDER = "/harness/etl"


def test_two_live_datanodes(hdfs_cluster):
    assert hdfs_cluster.live_datanodes() == 2
    assert hdfs_cluster.dead_datanodes() == 0
    root = hdfs_cluster.status("/")
    assert root["type"] == "DIRECTORY"
    assert root["owner"] == hdfs_cluster.superuser
    assert hdfs_cluster.url == f"webhdfs://127.0.0.1:{hdfs_cluster.http_port}"


def test_etl_writes_and_reads_back_with_two_replicas(hdfs_cluster):
    hdfs_cluster.mkdirs(FOLDER, owner="etl", permission=0o755)
    st = hdfs_cluster.status(FOLDER)
    assert (st["owner"], st["permission"]) == ("etl", "755")

    data = os.urandom(3 * 1024 * 1024 + 17) + "Grüße, 東京 😀\r\n".encode()
    hdfs_cluster.put(f"{FOLDER}/part-0.bin", data, user="etl")
    assert hdfs_cluster.get(f"{FOLDER}/part-0.bin", user="etl") == data
    st = hdfs_cluster.status(f"{FOLDER}/part-0.bin")
    assert (st["owner"], st["length"], st["replication"]) == ("etl", len(data), 2)
    assert hdfs_cluster.list(FOLDER) == ["part-0.bin"]

    # "replication" above is only the target: the real replica count is fsck's Live_repl.
    # Both DataNodes were in the write pipeline; their block reports reach the NameNode
    # within a heartbeat or so.
    def both_replicas():
        text = hdfs_cluster.fsck(FOLDER)
        counts = re.findall(r"Live_repl=(\d+)", text)
        return text if counts and all(c == "2" for c in counts) else None

    text = hdfs_cluster.wait_for(both_replicas, 15, "fsck Live_repl=2 for every block")
    assert f"{FOLDER}/part-0.bin {len(data)} bytes" in text
    assert "is HEALTHY" in text


def test_other_user_cannot_write_into_etl_folder(hdfs_cluster):
    hdfs_cluster.mkdirs(FOLDER, owner="etl", permission=0o755)
    with pytest.raises(WebHdfsError) as e:
        hdfs_cluster.put(f"{FOLDER}/intruder.bin", b"not yours", user="mallory")
    assert e.value.status == 403
    assert e.value.exception == "AccessControlException"
    assert "user=mallory" in e.value.remote_message
    assert hdfs_cluster.status(f"{FOLDER}/intruder.bin") is None
    # The owner may, and the superuser may delete.
    hdfs_cluster.put(f"{FOLDER}/mine.bin", b"ok", user="etl")
    assert hdfs_cluster.delete(f"{FOLDER}/mine.bin") is True
    assert hdfs_cluster.delete(f"{FOLDER}/mine.bin") is False


def test_namenode_restart_keeps_files_readable(hdfs_cluster):
    # Regression: a restarted NameNode left safe mode before any block was reported (0.999 of
    # few blocks rounds down to 0), and a DataNode's pooled connection to the old NameNode
    # failed the first read with 403 EOFException.
    hdfs_cluster.mkdirs(FOLDER, owner="etl", permission=0o755)
    data = os.urandom(200_000)
    hdfs_cluster.put(f"{FOLDER}/before-restart.bin", data, user="etl", overwrite=True)
    assert hdfs_cluster.get(f"{FOLDER}/before-restart.bin", user="etl") == data
    hdfs_cluster.stop_namenode()
    with pytest.raises(ServerError):
        hdfs_cluster.status(FOLDER)
    hdfs_cluster.start_namenode()
    assert hdfs_cluster.live_datanodes() == 2
    assert hdfs_cluster.get(f"{FOLDER}/before-restart.bin", user="etl") == data
    hdfs_cluster.put(f"{FOLDER}/after-restart.bin", b"after", user="etl")
    assert hdfs_cluster.get(f"{FOLDER}/after-restart.bin", user="etl") == b"after"


def test_killed_datanode_is_noticed_and_comes_back(hdfs_cluster):
    t0 = time.monotonic()
    hdfs_cluster.kill_datanode(2)
    # Fast death detection: 2 x 2 s recheck + 10 x 1 s heartbeat = ~14 s.
    hdfs_cluster.wait_for(lambda: hdfs_cluster.live_datanodes() == 1, 30,
                          "NameNode counts DataNode 2 as dead")
    dead_after = time.monotonic() - t0
    assert hdfs_cluster.dead_datanodes() == 1
    hdfs_cluster.start_datanode(2)
    assert hdfs_cluster.live_datanodes() == 2
    assert time.monotonic() - t0 < 40, f"kill + notice + restart took {time.monotonic() - t0:.1f} s " \
                                       f"(dead after {dead_after:.1f} s)"
