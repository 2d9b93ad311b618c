"""SFTP delivery and pickup against a real OpenSSH sshd (tests/servers/sshd.py): file_export to
sftp:// read back by independent readers, csv_import from sftp:// with the sensor, host keys
unknown and changed, wrong credentials, a folder the user may not write, an upload killed
midway, a stopped server, and a 1 GB file streamed with bounded memory.

The server runs once per session; the login user is an unprivileged account, so file
permissions on the server mean what they would on a real one."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import (read_rows, run_sluice, sluice_bin, state_query, summary_rows, wait_for,
                      write_pipeline)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "servers"))
from conftest_fixtures import ssh_server  # noqa: E402,F401

DS = "2026-11-21"
SANITIZED = os.environ.get("SLUICE_SANITIZED") == "1"

# Values a CSV writer gets wrong: delimiters, quotes, line breaks, empty vs NULL, non-ASCII.
ROWS = [
    (1, "plain", "10.50"),
    (2, "comma, inside", "0.01"),
    (3, 'quote " inside', "-3.25"),
    (4, "line\nbreak", "1000000.00"),
    (5, "", "7.00"),           # an empty string
    (6, None, None),           # NULL
    (7, "Zürich ✓ 東京", "2.50"),
]


def source_csv(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write("id,name,amount\n")
        for i, name, amount in ROWS:
            q = "" if name is None else '"' + name.replace('"', '""') + '"'
            f.write(f"{i},{q},{amount or ''}\n")
    return path


@pytest.fixture
def remote_dir(ssh_server, request):
    """A fresh folder on the server, owned by the login user."""
    d = ssh_server.root / request.node.name.replace("[", "_").replace("]", "")
    d.mkdir()
    ssh_server.chown(d)
    return d


def pipeline_text(ssh, tasks: str, connection_extra: str = "") -> str:
    return f"""
pipeline: deliver
connections:
{ssh.connection_yaml("bi")}{connection_extra}
tasks:
  - id: ingest
    kind: csv_import
    path: data/sales.csv
    into: raw.sales
    columns: {{id: BIGINT, name: VARCHAR, amount: "DECIMAL(12,2)"}}
{tasks}
"""


def make_pipeline(tmp_path, ssh, tasks, **kw):
    (tmp_path / "data").mkdir(exist_ok=True)
    source_csv(tmp_path / "data" / "sales.csv")
    return write_pipeline(tmp_path, pipeline_text(ssh, tasks, **kw))


def lake_rows(tmp_path):
    return sorted(read_rows(tmp_path / "lake", "raw.sales", DS), key=lambda r: r[0])


# ---------------------------------------------------------------------------------------------
# file_export


def test_export_csv_over_sftp_reads_back_equal_to_the_dataset(tmp_path, ssh_server, remote_dir):
    p = make_pipeline(tmp_path, ssh_server, f"""
  - id: publish
    kind: file_export
    connection: bi
    dataset: raw.sales
    order_by: id
    to: {ssh_server.url(str(remote_dir) + '/out/sales_{{ ds }}.csv')}
""")
    r = run_sluice("run", p, "--date", DS, expect=0)
    s = summary_rows(r.stdout)["publish"]
    assert s["status"] == "success", r
    final = remote_dir / "out" / f"sales_{DS}.csv"
    assert sorted(x.name for x in final.parent.iterdir()) == [final.name], \
        "only the final name is left on the server"
    # Python's csv module, an independent reader: "" stays an empty string, an unquoted empty
    # field is NULL (PostgreSQL's COPY rule, the same one csv_import reads by).
    with open(final, newline="", encoding="utf-8") as f:
        text = f.read()
    rows = list(csv.reader(text.splitlines(keepends=True)))
    assert rows[0] == ["id", "name", "amount"]
    assert len(rows) - 1 == len(ROWS)
    lines = text.split("\n")
    for (i, name, amount), row in zip(ROWS, rows[1:]):
        assert int(row[0]) == i
        assert row[1] == (name or "")
        assert row[2] == (amount or "")
    assert '5,"",7.00' in lines and "6,," in lines, "empty string and NULL stay apart"
    # DuckDB reads it back equal to the lake's dataset, row for row.
    back = duckdb.sql(f"SELECT id, name, amount FROM read_csv('{final}', header=true, "
                      "allow_quoted_nulls=false, columns={'id':'BIGINT','name':'VARCHAR',"
                      "'amount':'DECIMAL(12,2)'}) ORDER BY id").fetchall()
    assert back == lake_rows(tmp_path)
    # Counts: every row read was written.
    counts = state_query(tmp_path, "SELECT rows_read, rows_written FROM task_attempts "
                         "WHERE task_id = 'publish'")
    assert counts == [{"rows_read": len(ROWS), "rows_written": len(ROWS)}]


def test_export_parquet_jsonl_gzip_and_split_to_local_paths(tmp_path, ssh_server):
    out = tmp_path / "out"
    p = make_pipeline(tmp_path, ssh_server, f"""
  - id: as_parquet
    kind: file_export
    dataset: raw.sales
    to: out/sales_{{{{ ds_nodash }}}}.parquet
    compression: zstd
  - id: as_jsonl
    kind: file_export
    dataset: raw.sales
    order_by: id
    to: out/sales.jsonl.gz
  - id: as_split_csv
    kind: file_export
    dataset: raw.sales
    order_by: id
    delimiter: ";"
    null_string: "NULL"
    to: out/sales.csv
  - id: many
    kind: sql
    into: marts.many
    sql: SELECT i AS id, md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS payload FROM range(200000) t(i)
  - id: as_parts
    kind: file_export
    dataset: marts.many
    split_size: 1MB
    to: out/parts/many.csv.gz
""")
    run_sluice("run", p, "--date", DS, expect=0)
    expected = lake_rows(tmp_path)
    got = duckdb.sql(f"SELECT id, name, amount FROM '{out}/sales_20261121.parquet' "
                     "ORDER BY id").fetchall()
    assert got == expected
    with gzip.open(out / "sales.jsonl.gz", "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    assert [(r["id"], r["name"]) for r in records] == [(i, n) for i, n, _ in ROWS]
    with open(out / "sales.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter=";"))[1:]
    assert [int(r[0]) for r in rows] == [i for i, _, _ in ROWS]
    assert rows[5][1] == "NULL" and rows[4][1] == "", "null_string: NULL, \"\" stays empty"
    parts = sorted((out / "parts").iterdir())
    assert len(parts) > 1 and parts[0].name == "many_0001.csv.gz", parts
    ids = []
    for part in parts:
        with gzip.open(part, "rt", encoding="utf-8", newline="") as f:
            body = list(csv.reader(f))
        assert body[0] == ["id", "payload"], "every part has the header"
        ids += [int(r[0]) for r in body[1:]]
    assert sorted(ids) == list(range(200000)), "the parts hold every row once"
    assert not [x for x in out.rglob(".*")], "no temporary or work files are left"


def test_export_if_exists_fail_and_skip(tmp_path, ssh_server, remote_dir):
    target = remote_dir / "report.csv"
    target.write_text("someone else's file\n")
    ssh_server.chown(target)
    outputs = {}
    for policy, code in (("fail", 1), ("skip", 0)):
        p = make_pipeline(tmp_path, ssh_server, f"""
  - id: publish
    kind: file_export
    connection: bi
    dataset: raw.sales
    if_exists: {policy}
    to: {ssh_server.url(str(target))}
""")
        r = run_sluice("run", p, "--date", DS, "--force")
        assert r.returncode == code, r
        assert target.read_text() == "someone else's file\n"
        outputs[policy] = r.output
    assert "already exists" in outputs["fail"], outputs["fail"]
    logs = run_sluice("logs", p, "--date", DS, "--task", "publish").output
    assert "if_exists: skip leaves it as it is" in logs, logs


def test_export_to_a_folder_the_user_may_not_write(tmp_path, ssh_server, remote_dir):
    locked = remote_dir / "locked"
    locked.mkdir()
    ssh_server.chown(locked)
    os.chmod(locked, 0o555)
    if os.geteuid() != 0:
        pytest.fail("this test needs root, to log in as an unprivileged user", pytrace=False)
    p = make_pipeline(tmp_path, ssh_server, f"""
  - id: publish
    kind: file_export
    connection: bi
    dataset: raw.sales
    to: {ssh_server.url(str(locked) + '/sales.csv')}
""")
    r = run_sluice("run", p, "--date", DS)
    assert r.returncode == 1, r
    assert "permission denied" in r.output and str(locked) in r.output, r
    assert list(locked.iterdir()) == []


def test_validate_names_file_export_mistakes(tmp_path, ssh_server):
    p = make_pipeline(tmp_path, ssh_server, """
  - id: a
    kind: file_export
    dataset: raw.nope
    to: out/x.xlsx
  - id: b
    kind: file_export
    connection: bi
    dataset: raw.sales
    to: out/y.csv
    partitions: some
  - id: c
    kind: file_export
    dataset: raw.sales
    to: out/z.parquet
    delimiter: ";"
  - id: d
    kind: file_export
    dataset: raw.sales
    to: out/w.csv
    order_by: id
    split_size: 10MB
""")
    r = run_sluice("validate", p, expect=2)
    out = r.output
    assert "cannot tell the format from 'x.xlsx'; add format:" in out
    assert "raw.nope" in out
    assert "connection: is for sftp:// targets" in out
    assert "partitions: 'some' is not one of current, all" in out
    assert "delimiter: is a CSV option; this export writes parquet" in out
    assert "order_by: cannot be kept across split files" in out
    assert ":4:" in out or "line 4" in out or "pipeline.yaml:1" in out, out


# ---------------------------------------------------------------------------------------------
# csv_import from sftp://, and the sensor


def test_csv_import_from_sftp_waits_for_the_file_then_loads_it(tmp_path, ssh_server, remote_dir):
    drop = remote_dir / "drop"
    drop.mkdir()
    ssh_server.chown(drop)
    p = write_pipeline(tmp_path, f"""
pipeline: pickup
connections:
{ssh_server.connection_yaml("drop")}
tasks:
  - id: ingest
    kind: csv_import
    connection: drop
    path: {ssh_server.url(str(drop) + '/sales_{{ ds_nodash }}.csv')}
    wait: {{timeout: 60s, poll: 200ms, stable_for: 1s}}
    into: raw.sales
    columns: {{id: BIGINT, name: VARCHAR, amount: "DECIMAL(12,2)"}}
""")
    proc = subprocess.Popen([sluice_bin(), "run", str(p), "--date", DS],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(2)
        assert proc.poll() is None, "the run waits for the file"
        # The producer writes the file in two steps: the sensor must not take the first half.
        final = drop / "sales_20261121.csv"
        whole = source_csv(tmp_path / "whole.csv").read_bytes()
        final.write_bytes(whole[:20])
        time.sleep(0.5)
        final.write_bytes(whole)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out.decode()
    assert lake_rows(tmp_path) == sorted(
        [(i, n, None if a is None else __import__("decimal").Decimal(a)) for i, n, a in ROWS])
    manifest = json.loads((tmp_path / "lake" / "raw" / "sales" / f"ds={DS}" /
                           "_SUCCESS").read_text())
    assert manifest["sources"][0]["path"].startswith("sftp://"), manifest
    assert not list((tmp_path / ".sluice" / "tmp").glob("*")), "the fetched copy is removed"


def test_sensor_gives_up_at_its_timeout_with_the_reason(tmp_path, ssh_server, remote_dir):
    (remote_dir / "half.csv").write_text("id\n1\n")
    ssh_server.chown(remote_dir / "half.csv")
    p = write_pipeline(tmp_path, f"""
pipeline: pickup
connections:
{ssh_server.connection_yaml("drop")}
tasks:
  - id: ingest
    kind: csv_import
    connection: drop
    path: {ssh_server.url(str(remote_dir) + '/half.csv')}
    wait: {{timeout: 2s, poll: 100ms, marker: half.csv.done}}
    into: raw.t
""")
    start = time.monotonic()
    r = run_sluice("run", p, "--date", DS, expect=1)
    assert time.monotonic() - start < 30
    assert "no marker half.csv.done yet" in r.output and "raise wait.timeout" in r.output, r
    (remote_dir / "half.csv.done").write_text("")
    run_sluice("run", p, "--date", DS, expect=0)


# ---------------------------------------------------------------------------------------------
# Host keys and credentials


def ls(ssh, *extra, path=None, timeout=60):
    return run_sluice("ls", path or ssh.url(""), *extra, timeout=timeout)


def test_unknown_host_key_is_refused_with_its_fingerprint(tmp_path, ssh_server):
    known = tmp_path / "known_hosts"
    known.write_text("")
    r = ls(ssh_server, "--key-file", ssh_server.key, "--known-hosts", known)
    assert r.returncode == 2, r
    fingerprint = subprocess.run(["ssh-keygen", "-lf", str(ssh_server.dir / "host_ed25519.pub")],
                                 capture_output=True, text=True).stdout.split()[1]
    assert fingerprint in r.stderr and "ssh-keyscan -p" in r.stderr, r
    assert "Nothing was sent" in r.stderr
    assert "Accepted" not in ssh_server.log_tail(5), "no credential reached the server"
    # The fix the message gives works.
    cmd = r.stderr.split("`")[1]
    subprocess.run(cmd, shell=True, check=True, capture_output=True, timeout=30)
    ls(ssh_server, "--key-file", ssh_server.key, "--known-hosts", known).returncode == 0
    # accept-new records the key on first use.
    fresh = tmp_path / "fresh_known_hosts"
    r = ls(ssh_server, "--key-file", ssh_server.key, "--known-hosts", fresh,
           "--accept-new-host-key")
    assert r.returncode == 0, r
    assert "ssh-ed25519" in fresh.read_text()


def test_changed_host_key_is_refused_even_with_accept_new(ssh_server):
    r = ls(ssh_server, "--key-file", ssh_server.key, "--known-hosts",
           ssh_server.changed_known_hosts, "--accept-new-host-key")
    assert r.returncode == 2, r
    assert "has CHANGED" in r.stderr and "ssh-keygen -R" in r.stderr, r


def test_wrong_password_and_wrong_key_are_refused_and_rsa_key_and_password_work(
        tmp_path, ssh_server):
    if not ssh_server.password:
        pytest.fail("password login needs root (an account with a known password)", pytrace=False)
    pw = tmp_path / "pw"
    pw.write_text("not-the-password\n")
    os.chmod(pw, 0o600)
    r = ls(ssh_server, "--password-file", pw, "--known-hosts", ssh_server.known_hosts)
    assert r.returncode == 2 and "refused user" in r.stderr and "password" in r.stderr, r
    assert "not-the-password" not in r.output
    r = ls(ssh_server, "--key-file", ssh_server.stranger_key, "--known-hosts",
           ssh_server.known_hosts)
    assert r.returncode == 2 and "authorized_keys" in r.stderr, r
    pw.write_text(ssh_server.password + "\n")
    assert ls(ssh_server, "--password-file", pw, "--known-hosts",
              ssh_server.known_hosts).returncode == 0
    assert ls(ssh_server, "--key-file", ssh_server.rsa_key, "--known-hosts",
              ssh_server.known_hosts).returncode == 0
    # In a pipeline: password: ${env:...} (never in the file itself).
    p = make_pipeline(tmp_path, ssh_server, f"""
  - id: publish
    kind: file_export
    connection: bi
    dataset: raw.sales
    to: {ssh_server.url('pw_export.csv')}
""", connection_extra="")
    text = p.read_text().replace(f"key_file: {ssh_server.key}", 'password: "${env:BI_PASSWORD}"')
    p.write_text(text)
    r = run_sluice("run", p, "--date", DS, env={"BI_PASSWORD": ssh_server.password})
    assert r.returncode == 0, r
    assert (ssh_server.root / "pw_export.csv").exists()


def test_a_stopped_server_ends_at_the_timeout(ssh_server):
    ssh_server.pause()
    try:
        start = time.monotonic()
        r = ls(ssh_server, "--key-file", ssh_server.key, "--known-hosts", ssh_server.known_hosts,
               "--timeout", "2")
        took = time.monotonic() - start
    finally:
        ssh_server.resume()
    assert r.returncode == 1 and "Timeout" in r.stderr, r
    assert took < 15, took


# ---------------------------------------------------------------------------------------------
# put / get: a killed upload, and 1 GB with bounded memory


def big_file(path: Path, size: int) -> str:
    """A file of size bytes that compresses poorly, and its sha256."""
    h = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        written = 0
        n = 0
        while written < size:
            chunk = (block[n % 997:] + block[:n % 997])[: min(len(block), size - written)]
            f.write(chunk)
            h.update(chunk)
            written += len(chunk)
            n += 1
    return h.hexdigest()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_killed_upload_leaves_nothing_under_the_final_name(tmp_path, ssh_server, remote_dir):
    local = tmp_path / "big.bin"
    big_file(local, 300 << 20)
    args = [sluice_bin(), "put", str(local), ssh_server.url(str(remote_dir) + "/"),
            "--key-file", str(ssh_server.key), "--known-hosts", str(ssh_server.known_hosts)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tmp = remote_dir / ".big.bin.sluice-tmp"
    try:
        wait_for(lambda: tmp.exists() and tmp.stat().st_size > (8 << 20), timeout=60,
                 what="the upload to be under way")
    finally:
        proc.kill()
        proc.wait()
    assert not (remote_dir / "big.bin").exists(), "a killed upload has no file under the final name"
    # Run again: the leftover is replaced and the whole file lands.
    r = run_sluice(*args[1:], timeout=300)
    assert r.returncode == 0, r
    assert sorted(x.name for x in remote_dir.iterdir()) == ["big.bin"]
    assert (remote_dir / "big.bin").stat().st_size == local.stat().st_size


def test_one_gigabyte_streams_both_ways_with_bounded_memory(tmp_path, ssh_server, remote_dir):
    size = (256 << 20) if SANITIZED else (1 << 30)
    local = tmp_path / "huge.bin"
    digest = big_file(local, size)
    common = ["--key-file", ssh_server.key, "--known-hosts", ssh_server.known_hosts]

    def peak_rss_mb(args):
        """Runs sluice under a fresh Python whose only child it is: its ru_maxrss of children
        is sluice's peak RSS."""
        wrapper = ("import resource, subprocess, sys; "
                   "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
                   "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        res = subprocess.run([sys.executable, "-c", wrapper, sluice_bin(),
                              *map(str, args), *map(str, common)],
                             capture_output=True, text=True, timeout=600)
        rc, kb = res.stdout.split()
        assert rc == "0", res.stderr
        return int(kb) / 1024

    start = time.monotonic()
    rss_put = peak_rss_mb(["put", local, ssh_server.url(str(remote_dir) + "/")])
    put_s = time.monotonic() - start
    assert sha256(remote_dir / "huge.bin") == digest
    back = tmp_path / "back.bin"
    start = time.monotonic()
    rss_get = peak_rss_mb(["get", ssh_server.url(str(remote_dir) + "/huge.bin"), back])
    get_s = time.monotonic() - start
    assert sha256(back) == digest
    print(f"\n1 GB put {put_s:.1f}s get {get_s:.1f}s peak RSS {rss_put:.0f}/{rss_get:.0f} MB")
    # A copy that held the file in memory would be over 1 GB.
    limit = 600 if SANITIZED else 200
    assert rss_put < limit and rss_get < limit, (rss_put, rss_get)
    local.unlink()
    back.unlink()
    (remote_dir / "huge.bin").unlink()


def test_ctrl_c_stops_an_upload_at_once_and_leaves_no_final_name(tmp_path, ssh_server,
                                                                  remote_dir):
    local = tmp_path / "big.bin"
    big_file(local, 400 << 20)
    proc = subprocess.Popen([sluice_bin(), "put", str(local), ssh_server.url(str(remote_dir) + "/"),
                             "--key-file", str(ssh_server.key), "--known-hosts",
                             str(ssh_server.known_hosts)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tmp = remote_dir / ".big.bin.sluice-tmp"
    try:
        wait_for(lambda: tmp.exists() and tmp.stat().st_size > (4 << 20), timeout=60,
                 what="the upload to be under way")
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert took < 5, took
    assert not (remote_dir / "big.bin").exists()


def test_task_timeout_ends_a_call_blocked_on_a_stopped_session(tmp_path, ssh_server, remote_dir):
    """The server's process for our session stops mid-conversation (SIGSTOP: TCP still up,
    no answers): the connection's own timeout is long, but the task's timeout ends the run."""
    p = write_pipeline(tmp_path, f"""
pipeline: pickup
connections:
{ssh_server.connection_yaml("drop", timeout="120s")}
tasks:
  - id: ingest
    kind: csv_import
    connection: drop
    timeout: 4s
    path: {ssh_server.url(str(remote_dir) + '/never.csv')}
    wait: {{timeout: 120s, poll: 200ms}}
    into: raw.t
""")
    proc = subprocess.Popen([sluice_bin(), "run", str(p), "--date", DS],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    stopped = []
    try:
        def session_pids():
            out = subprocess.run(["pgrep", "-f", f"sshd: {ssh_server.user}"],
                                 capture_output=True, text=True).stdout.split()
            return [int(x) for x in out]
        wait_for(lambda: session_pids(), timeout=30, what="the sftp session")
        time.sleep(0.5)  # a few polls through the session
        for pid in session_pids():
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        start = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - start
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
    text = out.decode()
    assert proc.returncode == 1, text
    assert "timed out after 4s" in text, text
    assert took < 15, took
