"""csv_import regressions found by probing with bad input and faults (issue: data loss, hangs
and rough edges). Each test is named after what broke; each failed on the code before the fix.
Counts are checked against the file itself: rows read = loaded + rejected, always."""

import datetime as dt
import decimal
import json
import os
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from conftest import (run_gen, partition_dir, read_manifest, read_rows, run_sluice, summary_rows,
                      wait_for, write_pipeline)

DS = "2026-11-21"


def pipeline(folder: Path, columns: str, path_key: str = "path: input.csv", extra: str = "",
             rejects: str = "{max: 100}", top: str = "") -> Path:
    return write_pipeline(folder, f"""
        pipeline: hardening
        {top}
        tasks:
          - id: ingest
            kind: csv_import
            {path_key}
            into: raw.items
            columns: {columns}
            rejects: {rejects}
            {extra}
        """)


def run(folder: Path, *more, **kw):
    return run_sluice("run", folder / "pipeline.yaml", "--date", DS, *more, cwd=folder, **kw)


def counts(r):
    s = summary_rows(r.stdout)["ingest"]
    return s["read"], s["loaded"], s["rejected"]


def rejects(folder: Path):
    return read_rows(folder / "lake", "rejects.raw_items", DS, order_by="line, column_index")


# --- 1. a value that does not fit its declared type exactly is a reject, never rounded --------


def test_csv_decimal_that_would_round_is_rejected_not_rounded(tmp_path):
    (tmp_path / "input.csv").write_bytes(b"id,v\n1,1.2\n2,1.25\n3,-7.50\n4,\n5,12345678901.0\n")
    pipeline(tmp_path, "{id: BIGINT, v: \"DECIMAL(12,1)\"}")
    r = run(tmp_path)
    assert r.returncode == 0, str(r)
    assert read_rows(tmp_path / "lake", "raw.items", DS, order_by="id") == [
        (1, decimal.Decimal("1.2")), (3, decimal.Decimal("-7.5")), (4, None),
        (5, decimal.Decimal("12345678901.0"))]
    assert counts(r) == (5, 4, 1)
    (rej,) = rejects(tmp_path)
    assert rej[1:6] == (3, 11, 2, "v", "CAST"), rej
    assert '"1.25" is not exactly a DECIMAL(12,1)' in rej[6], rej
    assert "never rounded" in rej[6]


@pytest.mark.parametrize("column_type,good,bad", [
    ("TIMESTAMP", "2024-01-01 10:00:00.123456", "2024-01-01 10:00:00.1234567"),
    ("TIMESTAMP", "2024-01-01T10:00:00Z", "2024-01-01 12:00:00+02"),
    ("TIMESTAMP_S", "2024-01-01 10:00:01", "2024-01-01 10:00:00.5"),
    ("TIME", "10:00:00.5", "10:00:00.1234567"),
    ("DATE", "2024-02-29", "2024-01-01 10:00:00"),
    ("INTEGER", "12.000", "1.5"),
    ("INTEGER", "1e3", "0x10"),
    ("BIGINT", "-9223372036854775808", "9223372036854775808"),
    ("UTINYINT", "255", "-1"),
    ("HUGEINT", "-99999999999999999999999999999999999999", "1.5"),
    ("HUGEINT", "99999999999999999999999999999999999999", "100000000000000000000000000000000000000"),
    ("FLOAT", "16777216", "16777217"),
    ("DOUBLE", "0.1", "9007199254740993"),
    ("DOUBLE", "1e308", "1e400"),
    ("\"DECIMAL(38,10)\"", "9999999999999999999999999999.9999999999", "0.00000000001"),
    ("\"DECIMAL(4,2)\"", "-99.99", "100"),
])
def test_csv_narrowing_casts_are_rejects(tmp_path, column_type, good, bad):
    (tmp_path / "input.csv").write_text(f"id,v\n1,{good}\n2,{bad}\n")
    pipeline(tmp_path, f"{{id: BIGINT, v: {column_type}}}")
    r = run(tmp_path)
    assert r.returncode == 0, str(r)
    assert counts(r) == (2, 1, 1), r.stdout
    assert [row[0] for row in read_rows(tmp_path / "lake", "raw.items", DS)] == [1]
    (rej,) = rejects(tmp_path)
    assert (rej[1], rej[4], rej[5]) == (3, "v", "CAST"), rej
    assert f'"{bad}" is not exactly a' in rej[6], rej


def test_csv_exact_types_keep_their_values(tmp_path):
    """What the exact reading accepts lands as the declared type would read it."""
    (tmp_path / "input.csv").write_text(
        "t,ts,tz,d,f,x\n"
        "10:30,2024-01-01 10:00:00.5,2024-01-01 12:00:00+02:00,2024/02/29,0.1,-0.0\n")
    pipeline(tmp_path, "{t: TIME, ts: TIMESTAMP, tz: TIMESTAMPTZ, d: DATE, f: FLOAT, x: DOUBLE}")
    r = run(tmp_path)
    assert r.returncode == 0, str(r)
    (row,) = read_rows(tmp_path / "lake", "raw.items", DS)
    assert row[0] == dt.time(10, 30)
    assert row[1] == dt.datetime(2024, 1, 1, 10, 0, 0, 500000)
    assert row[2].astimezone(dt.timezone.utc) == dt.datetime(2024, 1, 1, 10, tzinfo=dt.timezone.utc)
    assert row[3] == dt.date(2024, 2, 29)
    assert abs(row[4] - 0.1) < 1e-7
    schema = {c["name"]: c["type"] for c in read_manifest(tmp_path / "lake", "raw.items", DS)["schema"]}
    assert schema == {"t": "TIME", "ts": "TIMESTAMP", "tz": "TIMESTAMP WITH TIME ZONE",
                      "d": "DATE", "f": "FLOAT", "x": "DOUBLE"}


# --- 2. quoted empty is an empty string, unquoted empty is NULL (PostgreSQL's COPY rule) ------


def test_csv_quoted_empty_is_empty_string_unquoted_empty_is_null(tmp_path):
    (tmp_path / "input.csv").write_bytes(b'id,s\n1,""\n2,\n3,x\n')
    pipeline(tmp_path, "{id: BIGINT, s: VARCHAR}")
    r = run(tmp_path)
    assert r.returncode == 0, str(r)
    assert read_rows(tmp_path / "lake", "raw.items", DS, order_by="id") == [
        (1, ""), (2, None), (3, "x")]


def test_csv_quoted_null_string_is_text(tmp_path):
    (tmp_path / "input.csv").write_bytes(b'id,s\n1,NA\n2,"NA"\n')
    pipeline(tmp_path, "{id: BIGINT, s: VARCHAR}", extra="null_string: NA")
    r = run(tmp_path)
    assert r.returncode == 0, str(r)
    assert read_rows(tmp_path / "lake", "raw.items", DS, order_by="id") == [(1, None), (2, "NA")]


# --- 3. the NULL text option has a name YAML leaves alone -------------------------------------


def test_null_key_written_plain_is_named_for_what_it_is(tmp_path):
    (tmp_path / "input.csv").write_bytes(b"id\n1\n")
    p = pipeline(tmp_path, "{id: BIGINT}", extra="null: NA")
    r = run_sluice("validate", p, cwd=tmp_path)
    assert r.returncode == 2, str(r)
    assert "unknown key ''" not in r.stderr
    assert re.search(r"pipeline.yaml:\d+:\d+: a key written as null, ~ or nothing is read by YAML "
                     r"as no key \(null\).*null_string:", r.stderr), r.stderr


@pytest.mark.parametrize("key", ["null_string", '"null"'])
def test_null_string_and_quoted_null_keys_work(tmp_path, key):
    (tmp_path / "input.csv").write_bytes(b"id,s\n1,NA\n2,b\n")
    pipeline(tmp_path, "{id: BIGINT, s: VARCHAR}", extra=f"{key}: NA")
    r = run(tmp_path)
    assert r.returncode == 0, str(r)
    assert read_rows(tmp_path / "lake", "raw.items", DS, order_by="id") == [(1, None), (2, "b")]


# --- 4. a type cut at its comma by YAML's inline style ----------------------------------------


def test_unquoted_decimal_in_inline_mapping_says_quote_it(tmp_path):
    (tmp_path / "input.csv").write_bytes(b"id,v\n1,2\n")
    p = pipeline(tmp_path, "{id: BIGINT, v: DECIMAL(12,2)}")
    r = run_sluice("validate", p, cwd=tmp_path)
    assert r.returncode == 2, str(r)
    assert "quote it: \"DECIMAL(12,2)\"" in r.stderr, r.stderr
    assert r.stderr.count("problem") == 1 and "1 problem found" in r.stderr, r.stderr


# --- 13. a row longer than the reader's buffer is a reject, never silence ---------------------


def test_csv_row_of_33_mib_is_rejected_not_dropped(tmp_path):
    big = b"x" * (33 * 1024 * 1024)
    data = b"id,name\n1,a\n2," + big + b"\n3,c\n"
    (tmp_path / "input.csv").write_bytes(data)
    pipeline(tmp_path, "{id: BIGINT, name: VARCHAR}")
    r = run(tmp_path, timeout=300)
    assert r.returncode == 0, str(r)
    assert counts(r) == (3, 2, 1), r.stdout
    assert [row[0] for row in read_rows(tmp_path / "lake", "raw.items", DS, order_by="id")] == [1, 3]
    (rej,) = rejects(tmp_path)
    assert rej[1:3] == (3, data.index(b"2,")), rej
    assert rej[5] == "LINE SIZE OVER MAXIMUM", rej
    assert "longer than max_line_size" in rej[6], rej
    assert rej[7].startswith("2,xxxx") and len(rej[7]) == 64 * 1024, len(rej[7])


# --- 15. a file truncated while it is read: a clear, retryable error --------------------------


def test_csv_truncated_while_read_is_a_retryable_error(tmp_path, background):
    data = b"id,name\n" + b"".join(b"%d,name%d\n" % (i, i) for i in range(200000))
    (tmp_path / "input.csv").write_bytes(data)
    pipeline(tmp_path, "{id: BIGINT, name: VARCHAR}", extra="retries: 0")
    b = background("run", tmp_path / "pipeline.yaml", "--date", DS, cwd=tmp_path,
                   env={"SLUICE_FAULT": "stop:write.after_data"})
    wait_for(lambda: "stopped at write.after_data" in b.stderr(), 60, what="the fault point")
    wait_for(lambda: Path(f"/proc/{b.proc.pid}/stat").read_text().split()[2] == "T", 10,
             what="the process to stop")
    with open(tmp_path / "input.csv", "r+b") as f:
        f.truncate(len(data) // 3)
    os.kill(b.proc.pid, signal.SIGCONT)
    assert b.wait(60) == 1
    out = b.stdout()
    assert "changed while it was read" in out, out
    assert not partition_dir(tmp_path / "lake", "raw.items", DS).exists()
    attempts = subprocess.run(["sqlite3", str(tmp_path / ".sluice" / "state.db"),
                               "SELECT status FROM task_attempts"], capture_output=True, text=True)
    assert attempts.stdout.split() in (["failed"], []) or "failed" in out


# --- 16. path: names one file; glob: reads a pattern and records the files in the manifest ----


def test_csv_path_is_not_a_glob(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "d?.csv").write_bytes(b"id\n1\n")
    (inp / "d1.csv").write_bytes(b"id\n2\n")
    pipeline(tmp_path, "{id: BIGINT}", path_key="path: in/{{ var('f') }}")
    r = run(tmp_path, "--var", "f=d?.csv")
    assert r.returncode == 0, str(r)
    assert read_rows(tmp_path / "lake", "raw.items", DS) == [(1,)]
    sources = read_manifest(tmp_path / "lake", "raw.items", DS)["sources"]
    assert [(Path(s["path"]).name, s["records"]) for s in sources] == [("d?.csv", 1)]
    r = run(tmp_path, "--var", "f=*", "--force")
    assert r.returncode == 1, str(r)
    assert "does not exist" in r.stdout and "write glob:" in r.stdout, r.stdout
    assert read_rows(tmp_path / "lake", "raw.items", DS) == [(1,)], "the partition stays"


def test_csv_glob_reads_every_match_and_names_them(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "part_b.csv").write_bytes(b"id,name\n3,c\nx,bad\n")
    (inp / "part_a.csv").write_bytes(b"id,name\n1,a\n2,b\n")
    (inp / "other.csv").write_bytes(b"id,name\n9,z\n")
    pipeline(tmp_path, "{id: BIGINT, name: VARCHAR}", path_key="glob: in/part_*.csv")
    r = run(tmp_path)
    assert r.returncode == 0, str(r)
    assert counts(r) == (4, 3, 1)
    assert [row[0] for row in read_rows(tmp_path / "lake", "raw.items", DS, order_by="id")] == [1, 2, 3]
    sources = read_manifest(tmp_path / "lake", "raw.items", DS)["sources"]
    assert [(Path(s["path"]).name, s["records"]) for s in sources] == [
        ("part_a.csv", 2), ("part_b.csv", 2)]
    (rej,) = rejects(tmp_path)
    assert Path(rej[0]).name == "part_b.csv" and rej[1] == 3, rej


def test_csv_glob_without_matches_is_a_retryable_not_found(tmp_path):
    pipeline(tmp_path, "{id: BIGINT}", path_key="glob: in/none_*.csv", extra="retries: 0")
    r = run(tmp_path)
    assert r.returncode == 1
    assert "no file matches glob" in r.stdout, r.stdout


# --- 17. mixed CRLF and LF line endings: the line is named ------------------------------------


def test_csv_mixed_line_endings_name_the_line(tmp_path):
    (tmp_path / "input.csv").write_bytes(b"id,name\r\n1,a\r\n2,b\n3,c\r\n")
    pipeline(tmp_path, "{id: BIGINT, name: VARCHAR}")
    r = run(tmp_path)
    assert r.returncode == 1, str(r)
    assert "mixes line endings: the first line ends with CRLF but line 3 with LF" in r.stdout, r.stdout
    assert not partition_dir(tmp_path / "lake", "raw.items", DS).exists()


# --- 22. smaller rough edges --------------------------------------------------------------------


def test_csv_unclosed_quote_counts_the_lines_after_it(tmp_path):
    (tmp_path / "input.csv").write_bytes(b'id,name\n1,"a\n2,b\n3,c\n')
    pipeline(tmp_path, "{id: BIGINT, name: VARCHAR}")
    r = run(tmp_path)
    assert r.returncode == 1, str(r)
    assert "line 2 (byte 8) opens a quote that is never closed, so the 2 lines after it" in r.stdout, \
        r.stdout


def test_csv_cr_only_line_endings_with_header(tmp_path):
    (tmp_path / "input.csv").write_bytes(b"id,name\r1,a\r2,b\rx,c\r")
    pipeline(tmp_path, "{id: BIGINT, name: VARCHAR}")
    r = run(tmp_path)
    assert r.returncode == 0, str(r)
    assert counts(r) == (3, 2, 1)
    (rej,) = rejects(tmp_path)
    assert rej[1:3] == (4, 16), rej


def test_date_zero_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "input.csv").write_bytes(b"id\n1\n")
    pipeline(tmp_path, "{id: BIGINT}")
    r = run_sluice("run", tmp_path / "pipeline.yaml", "--date", "0000-01-01", cwd=tmp_path)
    assert r.returncode == 2, str(r)
    assert "out of range" in r.stderr and "-001" not in r.output, r.output


def test_failed_import_first_line_stands_alone(tmp_path):
    """The progress line shows the error's first line: it must not end in a dangling list
    header, and the rejects follow in the details after the summary."""
    (tmp_path / "input.csv").write_bytes(b"id\n1\nx\ny\n")
    pipeline(tmp_path, "{id: BIGINT}", rejects="{max: 1}")
    r = run(tmp_path)
    assert r.returncode == 1
    (line,) = [l for l in r.stdout.splitlines() if l.startswith("  x ingest failed")]
    assert line.endswith("more than rejects.max (1); raise rejects.max or fix the file"), line
    details = r.stdout[r.stdout.index("ingest failed:\n"):]
    assert "the first ones:" in details and "line 3 (byte 5)" in details, details
    # sluice status shows the whole message, not its first 400 bytes cut mid-word.
    st = run_sluice("status", tmp_path / "pipeline.yaml", "--date", DS, cwd=tmp_path, expect=0)
    assert "line 3 (byte 5)" in st.stdout and "line 4 (byte 7)" in st.stdout, st.stdout


def test_header_check_follows_quotes_and_escapes(tmp_path):
    """The header is read by the reader's own rules: a quoted name with a comma and a line
    break matches, and the escape character is honoured."""
    (tmp_path / "input.csv").write_bytes(b'id,"a,\nb",c\n1,x,y\n')
    pipeline(tmp_path, "{id: BIGINT, \"a,\\nb\": VARCHAR, c: VARCHAR}")
    r = run(tmp_path)
    assert r.returncode == 0, str(r)
    (tmp_path / "input.csv").write_bytes(b'id,"a\\"b",c\n1,x,y\n')
    pipeline(tmp_path, "{id: BIGINT, \"a\\\"b\": VARCHAR, c: VARCHAR}", extra="escape: '\\'")
    r = run(tmp_path, "--force")
    assert r.returncode == 0, str(r)


# --- 18. spill files live under the state folder and do not outlive their process -------------


def test_spill_folder_is_under_state_and_dead_ones_are_removed(tmp_path):
    (tmp_path / "input.csv").write_bytes(b"id\n1\n")
    pipeline(tmp_path, "{id: BIGINT}")
    stale = tmp_path / ".sluice" / "spill" / "sluice-999999"
    stale.mkdir(parents=True)
    (stale / "duckdb_temp_storage-0.tmp").write_bytes(b"x" * 1000)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    r = run_sluice("run", tmp_path / "pipeline.yaml", "--date", DS, cwd=cwd)
    assert r.returncode == 0, str(r)
    assert not stale.exists(), "a dead process's spill folder must be removed"
    assert not (cwd / ".tmp").exists()
    assert list((tmp_path / ".sluice" / "spill").iterdir()) == [], "a finished run leaves no spill"


def test_spill_happens_under_the_configured_folder(tmp_path):
    write_pipeline(tmp_path, """
        pipeline: spill
        engine: {memory_limit: 150MB, threads: 1, temp_directory: ./myspill}
        tasks:
          - id: sorted
            kind: sql
            into: staging.sorted
            sql: SELECT i, repeat('v', 200) || i AS name FROM range(1000000) t(i) ORDER BY name DESC
        """)
    b = subprocess.Popen([os.environ.get("SLUICE_BIN", "build/sluice"), "run",
                          str(tmp_path / "pipeline.yaml"), "--date", DS], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = set()
    while b.poll() is None:
        for p in (tmp_path / "myspill").glob("sluice-*/*"):
            seen.add(p.parent.name)
        time.sleep(0.01)
    out, err = b.communicate()
    assert b.returncode == 0, out.decode() + err.decode()
    assert seen == {f"sluice-{b.pid}"}, f"spill files seen in {seen}"
    assert list((tmp_path / "myspill").iterdir()) == []
    assert not (tmp_path / ".tmp").exists()


def test_out_of_memory_names_the_settings_of_the_pipeline_file(tmp_path):
    """A query that cannot fit engine.memory_limit even spilling fails with the fix in the
    pipeline file's words, not DuckDB's SQL settings, and publishes nothing."""
    write_pipeline(tmp_path, """
        pipeline: oom
        engine: {memory_limit: 16MB, threads: 1}
        tasks:
          - id: latest
            kind: sql
            into: staging.latest
            sql: |
              SELECT * FROM (
                SELECT i % 100000 AS k, repeat('v', 100) || i AS payload,
                       row_number() OVER (PARTITION BY i % 100000 ORDER BY i DESC) AS version
                FROM range(3000000) t(i)) WHERE version = 1
        """)
    r = run_sluice("run", tmp_path / "pipeline.yaml", "--date", DS)
    assert r.returncode == 1, str(r)
    assert "Out of Memory" in r.output and "raise engine.memory_limit" in r.output, str(r)
    assert "docs/performance.md#memory" in r.output, str(r)
    assert "Possible solutions" not in r.output and "SET memory_limit" not in r.output, str(r)
    assert not (tmp_path / "lake" / "staging" / "latest").exists() or not any(
        (tmp_path / "lake" / "staging" / "latest").rglob("_SUCCESS"))


def test_csv_full_disk_is_reported_as_a_write_error(tmp_path):
    """A lake that fills up is a problem with the output: the message says so (it used to say
    'cannot read' the CSV), and nothing is published."""
    import random
    import subprocess as sp
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    mounted = sp.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(tiny)],
                     capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a 1 MB tmpfs for the lake: {mounted.stderr}"
    try:
        rnd = random.Random(5)
        rows = "".join(f"{i},{rnd.getrandbits(256):064x}\n" for i in range(60000))
        (tmp_path / "input.csv").write_text("id,name\n" + rows)
        pipeline(tmp_path, "{id: BIGINT, name: VARCHAR}", top=f"lake: {tiny}/lake",
                 extra="retries: 0")
        r = run(tmp_path)
        assert r.returncode == 1, str(r)
        assert "cannot write the partition into the lake" in r.stdout, r.stdout
        assert "No space left on device" in r.stdout, r.stdout
        assert "cannot read" not in r.stdout, r.stdout
        assert not (tiny / "lake" / "raw").exists() or not any((tiny / "lake" / "raw").rglob("_SUCCESS"))
    finally:
        sp.run(["umount", str(tiny)], check=False)


@pytest.mark.skipif(os.environ.get("SLUICE_SANITIZED") == "1",
                    reason="AddressSanitizer's shadow memory and quarantine inflate RSS")
def test_csv_import_memory_does_not_grow_with_the_file(tmp_path):
    """Finding the lines of rejected rows used to map the whole input into memory (a 1 GB
    file peaked at 1.38 GB); it streams now, so peak memory stays well below the file's size."""
    csv = tmp_path / "input.csv"
    run_gen("citizens", "--rows", 3000000, "--seed", "9", "--out", csv, expect=0,
            timeout=300)
    size = csv.stat().st_size
    assert size > 450_000_000, size
    write_pipeline(tmp_path, """
        pipeline: memory
        engine: {threads: 1, memory_limit: 300MB}
        tasks:
          - id: ingest
            kind: csv_import
            path: input.csv
            into: raw.citizens
            rejects: {max: 1%}
            columns: {citizen_id: BIGINT, first_name: VARCHAR, last_name: VARCHAR,
                      gender: VARCHAR, birth_date: DATE, email: VARCHAR, phone: VARCHAR,
                      street: VARCHAR, city: VARCHAR, region: VARCHAR, postal_code: VARCHAR,
                      occupation: VARCHAR, annual_income: "DECIMAL(12,2)",
                      registered_at: TIMESTAMP, updated_at: TIMESTAMP}
        """)
    import subprocess as sp
    p = sp.run(["/usr/bin/time", "-f", "maxrss_kb=%M", os.environ.get("SLUICE_BIN", "build/sluice"),
                "run", tmp_path / "pipeline.yaml", "--date", DS], cwd=tmp_path,
               capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert counts_of(p.stdout)[2] > 0, "the file must have rejects (the line count runs then)"
    peak = int(re.search(r"maxrss_kb=(\d+)", p.stderr).group(1)) * 1024
    assert peak < size * 0.8, f"peak RSS {peak / 1e6:.0f} MB for a {size / 1e6:.0f} MB file"


def counts_of(stdout):
    s = summary_rows(stdout)["ingest"]
    return s["read"], s["loaded"], s["rejected"]
