"""The file system conformance suite (src/fs/file_system_conformance.h) on HDFS: runs the gtest
binary sluice_webhdfs_server_tests against the real NameNode + 2 DataNodes, as an ordinary
HDFS user that owns its test folder.

The binary is $SLUICE_BUILD_DIR/sluice_webhdfs_server_tests (default build/)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from servers import HOST, REPO

TIMEOUT = 300


def test_webhdfs_file_system_passes_the_conformance_suite(hdfs_cluster):
    build = Path(os.environ.get("SLUICE_BUILD_DIR", REPO / "build"))
    binary = build / "sluice_webhdfs_server_tests"
    if not binary.exists():
        pytest.fail(f"{binary} does not exist: build it with `ninja -C {build} "
                    "sluice_webhdfs_server_tests` (or set SLUICE_BUILD_DIR)", pytrace=False)
    hdfs_cluster.mkdirs("/conformance", owner="etl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_TEST_HDFS_")}
    env.update(SLUICE_TEST_HDFS_HOST=HOST, SLUICE_TEST_HDFS_PORT=str(hdfs_cluster.http_port),
               SLUICE_TEST_HDFS_USER="etl", SLUICE_TEST_HDFS_BASE="/conformance")
    res = subprocess.run([str(binary), "--gtest_color=no"], env=env, capture_output=True,
                         text=True, errors="replace", timeout=TIMEOUT)
    output = res.stdout + res.stderr
    if res.returncode != 0:
        pytest.fail(f"{binary.name} exited with {res.returncode}:\n{output[-20000:]}\n"
                    f"--- NameNode log ---\n{hdfs_cluster.log_tail('nn')}", pytrace=False)
    ran = re.search(r"\[  PASSED  \] (\d+) tests?\.", output)
    assert ran and int(ran.group(1)) >= 8 and "WebHdfs/FileSystemConformance." in output, \
        output[-20000:]
    # Nothing is left behind: every test deletes its folder through the file system.
    assert hdfs_cluster.list("/conformance") == []
