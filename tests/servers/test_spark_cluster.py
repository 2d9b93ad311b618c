"""The Spark harness works: a Master with 2 ALIVE Workers, a Spark Connect server whose gRPC
port speaks HTTP/2, and a Connect application with one executor on each Worker (not in the
driver). The Connect server comes back after a stop, and a killed Worker is noticed and comes
back with a new executor. The fault tests run last: they leave the cluster whole again."""

from __future__ import annotations

import socket

from spark import APP_NAME

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type SETTINGS, stream 0


def connect_app_executors(spark):
    """The Connect application's active executors other than the driver."""
    return [e for e in spark.executors() if e["id"] != "driver" and e.get("isActive", True)]


def worker_executor_ids(spark, n):
    """Ids (as str) of the executors Worker n runs for the Connect application."""
    app = spark.app_id()
    return {str(e["id"]) for e in spark.worker_json(n)["executors"] if e["appid"] == app}


def test_two_alive_workers(spark_cluster):
    workers = spark_cluster.alive_workers()
    assert len(workers) == 2
    assert {w["host"] for w in workers} == {"127.0.0.1"}
    assert all((w["cores"], w["memory"]) == (1, 1024) for w in workers)
    assert {w["webuiaddress"] for w in workers} == {
        f"http://127.0.0.1:{spark_cluster.worker_ui_port(n)}" for n in (1, 2)}
    assert spark_cluster.master_json()["url"] == spark_cluster.master_url


def test_connect_port_speaks_http2(spark_cluster):
    assert spark_cluster.connect_url == f"sc://127.0.0.1:{spark_cluster.connect_port}"
    # gRPC runs over HTTP/2: after the client preface the server's first frame is SETTINGS.
    with socket.create_connection(("127.0.0.1", spark_cluster.connect_port), timeout=10) as s:
        s.sendall(HTTP2_PREFACE + EMPTY_SETTINGS)
        header = b""
        while len(header) < 9:
            chunk = s.recv(9 - len(header))
            assert chunk, "the Connect server closed the connection without an HTTP/2 frame"
            header += chunk
    assert header[3] == 0x04, f"first frame is type {header[3]}, not SETTINGS: {header!r}"
    assert "Spark Connect server started at: 127.0.0.1:" in spark_cluster.log_tail("connect", 100000)


def test_connect_app_has_an_executor_on_each_worker(spark_cluster):
    app = spark_cluster.connect_app()
    assert app is not None, spark_cluster.master_json()
    assert (app["name"], app["state"], app["cores"]) == (APP_NAME, "RUNNING", 2)
    assert app["id"] == spark_cluster.app_id()

    everything = spark_cluster.executors()
    driver = [e for e in everything if e["id"] == "driver"]
    executors = connect_app_executors(spark_cluster)
    assert len(driver) == 1 and len(executors) == 2, everything
    assert all(e["totalCores"] == 1 for e in executors)
    ports = {e["hostPort"] for e in executors}
    assert len(ports) == 2 and driver[0]["hostPort"] not in ports
    assert all(p.startswith("127.0.0.1:") for p in ports)
    # Each Worker runs exactly one of them.
    on1, on2 = worker_executor_ids(spark_cluster, 1), worker_executor_ids(spark_cluster, 2)
    assert len(on1) == 1 and len(on2) == 1
    assert on1 | on2 == {e["id"] for e in executors}


def test_killed_worker_is_noticed_and_comes_back(spark_cluster):
    old = worker_executor_ids(spark_cluster, 2)
    spark_cluster.kill_worker(2)
    # The Master sees the connection drop at once; the driver loses that executor.
    spark_cluster.wait_for(lambda: len(spark_cluster.alive_workers()) == 1, 30, "1 ALIVE Worker")
    spark_cluster.wait_for(lambda: len(connect_app_executors(spark_cluster)) == 1, 30,
                           "1 executor left")
    assert spark_cluster.connect_app()["cores"] == 1

    spark_cluster.start_worker(2)
    assert len(spark_cluster.alive_workers()) == 2
    assert spark_cluster.connect_app()["cores"] == 2
    executors = connect_app_executors(spark_cluster)
    assert len(executors) == 2
    new = worker_executor_ids(spark_cluster, 2)
    assert len(new) == 1 and new != old
    assert new | worker_executor_ids(spark_cluster, 1) == {e["id"] for e in executors}
