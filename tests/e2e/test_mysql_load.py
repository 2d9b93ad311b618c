"""db_load into a real MariaDB (tests/servers): every mode, every type cell by cell, table
creation with a primary key, new columns, the multi-row INSERT fallback when the server has
local_infile off, a refused row named by its position with the target left as it was, the
ledger that keeps a repeated append from doubling, and kills around the commit."""

import datetime as dt
import decimal
import re
import signal
import struct
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import REPO, run_sluice, write_pipeline

sys.path.insert(0, str(REPO / "tests" / "servers"))
from conftest_fixtures import mariadb_server  # noqa: E402,F401

DS = "2026-11-21"
DS2 = "2026-11-22"
PASSWORD_ENV = "SLUICE_TEST_SHOP_PASSWORD"


# ---------------------------------------------------------------------------------------------
# helpers


class Raw(str):
    """SQL written as it is into a VALUES list."""


def sql_value(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return str(v)


def values_sql(columns, rows) -> str:
    """SELECT over VALUES with typed columns: columns is [(name, duckdb_type)]."""
    body = ",\n  ".join("(" + ", ".join(sql_value(v) for v in r) + ")" for r in rows)
    names = ", ".join(n for n, _ in columns)
    casts = ", ".join(f"CAST({n} AS {t}) AS {n}" for n, t in columns)
    return f"SELECT {casts} FROM (VALUES\n  {body}) t({names})\n"


def make_pipeline(folder: Path, server, table: str, mode: str = "append", key=None,
                  new_columns=None, datasets=None, extra_conn: str = "",
                  password: str = "${env:" + PASSWORD_ENV + "}") -> Path:
    """A pipeline: task build (sql model from model.sql into staging.items; more models when
    `datasets` maps dataset -> table) and task load (db_load into MariaDB)."""
    datasets = datasets or {"staging.items": table}
    builds, afters = [], []
    for i, ds in enumerate(datasets):
        model = "model.sql" if i == 0 else f"model{i}.sql"
        tid = "build" if i == 0 else f"build{i}"
        builds.append(f"""
          - id: {tid}
            kind: sql
            into: {ds}
            sql: {model}""")
        afters.append(tid)
    lines = [f"mode: {mode}"]
    if key:
        lines.append(f"key: [{', '.join(key)}]")
    if new_columns:
        lines.append(f"new_columns: {new_columns}")
    opts = "\n            ".join(lines)
    mapping = ", ".join(f"{d}: {t}" for d, t in datasets.items())
    return write_pipeline(folder, f"""
        pipeline: mysql_load
        lake: ./lake
        state: ./.sluice
        connections:
          shop: {{type: mysql, host: 127.0.0.1, port: {server.port}, database: shop, user: etl,
                 password: "{password}", connect_timeout: 10s{extra_conn}}}
        tasks:{''.join(builds)}
          - id: load
            kind: db_load
            after: [{', '.join(afters)}]
            connection: shop
            datasets: {{{mapping}}}
            {opts}
        """)


def set_model(folder: Path, columns, rows, index: int = 0):
    name = "model.sql" if index == 0 else f"model{index}.sql"
    (folder / name).write_text(values_sql(columns, rows))


def run(folder: Path, pipeline: Path, date: str = DS, env=None, expect=None):
    full_env = {PASSWORD_ENV: "etl"}
    full_env.update(env or {})
    return run_sluice("run", pipeline, "--date", date, "--force", cwd=folder, env=full_env,
                      expect=expect)


def load_log(folder: Path) -> str:
    logs = sorted((folder / ".sluice" / "logs").rglob("load.*.log"),
                  key=lambda p: p.stat().st_mtime)
    return logs[-1].read_text() if logs else ""


def table_rows(server, table: str, cols: str = "*", order: str = "id"):
    return server.sql(f"SELECT {cols} FROM `{table}` ORDER BY {order}")


def column_types(server, table: str) -> dict:
    rows = server.sql("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE "
                      f"TABLE_SCHEMA = 'shop' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION")
    return dict(rows)


def primary_key(server, table: str):
    return [r[0] for r in server.sql(
        "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'shop' AND "
        f"TABLE_NAME = '{table}' AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX")]


def helper_tables(server):
    """sluice's helper tables left in shop (the ledger is meant to stay)."""
    return [r[0] for r in server.sql("SHOW TABLES") if r[0].startswith("_sluice_")
            and r[0] != "_sluice_loads"]


def ledger(server, table: str):
    return server.sql("SELECT dataset, `partition`, mode, `rows` FROM _sluice_loads WHERE "
                      f"target = '{table}' ORDER BY loaded_at")


@pytest.fixture
def local_infile_off(mariadb_server):
    """The server refuses LOAD DATA LOCAL INFILE for the duration of the test."""
    mariadb_server.sql("SET GLOBAL local_infile = 0", admin=True)
    try:
        yield
    finally:
        mariadb_server.sql("SET GLOBAL local_infile = 1", admin=True)


# ---------------------------------------------------------------------------------------------
# types

TYPED_COLUMNS = [
    ("id", "INTEGER"), ("b", "BOOLEAN"), ("i8", "TINYINT"), ("i16", "SMALLINT"),
    ("i32", "INTEGER"), ("i64", "BIGINT"), ("u8", "UTINYINT"), ("u16", "USMALLINT"),
    ("u32", "UINTEGER"), ("u64", "UBIGINT"), ("h", "HUGEINT"), ("f", "FLOAT"), ("d", "DOUBLE"),
    ("dec", "DECIMAL(38,10)"), ("dec2", "DECIMAL(4,2)"), ("dec3", "DECIMAL(18,6)"),
    ("dt", "DATE"), ("tm", "TIME"), ("ts", "TIMESTAMP"), ("tz", "TIMESTAMPTZ"),
    ("s", "VARCHAR"), ("bl", "BLOB"), ("u", "UUID"), ("j", "JSON"), ("iv", "INTERVAL"),
]

TRICKY_TEXT = "tab\there\nnew line\\back slash\r\n\"q\" 's' \\N NULL \x01"
# Row values as the test writes them: text cast by DuckDB to the column's type, except
# BOOLEAN (True/False), BLOB (bytes) and INTERVAL ((months, days, microseconds)).
TYPED_ROWS = [
    (1, True, -128, -32768, -2147483648, -9223372036854775808, 0, 0, 0, 0,
     "-99999999999999999999999999999999999999", -3.4028235e38, -1.7976931348623157e308,
     "-9999999999999999999999999999.9999999999", "-99.99", "-999999999999.999999",
     "0001-01-01", "00:00:00", "0001-01-01 00:00:00", "2000-01-01 00:00:00+00",
     "", b"", "00000000-0000-0000-0000-000000000000", "{}", (0, 0, 0)),
    (2, False, 127, 32767, 2147483647, 9223372036854775807, 255, 65535, 4294967295,
     18446744073709551615, "99999999999999999999999999999999999999", 3.4028235e38,
     1.7976931348623157e308, "9999999999999999999999999999.9999999999", "99.99",
     "999999999999.999999", "9999-12-31", "23:59:59.999999", "9999-12-31 23:59:59.999999",
     "2024-06-30 23:30:00.5-05:00", "Grüße, 東京, Ελληνικά 😀🚀 👨‍👩‍👧",
     # NUL, 0xFF and the bytes LOAD DATA's format escapes (tab, newline, backslash, CR)
     b"\x00\xff\t\n\\\rN", "ffffffff-ffff-ffff-ffff-ffffffffffff",
     '{"a": [1, 2.5, "é😀"], "b": null}',
     (14, 3, 14_706_789_000)),  # 1 year 2 months 3 days 04:05:06.789
    (3,) + (None,) * (len(TYPED_COLUMNS) - 1),
    (4, True, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0.1, 5e-324, "0.0000000001", "0.50", "1.000001",
     "1969-12-31", "12:34:56.000001", "1969-12-31 23:59:59.999999",
     "1970-01-01 01:00:00+01", TRICKY_TEXT, b"\\N",  # LOAD DATA's NULL marker, as bytes
     "123e4567-e89b-12d3-a456-426614174000", "[]",
     (0, 0, 9_000_000_000)),  # 2 hours 30 minutes
]

EXPECTED_TYPES = {
    "id": "int", "b": "tinyint(1)", "i8": "tinyint", "i16": "smallint", "i32": "int",
    "i64": "bigint", "u8": "tinyint unsigned", "u16": "smallint unsigned",
    # HUGEINT is stored in the lake's Parquet as DECIMAL(38,0).
    "u32": "int unsigned", "u64": "bigint unsigned", "h": "decimal(38,0)", "f": "float",
    "d": "double", "dec": "decimal(38,10)", "dec2": "decimal(4,2)", "dec3": "decimal(18,6)",
    "dt": "date", "tm": "time(6)", "ts": "datetime(6)", "tz": "datetime(6)", "s": "longtext",
    "bl": "longblob", "u": "char(36)", "j": "longtext",  # MariaDB's JSON is LONGTEXT + CHECK
    "iv": "varchar(100)",
}


def duckdb_text(value, t: str) -> str:
    """An input value as the text the model casts to DuckDB type t."""
    if t == "BOOLEAN":
        return "true" if value else "false"
    if t == "BLOB":
        return "".join(f"\\x{b:02X}" for b in value)
    if t == "INTERVAL":
        months, days, micros = value
        return f"{months} months {days} days {micros} microseconds"
    return str(value)


def typed_model(folder: Path):
    # Every value as text, cast to its column's type by DuckDB (so that extremes do not go
    # through DuckDB's literal typing first). BLOBs are DuckDB escapes, cast in a CASE of
    # their own so that no other cast sees them.
    bl = TYPED_COLUMNS.index(("bl", "BLOB"))
    rows = []
    for r in TYPED_ROWS:
        row = [None if v is None else duckdb_text(v, t) for v, (_, t) in zip(r, TYPED_COLUMNS)]
        row[bl] = None  # replaced below
        rows.append(row)
    sql = values_sql(TYPED_COLUMNS, rows)
    blob_case = "CASE id " + " ".join(
        f"WHEN {r[0]} THEN {'NULL' if r[bl] is None else sql_value(duckdb_text(r[bl], 'BLOB'))}"
        "::BLOB" for r in TYPED_ROWS) + " END"
    sql = sql.replace("CAST(bl AS BLOB) AS bl", f"{blob_case} AS bl")
    (folder / "model.sql").write_text(sql)


def normalize_type(t: str) -> str:
    """COLUMN_TYPE without MariaDB's integer display widths (tinyint(1) stays: it is BOOLEAN)."""
    if t == "tinyint(1)":
        return t
    return re.sub(r"^(tinyint|smallint|int|bigint)\(\d+\)", r"\1", t)


def duckdb_interval_text(months: int, days: int, micros: int) -> str:
    """DuckDB's text of an INTERVAL with non-negative parts (MySQL has no interval type, so
    the column holds that text): the non-zero parts of 'N year(s) N month(s) N day(s)', then
    HH:MM:SS[.fraction without trailing zeros] when there is time or nothing else."""
    parts = []
    y, m = divmod(months, 12)
    for n, unit in ((y, "year"), (m, "month"), (days, "day")):
        if n:
            parts.append(f"{n} {unit}{'' if n == 1 else 's'}")
    if micros or not parts:
        secs, us = divmod(micros, 1_000_000)
        h, rem = divmod(secs, 3600)
        mi, sec = divmod(rem, 60)
        parts.append(f"{h:02d}:{mi:02d}:{sec:02d}" + ("." + f"{us:06d}".rstrip("0") if us else ""))
    return " ".join(parts)


def mariadb_text(value, t: str):
    """What MariaDB must hold for an input value of DuckDB type t, as the client prints it
    (FLOAT and DOUBLE as the Python float to compare numerically), computed here from the
    value the test wrote."""
    if t == "BOOLEAN":
        return "1" if value else "0"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT", "HUGEINT"):
        return str(int(value))
    if t == "FLOAT":  # the nearest 32-bit float
        return struct.unpack("<f", struct.pack("<f", float(value)))[0]
    if t == "DOUBLE":
        return float(value)
    if t.startswith("DECIMAL"):  # every digit of the scale
        scale = int(t[:-1].split(",")[1])
        with decimal.localcontext() as ctx:
            ctx.prec = 100
            return format(Decimal(value).quantize(Decimal(1).scaleb(-scale)), "f")
    # MariaDB prints TIME(6) and DATETIME(6) with all six fraction digits; a TIMESTAMPTZ is
    # stored as its UTC time.
    if t == "DATE":
        return dt.date.fromisoformat(value).isoformat()
    if t == "TIME":
        return dt.time.fromisoformat(value).isoformat(timespec="microseconds")
    if t == "TIMESTAMP":
        return dt.datetime.fromisoformat(value).isoformat(sep=" ", timespec="microseconds")
    if t == "TIMESTAMPTZ":
        utc = dt.datetime.fromisoformat(value).astimezone(dt.timezone.utc).replace(tzinfo=None)
        return utc.isoformat(sep=" ", timespec="microseconds")
    if t in ("VARCHAR", "JSON"):  # MariaDB's JSON keeps the text as written
        return value
    if t == "BLOB":  # read back with HEX()
        return value.hex().upper()
    if t == "UUID":
        return str(uuid.UUID(value))
    if t == "INTERVAL":
        return duckdb_interval_text(*value)
    raise AssertionError(f"no expected text for {t}")


def expected_cells():
    """What MariaDB must hold, row by row, computed from TYPED_ROWS (never from what sluice
    wrote to the lake)."""
    return [tuple(None if v is None else mariadb_text(v, t)
                  for v, (_, t) in zip(r, TYPED_COLUMNS)) for r in TYPED_ROWS]


def assert_typed_rows_match(server, table: str):
    select = []
    for name, t in TYPED_COLUMNS:
        if t == "FLOAT":
            select.append(f"CAST(`{name}` AS DOUBLE)")
        elif t == "BLOB":
            select.append(f"HEX(`{name}`)")
        else:
            select.append(f"`{name}`")
    got = server.sql(f"SELECT {', '.join(select)} FROM `{table}` ORDER BY id")
    want = expected_cells()
    assert len(got) == len(want) == len(TYPED_ROWS)
    for g_row, w_row in zip(got, want):
        for (name, t), g, w in zip(TYPED_COLUMNS, g_row, w_row):
            where = f"{table} id={w_row[0]} column {name} ({t})"
            if w is None:
                assert g is None, f"{where}: want NULL, got {g!r}"
            elif t in ("FLOAT", "DOUBLE"):
                assert g is not None and float(g) == w, f"{where}: want {w!r}, got {g!r}"
            else:
                assert g == w, f"{where}: want {w!r}, got {g!r}"


# append loads straight into the target in its transaction, replace into the new table; merge
# (a second run, into the table the first one made) by LOAD DATA ... REPLACE straight into it,
# or through a staging table when the table has a trigger.
@pytest.mark.parametrize("mode", ["append", "replace", "merge", "merge_staged"])
def test_every_type_round_trips_cell_by_cell(mariadb_server, tmp_path, mode):
    table = f"types_load_data_{mode}"
    merge = mode.startswith("merge")
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="merge" if merge else mode,
                             key=["id"] if merge else None)
    typed_model(tmp_path)
    run(tmp_path, pipeline, expect=0)
    if mode == "merge_staged":
        mariadb_server.sql(f"CREATE TRIGGER {table}_t BEFORE UPDATE ON {table} "
                           "FOR EACH ROW SET @sluice_test = 1")
    if merge:
        run(tmp_path, pipeline, expect=0)
    into = {"append": f"into `shop`.`{table}` by LOAD DATA LOCAL INFILE",
            "replace": f"into `shop`.`_sluice_new_{table}` by LOAD DATA LOCAL INFILE",
            "merge": f"into `shop`.`{table}` by LOAD DATA LOCAL INFILE",
            "merge_staged": "into `_sluice_stage_0` by LOAD DATA LOCAL INFILE"}[mode]
    assert into in load_log(tmp_path), load_log(tmp_path)
    types = {k: normalize_type(v) for k, v in column_types(mariadb_server, table).items()}
    assert types == EXPECTED_TYPES
    assert_typed_rows_match(mariadb_server, table)
    # Empty and NULL told apart by the server itself (IS NULL), not by how the client prints.
    rows = table_rows(mariadb_server, table, "id, s, s IS NULL, HEX(bl), bl IS NULL, u, j")
    assert rows[0][1:] == ("", "0", "", "0", "00000000-0000-0000-0000-000000000000", "{}")
    assert rows[1][3] == "00FF090A5C0D4E"
    assert rows[2][1:5] == (None, "1", None, "1")
    assert rows[3][1] == TRICKY_TEXT and rows[3][3] == "5C4E"
    assert helper_tables(mariadb_server) == []


@pytest.mark.parametrize("mode", ["append", "replace"])
def test_multi_row_insert_fallback_when_local_infile_is_off(mariadb_server, tmp_path, mode,
                                                           local_infile_off):
    table = f"types_insert_{mode}"
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode=mode)
    typed_model(tmp_path)
    run(tmp_path, pipeline, expect=0)
    log = load_log(tmp_path)
    assert "refuses LOAD DATA LOCAL INFILE" in log and "by INSERT" in log, log
    types = {k: normalize_type(v) for k, v in column_types(mariadb_server, table).items()}
    assert types == EXPECTED_TYPES
    assert_typed_rows_match(mariadb_server, table)

    # A refused row is named by its position in the fallback too, and nothing changes: a value
    # the existing column cannot hold (append), a repeated key of the new table (replace).
    before = table_rows(mariadb_server, table, "id, i32")
    cols = [("id", "INTEGER"), ("i32", "BIGINT")]
    if mode == "append":
        rows, words = [(10, 1), (11, 2), (12, 3), (13, 99999999999), (14, 5)], "Out of range"
    else:
        pipeline = make_pipeline(tmp_path, mariadb_server, table, mode=mode, key=["id"])
        rows, words = [(10, 1), (11, 2), (12, 3), (12, 4), (14, 5)], "Duplicate entry"
    set_model(tmp_path, cols, rows)
    r = run(tmp_path, pipeline, expect=1)
    assert "staging.items row 4" in r.output and words in r.output, str(r)
    assert table_rows(mariadb_server, table, "id, i32") == before
    assert helper_tables(mariadb_server) == []


def test_values_mysql_cannot_store_fail_naming_row_and_column(mariadb_server, tmp_path):
    pipeline = make_pipeline(tmp_path, mariadb_server, "not_storable")
    set_model(tmp_path, [("id", "INTEGER"), ("x", "DOUBLE")],
              [(1, 1.0), (2, Raw("'nan'::DOUBLE")), (3, 2.0)])
    r = run(tmp_path, pipeline, expect=1)
    assert "staging.items row 2, column 'x'" in r.output and "NaN" in r.output, str(r)
    assert mariadb_server.sql("SHOW TABLES LIKE 'not_storable'") == []


# ---------------------------------------------------------------------------------------------
# modes

KV = [("id", "BIGINT"), ("name", "VARCHAR")]


def test_append_creates_table_and_a_repeated_append_is_not_doubled(mariadb_server, tmp_path):
    table = "append_kv"
    pipeline = make_pipeline(tmp_path, mariadb_server, table, key=["id"])
    set_model(tmp_path, KV, [(1, "a"), (2, "b")])
    run(tmp_path, pipeline, expect=0)
    assert primary_key(mariadb_server, table) == ["id"]
    assert column_types(mariadb_server, table) == {
        "id": "bigint(20)",
        "name": "longtext"}
    # Same dataset, same partition, same data: the ledger turns the append into a no-op.
    r = run(tmp_path, pipeline, expect=0)
    assert "already appended" in load_log(tmp_path), str(r)
    assert table_rows(mariadb_server, table) == [("1", "a"), ("2", "b")]
    assert ledger(mariadb_server, table) == [("staging.items", f"ds={DS}", "append", "2")]
    # New data (another date) is appended.
    set_model(tmp_path, KV, [(3, "c")])
    run(tmp_path, pipeline, date=DS2, expect=0)
    assert table_rows(mariadb_server, table) == [("1", "a"), ("2", "b"), ("3", "c")]
    assert sorted(ledger(mariadb_server, table)) == [
        ("staging.items", f"ds={DS}", "append", "2"), ("staging.items", f"ds={DS2}", "append", "1")]


def test_text_primary_key_is_indexable_and_byte_exact(mariadb_server, tmp_path):
    table = "text_key"
    cols = [("code", "VARCHAR"), ("region", "VARCHAR"), ("n", "INTEGER")]
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="merge", key=["code", "region"])
    rows = [("a", "x", 1), ("A", "x", 2), ("a ", "x", 3), ("ä", "x", 4), ("a", "y", 5)]
    set_model(tmp_path, cols, rows)
    run(tmp_path, pipeline, expect=0)
    assert primary_key(mariadb_server, table) == ["code", "region"]
    types = column_types(mariadb_server, table)
    assert types["code"].startswith("varchar(") and types["n"] == "int(11)", types
    got = mariadb_server.sql(f"SELECT code, region, n FROM {table} ORDER BY n")
    assert got == [(c, r, str(n)) for c, r, n in rows]


def test_replace_swaps_in_a_new_table_with_the_datasets_schema(mariadb_server, tmp_path):
    table = "replace_kv"
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="replace", key=["id"])
    set_model(tmp_path, KV, [(1, "a"), (2, "b")])
    run(tmp_path, pipeline, expect=0)
    assert table_rows(mariadb_server, table) == [("1", "a"), ("2", "b")]
    assert primary_key(mariadb_server, table) == ["id"]

    cols = [("id", "BIGINT"), ("name", "VARCHAR"), ("score", "DECIMAL(5,1)")]
    set_model(tmp_path, cols, [(3, "c", "9.5"), (4, None, None)])
    run(tmp_path, pipeline, expect=0)
    assert table_rows(mariadb_server, table) == [("3", "c", "9.5"), ("4", None, None)]
    assert list(column_types(mariadb_server, table)) == ["id", "name", "score"]
    assert primary_key(mariadb_server, table) == ["id"]
    assert helper_tables(mariadb_server) == []
    assert [r[2] for r in ledger(mariadb_server, table)] == ["replace", "replace"]


def test_replace_of_several_tables_is_all_or_nothing(mariadb_server, tmp_path):
    pipeline = make_pipeline(tmp_path, mariadb_server, "", mode="replace", key=["id"],
                             datasets={"staging.items": "multi_a", "staging.more": "multi_b"})
    set_model(tmp_path, KV, [(1, "a1")], index=0)
    set_model(tmp_path, KV, [(1, "b1")], index=1)
    run(tmp_path, pipeline, expect=0)
    # The second dataset repeats a key at row 3: neither table changes.
    set_model(tmp_path, KV, [(5, "a5")], index=0)
    set_model(tmp_path, KV, [(5, "b5"), (6, "b6"), (5, "again")], index=1)
    r = run(tmp_path, pipeline, expect=1)
    assert "staging.more row 3" in r.output and "Duplicate entry" in r.output, str(r)
    assert "nothing was changed" in r.output
    assert table_rows(mariadb_server, "multi_a") == [("1", "a1")]
    assert table_rows(mariadb_server, "multi_b") == [("1", "b1")]
    assert helper_tables(mariadb_server) == []


def test_truncate_keeps_the_table_definition(mariadb_server, tmp_path):
    table = "truncate_kv"
    mariadb_server.sql(
        f"CREATE TABLE {table} (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL, "
        "note VARCHAR(10) NOT NULL DEFAULT 'kept', KEY by_name (name)) ENGINE=InnoDB "
        "COMMENT='hand made'; "
        f"INSERT INTO {table} VALUES (1, 'old', 'x'), (9, 'old9', 'y')")
    definition = mariadb_server.sql(f"SHOW CREATE TABLE {table}")
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="truncate")
    set_model(tmp_path, KV, [(1, "new1"), (2, "new2")])
    run(tmp_path, pipeline, expect=0)
    assert table_rows(mariadb_server, table) == [("1", "new1", "kept"), ("2", "new2", "kept")]
    assert mariadb_server.sql(f"SHOW CREATE TABLE {table}") == definition


def test_merge_upserts_on_the_key(mariadb_server, tmp_path):
    table = "merge_kv"
    cols = [("id", "BIGINT"), ("name", "VARCHAR"), ("qty", "INTEGER")]
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="merge", key=["id"])
    set_model(tmp_path, cols, [(1, "a", 1), (2, "b", 2), (3, "c", 3)])
    run(tmp_path, pipeline, expect=0)
    set_model(tmp_path, cols, [(2, "B", None), (4, "d", 4)])
    run(tmp_path, pipeline, expect=0)
    log = load_log(tmp_path)
    assert "straight by LOAD DATA ... REPLACE" in log and "refused" not in log, log
    assert f"into `shop`.`{table}` by LOAD DATA LOCAL INFILE" in log, log
    # Two rows loaded, although the server counts the replaced row twice.
    assert [r[2:] for r in ledger(mariadb_server, table)] == [("merge", "3"), ("merge", "2")]
    assert table_rows(mariadb_server, table) == [
        ("1", "a", "1"), ("2", "B", None), ("3", "c", "3"), ("4", "d", "4")]
    # A repeated merge gives the same table, value for value (a merge that inserted instead of
    # updating, or updated the wrong row, would keep the count).
    run(tmp_path, pipeline, expect=0)
    assert table_rows(mariadb_server, table) == [
        ("1", "a", "1"), ("2", "B", None), ("3", "c", "3"), ("4", "d", "4")]
    assert [r[2] for r in ledger(mariadb_server, table)] == ["merge", "merge", "merge"]


# A merge loads straight by LOAD DATA ... REPLACE only where REPLACE (delete the row with the key,
# insert the new one) ends where ON DUPLICATE KEY UPDATE does. Where it might not, the rows are
# staged and upserted and the log says why; each case's rows end differently under REPLACE.
BASE_ROWS = [("1", "a", "1"), ("2", "b", "2")]
MERGE_STAGED = {  # case: (SQL after the table {t} is made, the log's reason, rows, the result)
    "unloaded_column": (
        "ALTER TABLE {t} ADD COLUMN note VARCHAR(10) DEFAULT 'new'; UPDATE {t} SET note = 'kept'",
        "the load does not set column note", [(2, "b", 20), (3, "c", 3)],
        [("1", "a", "1", "kept"), ("2", "b", "20", "kept"), ("3", "c", "3", "new")]),
    "trigger": (
        "CREATE TABLE {t}_audit (id BIGINT); CREATE TRIGGER {t}_del AFTER DELETE ON {t} "
        "FOR EACH ROW INSERT INTO {t}_audit VALUES (OLD.id)",
        "it has triggers", [(2, "b", 20), (3, "c", 3)],
        [("1", "a", "1"), ("2", "b", "20"), ("3", "c", "3")]),
    "foreign_key": (
        "CREATE TABLE {t}_child (cid INT PRIMARY KEY, pid BIGINT, FOREIGN KEY (pid) "
        "REFERENCES {t} (id) ON DELETE CASCADE) ENGINE=InnoDB; INSERT INTO {t}_child VALUES (1, 2)",
        "a foreign key refers to it", [(2, "b", 20), (3, "c", 3)],
        [("1", "a", "1"), ("2", "b", "20"), ("3", "c", "3")]),
    # (3, 'a') meets row 1 on the second unique index: the upsert updates row 1, REPLACE would
    # delete it and insert row 3.
    "second_unique": (
        "ALTER TABLE {t} ADD UNIQUE (name)",
        "the key is not its primary key and only unique index", [(2, "b", 20), (3, "a", 3)],
        [("1", "a", "3"), ("2", "b", "20")]),
    # 'B' is 'b' in the table's case-blind collation: the upsert keeps the row's name, REPLACE
    # would write 'B'.
    "text_key": (
        "ALTER TABLE {t} MODIFY name VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL, "
        "DROP PRIMARY KEY, ADD PRIMARY KEY (name)",
        "key column name is VARCHAR", [(2, "B", 20), (3, "c", 3)],
        [("1", "a", "1"), ("2", "b", "20"), ("3", "c", "3")]),
}


def make_merge_target(server, table: str):
    server.sql(f"CREATE TABLE {table} (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL, "
               f"qty INT) ENGINE=InnoDB; INSERT INTO {table} VALUES (1, 'a', 1), (2, 'b', 2)")


@pytest.mark.parametrize("case", MERGE_STAGED)
def test_merge_is_staged_where_replace_would_differ(mariadb_server, tmp_path, case):
    table = f"merge_staged_{case}"
    setup, reason, rows, want = MERGE_STAGED[case]
    make_merge_target(mariadb_server, table)
    mariadb_server.sql(setup.format(t=table))
    key = ["name"] if case == "text_key" else ["id"]
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="merge", key=key)
    set_model(tmp_path, ITEMS, rows)
    run(tmp_path, pipeline, expect=0)
    assert f"through a staging table: {reason}" in load_log(tmp_path), load_log(tmp_path)
    cols = "id, name, qty, note" if case == "unloaded_column" else "id, name, qty"
    assert table_rows(mariadb_server, table, cols) == want
    if case == "trigger":
        assert mariadb_server.sql(f"SELECT count(*) FROM {table}_audit") == [("0",)]
    if case == "foreign_key":
        assert mariadb_server.sql(f"SELECT cid, pid FROM {table}_child") == [("1", "2")]
    assert helper_tables(mariadb_server) == []


def test_merge_keys_one_in_the_tables_key_type_are_refused(mariadb_server, tmp_path):
    # 5 and 2005 are different in the dataset but one YEAR in the table: REPLACE would keep the
    # last silently; the staged path refuses the dataset, naming the row.
    table = "merge_year_key"
    mariadb_server.sql(f"CREATE TABLE {table} (id YEAR NOT NULL PRIMARY KEY, name VARCHAR(20) "
                       f"NOT NULL, qty INT) ENGINE=InnoDB; INSERT INTO {table} VALUES (2001, 'a', 1)")
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="merge", key=["id"])
    set_model(tmp_path, ITEMS, [(5, "x", 5), (2005, "y", 6)])
    r = run(tmp_path, pipeline, expect=1)
    assert "through a staging table: key column id is INTEGER in the dataset and year" in \
        load_log(tmp_path), load_log(tmp_path)
    assert "staging.items row 2" in r.output and "repeats an earlier row" in r.output, str(r)
    assert table_rows(mariadb_server, table) == [("2001", "a", "1")]


def other_user(server, tmp_path: Path, pipeline: Path, name: str, grants: list) -> Path:
    """pipeline, loading as a new user `name` (password etl) with only `grants`."""
    server.sql(f"DROP USER IF EXISTS '{name}'@'127.0.0.1'; "
               f"CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY 'etl'; " +
               " ".join(f"GRANT {g} TO '{name}'@'127.0.0.1';" for g in grants), admin=True)
    pipeline.write_text(pipeline.read_text().replace("user: etl,", f"user: {name},"))
    return pipeline


def test_merge_is_staged_when_a_foreign_key_it_cannot_read_refers_to_it(mariadb_server, tmp_path):
    # The child table is in a database the loading user has no rights on, so
    # information_schema does not show its foreign key; REPLACE would cascade into it.
    table = "merge_hidden_fk"
    make_merge_target(mariadb_server, table)
    mariadb_server.sql(f"CREATE DATABASE IF NOT EXISTS private_db; "
                       f"CREATE TABLE private_db.child (cid INT PRIMARY KEY, pid BIGINT, FOREIGN KEY "
                       f"(pid) REFERENCES shop.{table} (id) ON DELETE CASCADE) ENGINE=InnoDB; "
                       f"INSERT INTO private_db.child VALUES (1, 2)", admin=True)
    set_model(tmp_path, ITEMS, [(2, "b", 20), (3, "c", 3)])
    for user, grants, reason in [
            ("etl", None, "a foreign key refers to it"),
            ("no_process", ["ALL ON shop.*"], "needs the PROCESS privilege")]:
        pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="merge", key=["id"])
        if grants:
            pipeline = other_user(mariadb_server, tmp_path, pipeline, user, grants)
        run(tmp_path, pipeline, expect=0)
        assert f"through a staging table: " in load_log(tmp_path) and reason in \
            load_log(tmp_path), load_log(tmp_path)
        assert table_rows(mariadb_server, table) == [("1", "a", "1"), ("2", "b", "20"),
                                                     ("3", "c", "3")]
        assert mariadb_server.sql("SELECT cid, pid FROM private_db.child", admin=True) == [
            ("1", "2")]


def test_merge_without_the_delete_privilege_is_staged(mariadb_server, tmp_path):
    # REPLACE needs DELETE, an upsert does not: the server's refusal sends the rows through a
    # staging table.
    table = "merge_no_delete"
    make_merge_target(mariadb_server, table)
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="merge", key=["id"])
    pipeline = other_user(mariadb_server, tmp_path, pipeline, "no_delete", [
        "SELECT, INSERT, UPDATE, CREATE, CREATE TEMPORARY TABLES, ALTER, DROP ON shop.*",
        "PROCESS ON *.*"])
    set_model(tmp_path, ITEMS, [(2, "B", 20), (3, "c", 3)])
    run(tmp_path, pipeline, expect=0)
    log = load_log(tmp_path)
    assert "straight by LOAD DATA ... REPLACE" in log, log
    assert "refused LOAD DATA ... REPLACE" in log and "DELETE command denied" in log, log
    assert table_rows(mariadb_server, table) == [("1", "a", "1"), ("2", "B", "20"),
                                                 ("3", "c", "3")]


def test_merge_by_replace_without_local_infile(mariadb_server, tmp_path, local_infile_off):
    table = "merge_replace_insert"
    mariadb_server.sql(f"CREATE TABLE {table} (id INT NOT NULL PRIMARY KEY, name VARCHAR(20) "
                       f"NOT NULL, qty INT) ENGINE=InnoDB; "
                       f"INSERT INTO {table} VALUES (1, 'a', 1), (2, 'b', 2)")
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="merge", key=["id"])
    # Two rows in one statement, then one: a one-row REPLACE reports no "Records:" line.
    for rows in ([(2, "B", None), (3, "c", 3)], [(3, "C", 30)]):
        set_model(tmp_path, ITEMS, rows)
        run(tmp_path, pipeline, expect=0)
        log = load_log(tmp_path)
        assert "straight by LOAD DATA ... REPLACE" in log and \
            f"into `shop`.`{table}` by INSERT" in log and "refused" not in log, log
    assert table_rows(mariadb_server, table) == [("1", "a", "1"), ("2", "B", None),
                                                 ("3", "C", "30")]
    assert [r[2:] for r in ledger(mariadb_server, table)] == [("merge", "2"), ("merge", "1")]


def test_merge_reads_the_servers_words_whatever_its_language(mariadb_server, tmp_path):
    # sluice reads "Records: N" and "at row N" from the server; its sessions ask for English.
    table = "merge_german_server"
    make_merge_target(mariadb_server, table)
    mariadb_server.sql("SET GLOBAL lc_messages = 'de_DE'", admin=True)
    try:
        pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="merge", key=["id"])
        set_model(tmp_path, ITEMS, [(2, "B", 20), (3, "c", 3)])
        run(tmp_path, pipeline, expect=0)
        log = load_log(tmp_path)
        assert "straight by LOAD DATA ... REPLACE" in log and "refused" not in log, log
        set_model(tmp_path, ITEMS, [(4, "d", 4), (5, "x" * 21, 5)])
        r = run(tmp_path, pipeline, expect=1)
        assert "staging.items row 2" in r.output and "Data too long" in r.output, str(r)
    finally:
        mariadb_server.sql("SET GLOBAL lc_messages = 'en_US'", admin=True)
    assert table_rows(mariadb_server, table) == [("1", "a", "1"), ("2", "B", "20"),
                                                 ("3", "c", "3")]
    assert [r[2:] for r in ledger(mariadb_server, table)] == [("merge", "2")]


def test_merge_into_a_table_without_a_unique_key_fails_with_the_fix(mariadb_server, tmp_path):
    table = "merge_nokey"
    mariadb_server.sql(f"CREATE TABLE {table} (id BIGINT, name TEXT); "
                       f"INSERT INTO {table} VALUES (1, 'a')")
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode="merge", key=["id"])
    set_model(tmp_path, KV, [(1, "b")])
    r = run(tmp_path, pipeline, expect=1)
    assert "merge needs a primary key or unique index on (id)" in r.output, str(r)
    assert table_rows(mariadb_server, table) == [("1", "a")]


# ---------------------------------------------------------------------------------------------
# new columns


def test_new_column_policies(mariadb_server, tmp_path):
    table = "newcols"
    cols3 = KV + [("extra", "DATE")]
    set_model(tmp_path, KV, [(1, "a")])
    run(tmp_path, make_pipeline(tmp_path, mariadb_server, table), expect=0)

    set_model(tmp_path, cols3, [(2, "b", "2026-01-02")])
    r = run(tmp_path, make_pipeline(tmp_path, mariadb_server, table, new_columns="fail"), expect=1)
    assert "column 'extra'" in r.output and "new_columns: fail" in r.output, str(r)
    assert list(column_types(mariadb_server, table)) == ["id", "name"]
    assert table_rows(mariadb_server, table) == [("1", "a")]

    run(tmp_path, make_pipeline(tmp_path, mariadb_server, table, new_columns="ignore"), expect=0)
    assert list(column_types(mariadb_server, table)) == ["id", "name"]
    assert table_rows(mariadb_server, table) == [("1", "a"), ("2", "b")]

    set_model(tmp_path, cols3, [(3, "c", "2026-01-03")])
    run(tmp_path, make_pipeline(tmp_path, mariadb_server, table, new_columns="add"), expect=0)
    assert column_types(mariadb_server, table)["extra"] == "date"
    assert table_rows(mariadb_server, table) == [
        ("1", "a", None), ("2", "b", None), ("3", "c", "2026-01-03")]


def test_added_column_is_removed_again_when_the_load_fails(mariadb_server, tmp_path):
    table = "newcols_undo"
    mariadb_server.sql(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, name TEXT); "
                       f"INSERT INTO {table} VALUES (1, 'a')")
    pipeline = make_pipeline(tmp_path, mariadb_server, table, new_columns="add")
    set_model(tmp_path, KV + [("extra", "INTEGER")], [(2, "b", 1), (1, "dup", 2)])
    r = run(tmp_path, pipeline, expect=1)
    assert "staging.items row 2" in r.output and "Duplicate entry" in r.output, str(r)
    assert list(column_types(mariadb_server, table)) == ["id", "name"]
    assert table_rows(mariadb_server, table) == [("1", "a")]


# ---------------------------------------------------------------------------------------------
# refused rows

CONSTRAINED = ("CREATE TABLE {t} (id INT NOT NULL PRIMARY KEY, name VARCHAR(10) NOT NULL, "
               "qty INT CHECK (qty >= 0)) ENGINE=InnoDB; INSERT INTO {t} VALUES (1, 'one', 1)")
ITEMS = [("id", "INTEGER"), ("name", "VARCHAR"), ("qty", "INTEGER")]


REFUSED = {  # case: (rows, the refused row, words of the message)
    "duplicate": ([(2, "b", 1), (3, "c", 1), (1, "again", 1), (4, "d", 1)], 3, "Duplicate entry"),
    "repeated": ([(2, "b", 1), (3, "c", 1), (4, "d", 1), (3, "again", 1)], 4, "repeats"),
    "not_null": ([(2, "b", 1), (3, "c", 1), (4, "d", 1), (5, None, 1)], 4, "cannot be null"),
    "check": ([(2, "b", 1), (3, "c", -1)], 2, "CONSTRAINT"),
    # LOAD DATA's warning (INSERT and LOAD DATA ... REPLACE fail with "Data too long")
    "too_long": ([(2, "b", 1), (3, "c", 1), (4, "d", 1), (5, "e", 1), (6, "x" * 11, 1)], 5,
                 "Data truncated for column 'name'"),
}


# A merge updates the target's row with a key it already has ("duplicate"), but refuses a key
# the dataset itself repeats ("repeated"), which an append refuses as a duplicate.
@pytest.mark.parametrize("case,mode", [(c, m) for m in ("append", "merge") for c in REFUSED
                                       if (c, m) != ("duplicate", "merge")])
def test_refused_row_fails_with_its_position_and_changes_nothing(mariadb_server, tmp_path, case,
                                                                 mode):
    rows, row, words = REFUSED[case]
    if (case, mode) == ("repeated", "append"):
        words = "Duplicate entry"
    if case == "not_null" and mode in ("append", "merge"):  # LOAD DATA straight into the target
        words = "NULL supplied to NOT NULL column 'name'"
    if (case, mode) == ("too_long", "merge"):  # LOAD DATA ... REPLACE fails on it: an error's words
        words = "Data too long for column 'name'"
    table = f"refused_{case}_{mode}"
    mariadb_server.sql(CONSTRAINED.format(t=table))
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode=mode, key=["id"])
    set_model(tmp_path, ITEMS, rows)
    r = run(tmp_path, pipeline, expect=1)
    assert f"staging.items row {row}" in r.output and words in r.output, str(r)
    assert "nothing was changed" in r.output
    if (case, mode) == ("duplicate", "append"):
        # LOAD DATA LOCAL skips a duplicate without naming it: the rows loaded straight into the
        # target are rolled back and applied again through a staging table, which names it.
        assert "loading it again through a staging table" in load_log(tmp_path)
    assert table_rows(mariadb_server, table) == [("1", "one", "1")]
    assert ledger(mariadb_server, table) == []


# A merge into a table it creates inserts every row, straight into the table; a key the dataset
# repeats is still named as such (found through a staging table).
@pytest.mark.parametrize("mode", ["append", "merge"])
def test_a_table_created_by_a_failed_load_is_dropped_again(mariadb_server, tmp_path, mode):
    table = f"created_then_refused_{mode}"
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode=mode, key=["id"])
    set_model(tmp_path, ITEMS, [(1, "a", 1), (2, "b", 1), (1, "c", 1)])
    r = run(tmp_path, pipeline, expect=1)
    words = "Duplicate entry" if mode == "append" else "repeats an earlier row"
    assert "staging.items row 3" in r.output and words in r.output, str(r)
    assert "loading it again through a staging table" in load_log(tmp_path)
    assert mariadb_server.sql(f"SHOW TABLES LIKE '{table}'") == []
    set_model(tmp_path, ITEMS, [(1, "a", 1), (2, "b", 1), (3, "c", 1)])
    run(tmp_path, pipeline, expect=0)
    assert f"into `shop`.`{table}` by LOAD DATA LOCAL INFILE" in load_log(tmp_path)
    assert table_rows(mariadb_server, table) == [("1", "a", "1"), ("2", "b", "1"),
                                                 ("3", "c", "1")]


def test_two_datasets_into_one_table_are_refused(mariadb_server, tmp_path):
    pipeline = make_pipeline(tmp_path, mariadb_server, "", datasets={
        "staging.items": "same_table", "staging.more": "shop.same_table"})
    set_model(tmp_path, KV, [(1, "a")], index=0)
    set_model(tmp_path, KV, [(2, "b")], index=1)
    r = run(tmp_path, pipeline, expect=1)
    assert "both load into shop.same_table" in r.output, str(r)


def test_parallel_appends_of_one_partition_into_one_table_load_it_once(mariadb_server, tmp_path):
    # Two tasks of one run append the same partition at the same time: they take turns on the
    # table, and the second finds the first's ledger row.
    pipeline = write_pipeline(tmp_path, f"""
        pipeline: mysql_parallel
        lake: ./lake
        state: ./.sluice
        connections:
          shop: {{type: mysql, host: 127.0.0.1, port: {mariadb_server.port}, database: shop,
                 user: etl, password: "${{env:{PASSWORD_ENV}}}"}}
        tasks:
          - id: build
            kind: sql
            into: staging.items
            sql: SELECT range AS id, 'x' || range AS name FROM range(100000)
          - id: load_a
            kind: db_load
            after: [build]
            connection: shop
            datasets: {{staging.items: parallel_kv}}
            mode: append
          - id: load_b
            kind: db_load
            after: [build]
            connection: shop
            datasets: {{staging.items: parallel_kv}}
            mode: append
        """)
    run(tmp_path, pipeline, expect=0)
    # Every id of range(100000) once, each with its own name.
    assert mariadb_server.sql(
        "SELECT count(*), count(DISTINCT id), min(id), max(id), sum(id), "
        "sum(name = CONCAT('x', id)) FROM parallel_kv") == [
        ("100000", "100000", "0", "99999", str(sum(range(100000))), "100000")]
    assert ledger(mariadb_server, "parallel_kv") == [
        ("staging.items", f"ds={DS}", "append", "100000")]


# ---------------------------------------------------------------------------------------------
# kills around the commit


def test_kill_after_commit_then_rerun_does_not_double_load(mariadb_server, tmp_path):
    table = "killed_after_commit"
    pipeline = make_pipeline(tmp_path, mariadb_server, table)
    set_model(tmp_path, KV, [(1, "a"), (2, "b"), (3, "c")])
    r = run(tmp_path, pipeline, env={"SLUICE_FAULT": "kill:load.after_commit"})
    assert r.returncode == -signal.SIGKILL and "load.after_commit" in r.stderr, str(r)
    want = [("1", "a"), ("2", "b"), ("3", "c")]
    assert table_rows(mariadb_server, table) == want, "the commit happened before the kill"
    assert ledger(mariadb_server, table) == [("staging.items", f"ds={DS}", "append", "3")]
    run(tmp_path, pipeline, expect=0)
    assert table_rows(mariadb_server, table) == want, "the retried append doubled the rows"
    assert ledger(mariadb_server, table) == [("staging.items", f"ds={DS}", "append", "3")]


@pytest.mark.parametrize("mode", ["append", "truncate", "merge", "replace"])
def test_kill_before_commit_leaves_the_target_as_it_was(mariadb_server, tmp_path, mode):
    table = f"killed_before_commit_{mode}"
    pipeline = make_pipeline(tmp_path, mariadb_server, table, mode=mode, key=["id"])
    set_model(tmp_path, KV, [(1, "a"), (2, "b")])
    run(tmp_path, pipeline, expect=0)
    before = table_rows(mariadb_server, table)
    new = [(3, "c"), (4, "d")] if mode == "append" else [(2, "B"), (3, "c")]
    set_model(tmp_path, KV, new)
    r = run(tmp_path, pipeline, env={"SLUICE_FAULT": "kill:load.before_commit"})
    assert r.returncode == -signal.SIGKILL, str(r)
    assert table_rows(mariadb_server, table) == before
    if mode == "replace":  # the new table the kill left; the next load drops it
        assert helper_tables(mariadb_server) == [f"_sluice_new_{table}"]
    run(tmp_path, pipeline, expect=0)
    want = {"append": before + [("3", "c"), ("4", "d")], "truncate": [("2", "B"), ("3", "c")],
            "merge": [("1", "a"), ("2", "B"), ("3", "c")], "replace": [("2", "B"), ("3", "c")]}
    assert table_rows(mariadb_server, table) == want[mode]
    assert helper_tables(mariadb_server) == []


# ---------------------------------------------------------------------------------------------
# connection


def test_wrong_password_is_reported_without_the_secret(mariadb_server, tmp_path):
    secret = "not-the-right-pw-7f3a"
    pw = tmp_path / "shop.pass"
    pw.write_text(secret + "\n")
    pw.chmod(0o600)
    pipeline = make_pipeline(tmp_path, mariadb_server, "never", password="${file:shop.pass}")
    set_model(tmp_path, KV, [(1, "a")])
    r = run(tmp_path, pipeline, expect=1)
    assert "Access denied" in r.output and "password secret" in r.output, str(r)
    assert secret not in r.output
    for f in (tmp_path / ".sluice").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def test_unreachable_server_and_required_tls_are_connection_errors(mariadb_server, tmp_path):
    pipeline = make_pipeline(tmp_path, mariadb_server, "never", extra_conn=", ssl_mode: REQUIRED")
    set_model(tmp_path, KV, [(1, "a")])
    r = run(tmp_path, pipeline, expect=1)
    assert "does not offer TLS" in r.output, str(r)
    text = pipeline.read_text().replace(f"port: {mariadb_server.port}", "port: 1")
    text = text.replace(", ssl_mode: REQUIRED", ", ssl_mode: DISABLED")
    pipeline.write_text(text)
    r = run(tmp_path, pipeline, expect=1)
    assert "is the server running" in r.output, str(r)
