"""csv_import on malformed input: one test per documented case, each with a tiny hand-written
file (exact bytes) and a pipeline with explicit columns. Rejects are checked exactly:
line (1-based physical, header = 1), byte_offset (0-based start of the row) and error_type."""

import datetime as dt
import re
import textwrap
from pathlib import Path

import pytest

from conftest import (assert_manifest_matches_files, assert_no_leftovers, partition_dir,
                      read_columns, read_rows, reconciliation_line, run_sluice, state_query,
                      summary_rows, write_pipeline)

DS = "2026-11-21"
REJECT_COLS = ["file", "line", "byte_offset", "column_index", "column", "error_type", "reason",
               "raw_line"]


def make_pipeline(folder: Path, extra: str = "", rejects: str = "{max: 10}",
                  columns: str = "{id: BIGINT, name: VARCHAR, d: DATE}") -> Path:
    base = textwrap.dedent(f"""
        pipeline: malformed
        lake: ./lake
        warehouse: ./warehouse.duckdb
        state: ./.sluice
        tasks:
          - id: ingest
            kind: csv_import
            path: input.csv
            into: raw.items
            columns: {columns}
            rejects: {rejects}
        """)
    return write_pipeline(folder, base + "".join(f"    {line}\n" for line in extra.splitlines()
                                                 if line.strip()))


def run_on(tmp_path: Path, data: bytes, **kw):
    (tmp_path / "input.csv").write_bytes(data)
    pipeline = make_pipeline(tmp_path, **kw)
    return run_sluice("run", pipeline, "--date", DS, cwd=tmp_path)


def items(tmp_path: Path):
    return read_rows(tmp_path / "lake", "raw.items", DS, order_by="id")


def rejects(tmp_path: Path):
    lake = tmp_path / "lake"
    assert [c for c, _ in read_columns(lake, "rejects.raw_items", DS)] == REJECT_COLS
    return [dict(zip(REJECT_COLS, r))
            for r in read_rows(lake, "rejects.raw_items", DS, order_by="line, column_index")]


def reject_keys(tmp_path: Path):
    """{(line, byte_offset, error_type)} of the rejects dataset."""
    return sorted({(r["line"], r["byte_offset"], r["error_type"]) for r in rejects(tmp_path)})


def offset_of_line(data: bytes, line: int) -> int:
    """0-based byte offset where 1-based physical line `line` starts."""
    off = 0
    for _ in range(line - 1):
        off = data.index(b"\n", off) + 1
    return off


def assert_reconciles(r, read, loaded, rejected):
    s = summary_rows(r.stdout)["ingest"]
    assert (s["read"], s["loaded"], s["rejected"]) == (read, loaded, rejected), r.stdout
    if rejected:
        assert reconciliation_line(r.stdout, "ingest") == (read, loaded, rejected), r.stdout


def assert_nothing_published(tmp_path: Path):
    lake = tmp_path / "lake"
    for d in ("raw.items", "rejects.raw_items"):
        p = partition_dir(lake, d, DS)
        assert not p.exists(), f"{p} was published by a failed task"
    assert_no_leftovers(lake)


GOOD = b"id,name,d\n1,alpha,2020-01-01\n"


def test_csv_well_formed_file_loads_every_row(tmp_path):
    """The baseline the malformed cases differ from."""
    data = GOOD + b"2,beta,2020-01-02\n3,\"gamma, delta\",2020-01-03\n"
    r = run_on(tmp_path, data)
    assert r.returncode == 0, str(r)
    assert items(tmp_path) == [(1, "alpha", dt.date(2020, 1, 1)), (2, "beta", dt.date(2020, 1, 2)),
                               (3, "gamma, delta", dt.date(2020, 1, 3))]
    assert rejects(tmp_path) == []
    assert_reconciles(r, 3, 3, 0)
    assert_manifest_matches_files(tmp_path / "lake", "raw.items", DS)


def test_csv_unterminated_quote(tmp_path):
    data = GOOD + b'2,"beta,2020-01-02\n3,gamma,2020-01-03\n4,delta,2020-01-04\n'
    r = run_on(tmp_path, data)
    assert r.returncode == 1, str(r)
    assert "opens a quote that is never closed" in r.stdout, str(r)
    assert re.search(r"\bline 3\b", r.stdout), f"the error must name line 3\n{r}"
    assert_nothing_published(tmp_path)
    assert summary_rows(r.stdout)["ingest"]["status"] == "failed"


@pytest.mark.parametrize("ending", [b"", b"\n"], ids=["no_final_newline", "final_newline"])
def test_csv_unterminated_quote_at_eof(tmp_path, ending):
    """The quote opens on the last line and the file ends before it closes."""
    data = GOOD + b'2,beta,2020-01-02\n3,"gamma,2020-01-03' + ending
    r = run_on(tmp_path, data)
    assert r.returncode == 1, str(r)
    assert "opens a quote that is never closed" in r.stdout, str(r)
    assert re.search(r"\bline 4\b", r.stdout), f"the error must name line 4\n{r}"
    assert_nothing_published(tmp_path)


def test_csv_missing_columns(tmp_path):
    data = GOOD + b"2,beta\n3,gamma,2020-01-03\n"
    r = run_on(tmp_path, data)
    assert r.returncode == 0, str(r)
    assert items(tmp_path) == [(1, "alpha", dt.date(2020, 1, 1)),
                               (3, "gamma", dt.date(2020, 1, 3))]
    assert reject_keys(tmp_path) == [(3, offset_of_line(data, 3), "MISSING COLUMNS")]
    rej = rejects(tmp_path)
    assert rej[0]["raw_line"] == "2,beta"
    assert rej[0]["file"] == str(tmp_path / "input.csv")
    assert rej[0]["reason"]
    assert_reconciles(r, 3, 2, 1)


def test_csv_too_many_columns(tmp_path):
    data = GOOD + b"2,beta,2020-01-02,surplus\n3,gamma,2020-01-03\n"
    r = run_on(tmp_path, data)
    assert r.returncode == 0, str(r)
    assert items(tmp_path) == [(1, "alpha", dt.date(2020, 1, 1)),
                               (3, "gamma", dt.date(2020, 1, 3))]
    assert reject_keys(tmp_path) == [(3, offset_of_line(data, 3), "TOO MANY COLUMNS")]
    assert rejects(tmp_path)[0]["raw_line"] == "2,beta,2020-01-02,surplus"
    assert_reconciles(r, 3, 2, 1)


def test_csv_wrong_column_count_rows_rejected_others_loaded(tmp_path):
    """Both kinds in one file, among good rows: every good row loads, each bad one is a reject
    at its own line and offset."""
    data = GOOD + b"2,beta\n3,gamma,2020-01-03\n4,delta,2020-01-04,x,y\n5,eps,2020-01-05\n"
    r = run_on(tmp_path, data)
    assert r.returncode == 0, str(r)
    assert [row[0] for row in items(tmp_path)] == [1, 3, 5]
    assert reject_keys(tmp_path) == [(3, offset_of_line(data, 3), "MISSING COLUMNS"),
                                     (5, offset_of_line(data, 5), "TOO MANY COLUMNS")]
    assert_reconciles(r, 5, 3, 2)


def test_csv_invalid_utf8(tmp_path):
    data = GOOD + b"2,b\xff\xfeeta,2020-01-02\n3,gamma,2020-01-03\n"
    r = run_on(tmp_path, data)
    assert r.returncode == 0, str(r)
    assert items(tmp_path) == [(1, "alpha", dt.date(2020, 1, 1)),
                               (3, "gamma", dt.date(2020, 1, 3))]
    assert reject_keys(tmp_path) == [(3, offset_of_line(data, 3), "INVALID ENCODING")]
    assert_reconciles(r, 3, 2, 1)


def test_csv_impossible_dates(tmp_path):
    data = GOOD + b"2,beta,1990-02-31\n3,gamma,31/12/1990\n4,delta,2020-01-04\n"
    r = run_on(tmp_path, data)
    assert r.returncode == 0, str(r)
    assert [row[0] for row in items(tmp_path)] == [1, 4]
    assert reject_keys(tmp_path) == [(3, offset_of_line(data, 3), "CAST"),
                                     (4, offset_of_line(data, 4), "CAST")]
    for rej in rejects(tmp_path):
        assert rej["column"] == "d"
    assert_reconciles(r, 4, 2, 2)


def test_csv_utf8_bom(tmp_path):
    data = b"\xef\xbb\xbf" + GOOD + "2,Zoë,2020-01-02\n".encode()
    r = run_on(tmp_path, data)
    assert r.returncode == 0, str(r)
    assert items(tmp_path) == [(1, "alpha", dt.date(2020, 1, 1)), (2, "Zoë", dt.date(2020, 1, 2))]
    cols = read_columns(tmp_path / "lake", "raw.items", DS)
    assert [c for c, _ in cols] == ["id", "name", "d"]
    assert cols[0][0].encode() == b"id", "the BOM must not end up in the first column name"
    assert rejects(tmp_path) == []
    assert_reconciles(r, 2, 2, 0)


def test_csv_utf8_bom_without_declared_columns(tmp_path):
    """With inferred columns the BOM must not leak into the first name either."""
    data = b"\xef\xbb\xbf" + GOOD + b"2,beta,2020-01-02\n"
    (tmp_path / "input.csv").write_bytes(data)
    write_pipeline(tmp_path, """
        pipeline: malformed
        tasks:
          - id: ingest
            kind: csv_import
            path: input.csv
            into: raw.items
            rejects: {max: 10}
        """)
    r = run_sluice("run", tmp_path / "pipeline.yaml", "--date", DS, cwd=tmp_path)
    assert r.returncode == 0, str(r)
    cols = [c for c, _ in read_columns(tmp_path / "lake", "raw.items", DS)]
    assert cols == ["id", "name", "d"]


CRLF_ROWS = [b"id,name,d", b"1,alpha,2020-01-01", b"2,beta", b'3,"ga\nmma",2020-01-03',
             b"4,delta,2020-01-04"]


def run_lf_and_crlf(tmp_path):
    lf, crlf = tmp_path / "lf", tmp_path / "crlf"
    lf.mkdir()
    crlf.mkdir()
    lf_data = b"\n".join(CRLF_ROWS) + b"\n"
    crlf_data = b"\r\n".join(CRLF_ROWS) + b"\r\n"
    r1 = run_on(lf, lf_data)
    r2 = run_on(crlf, crlf_data)
    assert r1.returncode == 0, str(r1)
    assert r2.returncode == 0, str(r2)
    return lf, lf_data, crlf, crlf_data, r2


def test_csv_crlf_line_endings(tmp_path):
    lf, lf_data, crlf, crlf_data, r = run_lf_and_crlf(tmp_path)
    got = items(crlf)
    assert got == items(lf)
    assert got == [(1, "alpha", dt.date(2020, 1, 1)), (3, "ga\nmma", dt.date(2020, 1, 3)),
                   (4, "delta", dt.date(2020, 1, 4))]
    for row in got:
        assert "\r" not in row[1], f"\\r left in {row!r}"
    assert [(k[0], k[2]) for k in reject_keys(crlf)] == [(3, "MISSING COLUMNS")]
    assert_reconciles(r, 4, 3, 1)


def test_csv_crlf_reject_points_at_start_of_row(tmp_path):
    """With CRLF endings a rejected row's byte_offset is its first byte and raw_line its
    text, not the LF before it."""
    lf, lf_data, crlf, crlf_data, r = run_lf_and_crlf(tmp_path)
    assert reject_keys(lf) == [(3, offset_of_line(lf_data, 3), "MISSING COLUMNS")]
    assert reject_keys(crlf) == [(3, offset_of_line(crlf_data, 3), "MISSING COLUMNS")], (
        f"the row starts at byte {offset_of_line(crlf_data, 3)}: "
        f"{crlf_data[offset_of_line(crlf_data, 3):][:10]!r}")
    assert [r["raw_line"] for r in rejects(crlf)] == ["2,beta"]


def test_csv_reject_line_counts_physical_lines_after_quoted_newline(tmp_path):
    """A quoted value spanning two lines: the later reject still names its physical line."""
    data = GOOD + b'2,"two\nlines",2020-01-02\n3,gamma\n4,delta,2020-01-04\n'
    r = run_on(tmp_path, data)
    assert r.returncode == 0, str(r)
    assert [row[1] for row in items(tmp_path)] == ["alpha", "two\nlines", "delta"]
    assert reject_keys(tmp_path) == [(5, offset_of_line(data, 5), "MISSING COLUMNS")]
    assert_reconciles(r, 4, 3, 1)


def test_csv_empty_file(tmp_path):
    r = run_on(tmp_path, b"")
    assert r.returncode == 1, str(r)
    assert "is empty (0 bytes)" in r.stdout, str(r)
    assert str(tmp_path / "input.csv") in r.stdout
    assert summary_rows(r.stdout)["ingest"]["attempts"] == 1
    assert_nothing_published(tmp_path)


def test_csv_empty_file_is_retried(tmp_path):
    r = run_on(tmp_path, b"", extra="retries: 1\nretry_delay: 1s")
    assert r.returncode == 1, str(r)
    assert "is empty (0 bytes)" in r.stdout, str(r)
    s = summary_rows(r.stdout)["ingest"]
    assert (s["status"], s["attempts"]) == ("failed", 2), r.stdout
    attempts = state_query(tmp_path, "SELECT attempt, status, error FROM task_attempts "
                                     "WHERE task_id = 'ingest' ORDER BY attempt")
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, "failed"), (2, "failed")]
    assert all("is empty (0 bytes)" in a["error"] for a in attempts)
    assert_nothing_published(tmp_path)


def test_csv_empty_file_allow_empty(tmp_path):
    r = run_on(tmp_path, b"", extra="allow_empty: true")
    assert r.returncode == 0, str(r)
    lake = tmp_path / "lake"
    m = assert_manifest_matches_files(lake, "raw.items", DS)
    assert m["rows"] == 0
    assert items(tmp_path) == []
    assert read_columns(lake, "raw.items", DS) == [("id", "BIGINT"), ("name", "VARCHAR"),
                                                   ("d", "DATE")]
    assert_reconciles(r, 0, 0, 0)


def test_csv_header_only(tmp_path):
    r = run_on(tmp_path, b"id,name,d\n")
    assert r.returncode == 0, str(r)
    lake = tmp_path / "lake"
    m = assert_manifest_matches_files(lake, "raw.items", DS)
    assert m["rows"] == 0
    assert read_columns(lake, "raw.items", DS) == [("id", "BIGINT"), ("name", "VARCHAR"),
                                                   ("d", "DATE")]
    assert rejects(tmp_path) == []
    assert_reconciles(r, 0, 0, 0)


def test_csv_header_only_without_trailing_newline(tmp_path):
    r = run_on(tmp_path, b"id,name,d")
    assert r.returncode == 0, str(r)
    assert items(tmp_path) == []
    assert_reconciles(r, 0, 0, 0)


def test_csv_one_megabyte_field(tmp_path):
    big = ("x" * 999_999 + "é").encode()  # 1,000,000 characters, 1,000,001 bytes
    data = GOOD + b"2," + big + b",2020-01-02\n3,gamma,2020-01-03\n"
    r = run_on(tmp_path, data)
    assert r.returncode == 0, str(r)
    got = items(tmp_path)
    assert [row[0] for row in got] == [1, 2, 3]
    assert len(got[1][1]) == 1_000_000
    assert got[1][1] == big.decode()
    assert_reconciles(r, 3, 3, 0)


def test_csv_header_mismatch_names_both_lists(tmp_path):
    data = b"id,nom,date\n1,alpha,2020-01-01\n"
    r = run_on(tmp_path, data)
    assert r.returncode == 1, str(r)
    out = r.stdout
    assert re.search(r"id, nom, date", out), f"the error must list the header's columns\n{r}"
    assert re.search(r"id, name, d\b", out), f"the error must list the declared columns\n{r}"
    assert_nothing_published(tmp_path)


def test_csv_rejects_over_limit_fails_and_keeps_every_reject(tmp_path):
    data = GOOD + b"2,beta\n3,gamma,bad\n4,delta,2020-01-04,x\n5,eps,2020-01-05\n"
    r = run_on(tmp_path, data, rejects="{max: 2}")
    assert r.returncode == 1, str(r)
    assert_nothing_published(tmp_path)
    m = re.search(r"every rejected row is kept in (\S+\.rejects\.csv)", r.stdout)
    assert m, f"the error must name the rejects file\n{r}"
    kept = Path(m.group(1))
    run_dirs = list((tmp_path / ".sluice" / "logs" / "malformed" / DS).glob("run-*"))
    assert kept == run_dirs[0] / "ingest.rejects.csv"
    text = kept.read_text()
    import csv
    import io
    kept_rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted({(int(k["line"]), int(k["byte_offset"]), k["error_type"]) for k in kept_rows}) \
        == [(3, offset_of_line(data, 3), "MISSING COLUMNS"), (4, offset_of_line(data, 4), "CAST"),
            (5, offset_of_line(data, 5), "TOO MANY COLUMNS")]


def test_csv_rejects_percentage_limit(tmp_path):
    """rejects: {max: "P%"}: 1 of 4 rows is 25%, over 20%."""
    data = GOOD + b"2,beta\n3,gamma,2020-01-03\n4,delta,2020-01-04\n"
    r = run_on(tmp_path, data, rejects='{max: "20%"}')
    assert r.returncode == 1, str(r)
    assert "rejects.max" in r.stdout
    assert_nothing_published(tmp_path)
    r = run_on(tmp_path, data, rejects='{max: "25%"}')
    assert r.returncode == 0, str(r)
    assert_reconciles(r, 4, 3, 1)
