"""The example citizens pipeline end to end, checked against an independent Python reference
(reference.py): ingest with rejects, dedupe and cleaning, marts, warehouse loads, resume and
--force."""

import datetime as dt
import re
import shutil
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest

import reference as ref
from conftest import (run_gen, EXAMPLES, assert_manifest_matches_files,
                      assert_manifest_schema_matches_files, assert_no_leftovers, query_json,
                      read_columns, read_manifest, read_rows, reconciliation_line, rows_checksum,
                      run_sluice, state_query, summary_rows)

DS = "2025-06-15"  # some generated citizens are born later in 2025, so the filter bites
DS_DATE = dt.date(2025, 6, 15)
ROWS = 50_000
SEED = 20261121
TASKS = ["ingest_citizens", "clean_citizens", "check_citizens", "citizens_by_region",
         "income_by_city_age_band", "check_marts", "load_warehouse", "load_citizens"]
DATASETS = ["raw.citizens", "rejects.raw_citizens", "staging.citizens",
            "marts.citizens_by_region", "marts.income_by_city_age_band"]


def crafted_rows(region: str, city: str) -> bytes:
    """Hand-written rows appended to the generated file, each aimed at one rule of the
    cleaning model (ids far above the generator's)."""
    def row(cid, first="Ada", last="Lovelace", gender="F", birth="1980-01-01",
            email="ada@example.org", income="100.00", updated="2020-01-01 00:00:00",
            region_=region, city_=city):
        return (f"{cid},{first},{last},{gender},{birth},{email},+49 30 1234567,Hauptstraße 1,"
                f"{city_},{region_},10115,Engineer,{income},2019-01-01 00:00:00,{updated}\n")
    return "".join([
        row(9000001, income="-5.00"),                                     # negative: dropped
        row(9000002, income="100.00", updated="2020-01-01 00:00:00"),
        row(9000002, income="-1.00", updated="2021-01-01 00:00:00"),      # latest negative
        row(9000003, income="-1.00", updated="2021-01-01 00:00:00"),
        row(9000003, income="50.00", updated="2022-01-01 00:00:00"),      # latest is valid
        row(9000004, birth="2025-06-15"),                                 # born on ds: kept
        row(9000005, birth="2025-06-16"),                                 # born after ds
        row(9000006, birth="2007-06-15"),                                 # 18 on ds
        row(9000007, birth="2007-06-16"),                                 # 17 on ds
        row(9000008, first="  Ada ", last=" Byron  ", email=" ADA.Byron@Example.ORG "),
        row(9000009, email=""),                                           # NULL email
        row(9000010, birth=""),                                           # NULL birth date
        row(9000011, income="1234.5"),
        row(9000012, birth="2008-02-29"),                                 # 17 on ds
        row(9000013, income="0.00"),                                      # zero is kept
    ]).encode("utf-8")


@pytest.fixture(scope="module")
def citizens(tmp_path_factory):
    """Generates the input, runs the example pipeline once and computes the reference."""
    root = tmp_path_factory.mktemp("citizens")
    shutil.copy(EXAMPLES / "citizens" / "pipeline.yaml", root / "pipeline.yaml")
    shutil.copytree(EXAMPLES / "citizens" / "models", root / "models")
    csv_path = root / "incoming" / f"citizens_data_{DS.replace('-', '')}.csv"
    r = run_gen("citizens", "--rows", ROWS, "--out", csv_path, "--seed", SEED,
                "--duplicates", "0.05", "--malformed", "0.002", cwd=root, expect=0)
    assert "50,000 rows" in r.stderr, r.stderr
    data = csv_path.read_bytes()
    first = ref.parse_csv(data).rows[0][1]
    data += crafted_rows(first[ref.IDX["region"]], first[ref.IDX["city"]])
    csv_path.write_bytes(data)

    parsed = ref.parse_csv(data)
    rows = [r for _, r in parsed.rows]
    staging = ref.clean_citizens(rows, DS_DATE)
    run = run_sluice("run", root / "pipeline.yaml", "--date", DS, cwd=root, timeout=180)
    return {
        "root": root, "pipeline": root / "pipeline.yaml", "lake": root / "lake",
        "csv": csv_path, "data": data, "parsed": parsed, "rows": rows, "staging": staging,
        "run": run,
    }


def test_citizens_run_succeeds_with_every_task(citizens):
    run = citizens["run"]
    assert run.returncode == 0, str(run)
    summary = summary_rows(run.stdout)
    assert set(summary) == set(TASKS), run.stdout
    for task in TASKS:
        assert summary[task]["status"] == "success", run.stdout
    assert_no_leftovers(citizens["lake"])


def test_citizens_generator_input_has_every_kind_of_mess(citizens):
    """Guards the test itself: the input really holds duplicates, updates and bad rows."""
    parsed = citizens["parsed"]
    kinds = Counter(r.kind for r in parsed.rejected)
    assert {"MISSING COLUMNS", "TOO MANY COLUMNS", "INVALID ENCODING", "CAST"} <= set(kinds)
    ids = Counter(r[0] for r in citizens["rows"])
    assert sum(1 for n in ids.values() if n > 1) > 500
    assert any(r[ref.IDX["birth_date"]] and r[ref.IDX["birth_date"]] > DS_DATE
               for r in citizens["rows"])


def test_citizens_counts_reconcile(citizens):
    parsed, run = citizens["parsed"], citizens["run"]
    data_lines = citizens["data"].count(b"\n") - 1  # no quoted newlines in this file
    assert parsed.read == data_lines == ROWS + 15
    s = summary_rows(run.stdout)["ingest_citizens"]
    assert (s["read"], s["loaded"], s["rejected"]) == (
        data_lines, len(parsed.rows), len(parsed.rejected)), run.stdout
    assert reconciliation_line(run.stdout, "ingest_citizens") == (
        data_lines, len(parsed.rows), len(parsed.rejected)), run.stdout
    assert (f"ingest_citizens: read {data_lines:,} = loaded {len(parsed.rows):,} + rejected "
            f"{len(parsed.rejected):,}") in run.stdout, run.stdout
    attempts = state_query(citizens["root"],
                           "SELECT rows_read, rows_written, rows_rejected FROM task_attempts "
                           "WHERE task_id = 'ingest_citizens' AND status = 'success'")
    assert attempts[-1] == {"rows_read": data_lines, "rows_written": len(parsed.rows),
                            "rows_rejected": len(parsed.rejected)}


def test_citizens_lake_layout_and_manifest_fields(citizens):
    lake, root = citizens["lake"], citizens["root"]
    run_id = state_query(root, "SELECT run_id FROM runs")[0]["run_id"]
    attempts = {a["task_id"]: a["attempt_id"] for a in state_query(
        root, "SELECT task_id, attempt_id FROM task_attempts WHERE run_id = ?", (run_id,))}
    producers = {"raw.citizens": "ingest_citizens", "rejects.raw_citizens": "ingest_citizens",
                 "staging.citizens": "clean_citizens",
                 "marts.citizens_by_region": "citizens_by_region",
                 "marts.income_by_city_age_band": "income_by_city_age_band"}
    for d in DATASETS:
        zone, name = d.split(".")
        pdir = lake / zone / name / f"ds={DS}"
        assert sorted(p.name for p in pdir.iterdir()) == ["_SUCCESS", "part-00000.parquet"], d
        m = read_manifest(lake, d, DS)
        assert set(m) >= {"format_version", "dataset", "partition", "rows", "bytes", "checksum",
                          "files", "schema", "run_id", "attempt_id", "task", "created_at"}, d
        assert (m["run_id"], m["task"]) == (run_id, producers[d]), d
        assert m["attempt_id"] == attempts[producers[d]], d
        assert re.match(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", m["created_at"]), m["created_at"]
    # Only the pipeline's zones (and an empty _staging) are in the lake.
    assert sorted(p.name for p in lake.iterdir() if not p.name.startswith("_")) == [
        "marts", "raw", "rejects", "staging"]
    assert (root / ".sluice" / "state.db").exists()


def test_citizens_raw_rows_equal_reference(citizens):
    lake = citizens["lake"]
    m = assert_manifest_matches_files(lake, "raw.citizens", DS)
    assert m["rows"] == len(citizens["rows"])
    assert m["task"] == "ingest_citizens"
    assert read_columns(lake, "raw.citizens", DS) == ref.COLUMNS
    got = Counter(read_rows(lake, "raw.citizens", DS))
    want = Counter(citizens["rows"])
    assert got == want, (f"raw.citizens differs: {sum((got - want).values())} unexpected rows "
                         f"e.g. {list((got - want))[:3]}, {sum((want - got).values())} missing "
                         f"e.g. {list((want - got))[:3]}")


def test_citizens_rejects_name_every_bad_line_with_offset(citizens):
    lake, data = citizens["lake"], citizens["data"]
    assert_manifest_matches_files(lake, "rejects.raw_citizens", DS)
    cols = [c for c, _ in read_columns(lake, "rejects.raw_citizens", DS)]
    assert cols == ["file", "line", "byte_offset", "column_index", "column", "error_type",
                    "reason", "raw_line"]
    rows = [dict(zip(cols, r)) for r in read_rows(lake, "rejects.raw_citizens", DS)]
    by_line = {}
    for r in rows:
        by_line.setdefault(r["line"], []).append(r)
    expected = {r.line: r for r in citizens["parsed"].rejected}
    assert sorted(by_line) == sorted(expected), (
        f"rejected lines differ: extra {sorted(set(by_line) - set(expected))[:10]}, "
        f"missing {sorted(set(expected) - set(by_line))[:10]}")
    lines = data.split(b"\n")
    for line, problems in by_line.items():
        want = expected[line]
        offsets = {p["byte_offset"] for p in problems}
        assert offsets == {want.offset}, f"line {line}: byte_offset {offsets} != {want.offset}"
        assert data[want.offset:].startswith(lines[line - 1]), f"line {line}"
        assert want.kind in {p["error_type"] for p in problems}, (
            f"line {line} ({want.detail}): error types {[p['error_type'] for p in problems]} "
            f"do not include {want.kind}")
        for p in problems:
            assert p["reason"] and p["reason"].strip(), f"line {line}: empty reason"
            assert p["file"] == str(citizens["csv"])


def test_citizens_staging_is_deduplicated_and_cleaned(citizens):
    lake = citizens["lake"]
    assert_manifest_matches_files(lake, "staging.citizens", DS)
    got = read_rows(lake, "staging.citizens", DS)
    ids = Counter(r[0] for r in got)
    assert max(ids.values()) == 1, f"duplicated ids: {[k for k, v in ids.items() if v > 1][:5]}"
    want = citizens["staging"]
    assert len(got) == len(want)
    got_c, want_c = Counter(got), Counter(want)
    assert got_c == want_c, (f"staging.citizens differs: unexpected {list(got_c - want_c)[:3]}, "
                             f"missing {list(want_c - got_c)[:3]}")
    by_id = {r[0]: r for r in got}
    # The crafted rows, one rule each.
    assert 9000001 not in by_id and 9000002 not in by_id and 9000005 not in by_id
    assert 9000010 not in by_id
    assert by_id[9000003][ref.IDX["annual_income"]] == Decimal("50.00")
    assert by_id[9000004][ref.IDX["birth_date"]] == DS_DATE
    assert by_id[9000008][1:3] == ("Ada", "Byron")
    assert by_id[9000008][ref.IDX["email"]] == "ada.byron@example.org"
    assert by_id[9000009][ref.IDX["email"]] is None
    assert by_id[9000011][ref.IDX["annual_income"]] == Decimal("1234.50")
    assert by_id[9000013][ref.IDX["annual_income"]] == Decimal("0.00")


def _cents(avg) -> Decimal:
    """The average as the models compute it: to the cent, rounded half up, exactly."""
    return Decimal(avg).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_citizens_by_region_mart_exact(citizens):
    lake = citizens["lake"]
    assert_manifest_matches_files(lake, "marts.citizens_by_region", DS)
    cols = [c for c, _ in read_columns(lake, "marts.citizens_by_region", DS)]
    assert cols == ["region", "citizens", "total_income", "avg_income"]
    got = {r[0]: r[1:] for r in read_rows(lake, "marts.citizens_by_region", DS)}
    want = ref.citizens_by_region(citizens["staging"])
    assert sorted(got) == sorted(want)
    for region, (n, total, avg) in want.items():
        g = got[region]
        assert (g[0], g[1]) == (n, total), f"{region}: {g} != {(n, total, avg)}"
        assert g[2] == _cents(avg), f"{region}: avg {g[2]} != {avg}"


def test_citizens_income_by_city_age_band_mart_exact(citizens):
    lake = citizens["lake"]
    assert_manifest_matches_files(lake, "marts.income_by_city_age_band", DS)
    got = {tuple(r[:3]): r[3:] for r in read_rows(lake, "marts.income_by_city_age_band", DS)}
    want = ref.income_by_city_age_band(citizens["staging"], DS_DATE)
    assert sorted(got) == sorted(want), (
        f"groups differ: extra {sorted(set(got) - set(want))[:5]}, "
        f"missing {sorted(set(want) - set(got))[:5]}")
    for key, (n, total, avg) in want.items():
        g = got[key]
        assert (g[0], g[1]) == (n, total), f"{key}: {g} != {(n, total, avg)}"
        assert g[2] == _cents(avg), f"{key}: avg {g[2]} != {avg}"


def test_citizens_age_bands_use_birthday_logic(citizens):
    """The crafted 18th birthday on ds lands in 18-29, the day after in 0-17."""
    staging = {r[0]: r for r in citizens["staging"]}
    for cid, band in [(9000006, "18-29"), (9000007, "0-17"), (9000012, "0-17"),
                      (9000004, "0-17")]:
        assert ref.age_band(ref.age_on(staging[cid][ref.IDX["birth_date"]], DS_DATE)) == band
    # and sluice agrees: the crafted rows share region and city, so count that group's bands
    region, city = staging[9000006][ref.IDX["region"]], staging[9000006][ref.IDX["city"]]
    got = {r[2]: r[3] for r in read_rows(citizens["lake"], "marts.income_by_city_age_band", DS)
           if r[0] == region and r[1] == city}
    want = {k[2]: v[0] for k, v in ref.income_by_city_age_band(citizens["staging"],
                                                               DS_DATE).items()
            if k[0] == region and k[1] == city}
    assert got == want


def test_citizens_warehouse_tables_equal_lake(citizens):
    pipeline = citizens["pipeline"]
    regions = query_json(pipeline, "SELECT * FROM warehouse.marts.citizens_by_region")
    want = ref.citizens_by_region(citizens["staging"])
    assert {r["region"]: (r["citizens"], r["total_income"]) for r in regions} == {
        k: (v[0], v[1]) for k, v in want.items()}
    for r in regions:
        assert isinstance(r["citizens"], int)
        assert Decimal(str(r["avg_income"])) == _cents(want[r["region"]][2])

    bands = query_json(pipeline,
                       "SELECT region, city, age_band, citizens, total_income "
                       "FROM warehouse.marts.income_by_city_age_band")
    want_b = ref.income_by_city_age_band(citizens["staging"], DS_DATE)
    assert {(r["region"], r["city"], r["age_band"]): (r["citizens"], r["total_income"])
            for r in bands} == {k: (v[0], v[1]) for k, v in want_b.items()}

    dwh = query_json(pipeline, "SELECT * FROM warehouse.dwh.citizens")
    assert len(dwh) == len(citizens["staging"])

    def as_json_row(r):
        out = []
        for (name, _), v in zip(ref.COLUMNS, r):
            if isinstance(v, dt.datetime):
                v = v.strftime("%Y-%m-%d %H:%M:%S")
            elif isinstance(v, dt.date):
                v = v.isoformat()
            out.append(v)
        return tuple(out)

    got = Counter(tuple(r[c] for c in ref.NAMES) for r in dwh)
    want_rows = Counter(as_json_row(r) for r in citizens["staging"])
    assert got == want_rows, (f"warehouse.dwh.citizens differs: unexpected "
                              f"{list(got - want_rows)[:3]}, missing {list(want_rows - got)[:3]}")


def test_citizens_manifest_schema_lists_the_file_columns(citizens):
    """_SUCCESS schema = the columns of the partition's files; the hive key ds is a folder
    name, not a column of the files."""
    problems = []
    for d in DATASETS:
        try:
            assert_manifest_schema_matches_files(citizens["lake"], d, DS)
        except AssertionError as e:
            problems.append(str(e).splitlines()[0])
    assert not problems, "\n".join(problems)


def test_citizens_rerun_without_force_skips_every_task(citizens):
    root, lake = citizens["root"], citizens["lake"]
    before = {d: read_manifest(lake, d, DS) for d in DATASETS}
    r = run_sluice("run", citizens["pipeline"], "--date", DS, cwd=root, expect=0)
    summary = summary_rows(r.stdout)
    assert set(summary) == set(TASKS), r.stdout
    assert {t: s["status"] for t, s in summary.items()} == {t: "skipped" for t in TASKS}
    after = {d: read_manifest(lake, d, DS) for d in DATASETS}
    assert after == before, "a skipped run must not republish anything"
    run_id = int(r.stdout.split("run ", 1)[1].split(":", 1)[0])
    assert state_query(root, "SELECT count(*) AS n FROM task_attempts WHERE run_id = ?",
                       (run_id,)) == [{"n": 0}]
    assert_no_leftovers(lake)


def test_citizens_force_recomputes_identical_rows(citizens):
    root, lake = citizens["root"], citizens["lake"]
    before = {d: (read_manifest(lake, d, DS), rows_checksum(lake, d, DS)) for d in DATASETS}
    wh_before = query_json(citizens["pipeline"],
                           "SELECT count(*) AS n, sum(hash(t::VARCHAR)) AS h "
                           "FROM warehouse.dwh.citizens t")
    r = run_sluice("run", citizens["pipeline"], "--date", DS, "--force", cwd=root, expect=0,
                   timeout=180)
    summary = summary_rows(r.stdout)
    assert {t: s["status"] for t, s in summary.items()} == {t: "success" for t in TASKS}
    for d in DATASETS:
        m_before, sum_before = before[d]
        m_after = assert_manifest_matches_files(lake, d, DS, check_crc=False)
        assert m_after["run_id"] != m_before["run_id"], f"{d} was not recomputed"
        assert m_after["rows"] == m_before["rows"], d
        assert rows_checksum(lake, d, DS) == sum_before, f"{d}: rows changed under --force"
    wh_after = query_json(citizens["pipeline"],
                          "SELECT count(*) AS n, sum(hash(t::VARCHAR)) AS h "
                          "FROM warehouse.dwh.citizens t")
    assert wh_after == wh_before, "merge of the same partition changed the warehouse"
    assert_no_leftovers(lake)
