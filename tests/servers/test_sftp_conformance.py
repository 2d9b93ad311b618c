"""The file system conformance suite (src/fs/file_system_conformance.h) on SFTP: runs the gtest
binary sluice_sftp_server_tests against a real OpenSSH sshd, as its unprivileged login user.

The binary is $SLUICE_BUILD_DIR/sluice_sftp_server_tests (default build/)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from servers import HOST, REPO

TIMEOUT = 300


def test_sftp_file_system_passes_the_conformance_suite(ssh_server):
    build = Path(os.environ.get("SLUICE_BUILD_DIR", REPO / "build"))
    binary = build / "sluice_sftp_server_tests"
    if not binary.exists():
        pytest.fail(f"{binary} does not exist: build it with `ninja -C {build} "
                    "sluice_sftp_server_tests` (or set SLUICE_BUILD_DIR)", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_TEST_SFTP_")}
    env.update(SLUICE_TEST_SFTP_HOST=HOST, SLUICE_TEST_SFTP_PORT=str(ssh_server.port),
               SLUICE_TEST_SFTP_USER=ssh_server.user, SLUICE_TEST_SFTP_KEY=str(ssh_server.key),
               SLUICE_TEST_SFTP_KNOWN_HOSTS=str(ssh_server.known_hosts),
               SLUICE_TEST_SFTP_BASE=str(ssh_server.root))
    res = subprocess.run([str(binary), "--gtest_color=no"], env=env, capture_output=True,
                         text=True, errors="replace", timeout=TIMEOUT)
    output = res.stdout + res.stderr
    if res.returncode != 0:
        pytest.fail(f"{binary.name} exited with {res.returncode}:\n{output[-20000:]}\n"
                    f"--- sshd log ---\n{ssh_server.log_tail()}", pytrace=False)
    ran = re.search(r"\[  PASSED  \] (\d+) tests?\.", output)
    assert ran and int(ran.group(1)) >= 8 and "Sftp/FileSystemConformance." in output, \
        output[-20000:]
    # Nothing is left behind: every test deletes its folder through the file system.
    assert list(ssh_server.root.iterdir()) == []
