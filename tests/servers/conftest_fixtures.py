"""pytest fixtures for real database servers (DESIGN.md section 5).

Use them from any conftest.py:

    import sys; from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "servers"))
    from conftest_fixtures import postgres_server, mariadb_server, ssh_server, hdfs_cluster, spark_cluster  # noqa: F401

All are session-scoped: one server each per pytest run, started on free ports in a fresh
temp folder, stopped and deleted at the end. A server that cannot be installed or started
fails the tests that use it, with its log; it never skips them.

hdfs_cluster is a real HDFS (hdfs.HdfsCluster): NameNode + 2 DataNodes, replication 2,
WebHDFS at hdfs_cluster.url; its jars come from the cache that scripts/install-deps.sh fills.

spark_cluster is a real Spark standalone cluster (spark.SparkCluster): Master + 2 Workers and a
Spark Connect server at spark_cluster.connect_url whose application holds an executor on each
Worker; pyspark 4.3.0 comes from the cache that scripts/install-deps.sh fills.
"""

from __future__ import annotations

import pytest

from hdfs import HdfsCluster
from servers import MariaDbServer, PostgresServer, ServerError
from spark import SparkCluster
from sshd import SshServer

# Messages that mean the free port we picked was taken by someone else in the meantime.
_PORT_TAKEN = ("Address already in use", "Can't start server: Bind on TCP/IP port", "errno: 98")


def start_server(cls, label: str, tmp_dir=None):
    """Install if needed and start a `cls` server; pytest.fail (never skip) on failure.
    Retries with another port when the picked port was grabbed meanwhile."""
    try:
        cls.install()
    except ServerError as e:
        pytest.fail(f"{label}: the packages could not be installed:\n{e}", pytrace=False)
    error = None
    for _ in range(3):
        server = cls()
        try:
            return server.start(tmp_dir)
        except ServerError as e:
            error = e
            server.cleanup(ignore_errors=True)
            if not any(m in str(e) for m in _PORT_TAKEN):
                break
    pytest.fail(f"{label} could not be started:\n{error}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_server():
    """A running PostgreSQL (PostgresServer): etl/etl, database sluice_test."""
    server = start_server(PostgresServer, "PostgreSQL")
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def mariadb_server():
    """A running MariaDB (MariaDbServer): etl/etl, database shop."""
    server = start_server(MariaDbServer, "MariaDB")
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def ssh_server():
    """A running OpenSSH server with SFTP (sshd.SshServer): a generated host key and an
    authorized client key; the login user owns ssh_server.root."""
    server = SshServer()
    try:
        server.start()
    except ServerError as e:
        server.cleanup()
        pytest.fail(f"OpenSSH sshd could not be started:\n{e}", pytrace=False)
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def hdfs_cluster():
    """A running HDFS (hdfs.HdfsCluster): NameNode + 2 DataNodes on 127.0.0.1, replication 2,
    permissions on, superuser hdfs_cluster.superuser. Tests that kill or restart daemons
    must leave both DataNodes and the NameNode running again."""
    cluster = start_server(HdfsCluster, "HDFS")
    yield cluster
    cluster.cleanup()


@pytest.fixture(scope="session")
def spark_cluster():
    """A running Spark cluster (spark.SparkCluster): Master + 2 Workers (1 core, 1g each) and a
    Spark Connect server on 127.0.0.1 whose application has one executor on each Worker. Tests
    that kill or restart daemons must leave both Workers and the Connect server running again."""
    cluster = start_server(SparkCluster, "Spark")
    yield cluster
    cluster.cleanup()
