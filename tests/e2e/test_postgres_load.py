"""db_load into a real PostgreSQL server (issue 4: "Load the PostgreSQL warehouse: atomic,
idempotent, fast").

Every test drives the sluice binary against the session's PostgreSQL (tests/servers: real
server on loopback, role etl/etl, database sluice_test) and reads the result back with psql.
Each test works in its own schema, so tests do not see each other's tables; the ledger
public._sluice_loads is shared and always filtered by target.

Covered: the four modes and partitions: all; a round trip of every type cell by cell against
text computed here in Python; table creation (primary key from key:) and new_columns:
add | fail | ignore; failures that must leave the target exactly as it was (a refused row,
the server killed during COPY, Ctrl-C during COPY, a kill before COMMIT, several datasets in
one task, a NUL in text, merge without a key on the target); a lost
commit acknowledgement (kill right after COMMIT) whose retry must not double an append; secrets
(wrong password, clear-text password); and examples/citizens-postgres end to end.
"""

import datetime as dt
import decimal
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import (run_gen, EXAMPLES, query_json, read_manifest, run_sluice, state_query,
                      summary_rows, wait_for, write_pipeline)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "servers"))
from conftest_fixtures import postgres_server  # noqa: E402,F401

DS = "2026-11-21"
DS2 = "2026-11-22"
DS3 = "2026-11-23"
PASSWORD = "etl"

# The session settings every comparison runs under, so that PostgreSQL renders values the
# same way whatever the server's defaults are.
PG_SETTINGS = ("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; "
               "SET extra_float_digits = 1; SET bytea_output = 'hex'; ")


# ---------------------------------------------------------------------------------------------
# Helpers


def conn_yaml(password_ref: str = "${env:DWH_PASSWORD}") -> str:
    """The connections: block of every test pipeline (port and password from the environment,
    as a real deployment does)."""
    return ("connections:\n"
            "  dwh: {type: postgres, host: 127.0.0.1, port: \"${env:DWH_PORT}\", "
            f"database: sluice_test, user: etl, password: \"{password_ref}\"}}\n")


def pg_env(pg, password: str = PASSWORD) -> dict:
    return {"DWH_PORT": str(pg.port), "DWH_PASSWORD": password}


def make_pipeline(folder: Path, tasks: str, name: str = "pgload", extra: str = "",
                  password_ref: str = "${env:DWH_PASSWORD}") -> Path:
    """A pipeline file with the dwh connection and the given tasks: block (YAML text, already
    indented by two spaces per level as it would be under `tasks:`)."""
    text = (f"pipeline: {name}\nlake: ./lake\nstate: ./.sluice\nwarehouse: ./warehouse.duckdb\n"
            f"{extra}{conn_yaml(password_ref)}tasks:\n{tasks}")
    path = Path(folder) / "pipeline.yaml"
    path.write_text(text)
    return path


def run(folder: Path, pg, *args, date: str = DS, env=None, timeout=120, expect=None):
    e = pg_env(pg)
    if env:
        e.update(env)
    return run_sluice("run", Path(folder) / "pipeline.yaml", "--date", date, *args, cwd=folder,
                      env=e, timeout=timeout, expect=expect)


@pytest.fixture
def schema(postgres_server, request):
    """A fresh schema for this test (dropped first if a previous session left it)."""
    digest = hashlib.sha1(request.node.name.encode()).hexdigest()[:8]
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40].strip("_") + "_" + digest
    postgres_server.sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    return name


def table_exists(pg, table: str) -> bool:
    return pg.sql(f"SELECT to_regclass('{table}') IS NOT NULL")[0][0] == "t"


def columns_of(pg, table: str):
    """[(name, type as format_type shows it, NOT NULL)] in column order."""
    return pg.sql(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull::text "
        f"FROM pg_attribute a WHERE a.attrelid = '{table}'::regclass AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum")


def primary_key(pg, table: str):
    rows = pg.sql("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                  f"WHERE conrelid = '{table}'::regclass AND contype = 'p'")
    return rows[0][0] if rows else None


def rows_of(pg, table: str, cols: str = "*", order: str = "1"):
    return pg.sql(PG_SETTINGS + f"SELECT {cols} FROM {table} ORDER BY {order}")


def dump(pg, table: str) -> dict:
    """Everything a failed load must not change: the columns, constraints, indexes and every
    row (as row text, sorted)."""
    if not table_exists(pg, table):
        return {"exists": False}
    return {
        "exists": True,
        "oid": pg.sql(f"SELECT '{table}'::regclass::oid")[0][0],
        "columns": columns_of(pg, table),
        "constraints": pg.sql("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                              f"WHERE conrelid = '{table}'::regclass ORDER BY 1"),
        "indexes": pg.sql("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) "
                          f"FROM pg_index WHERE indrelid = '{table}'::regclass ORDER BY 1"),
        "rows": pg.sql(PG_SETTINGS + f"SELECT t::text FROM {table} t ORDER BY 1"),
    }


def ledger(pg, target: str):
    """Ledger rows for target, oldest first: (dataset, partition, target, mode, rows,
    checksum)."""
    if not table_exists(pg, "public._sluice_loads"):
        return []
    return pg.sql("SELECT dataset, partition, target, mode, rows::text, checksum "
                  f"FROM public._sluice_loads WHERE target = '{target}' ORDER BY loaded_at, ctid")


def assert_failed(r, task: str = "load"):
    assert r.returncode == 1, f"the run must fail (exit 1)\n{r}"
    s = summary_rows(r.stdout)
    assert s.get(task, {}).get("status") == "failed", f"task {task} must have failed\n{r}"


def assert_ok(r):
    assert r.returncode == 0, f"the run must succeed\n{r}"


# ---------------------------------------------------------------------------------------------
# Modes


ITEMS_SQL = """\
  - id: build
    kind: sql
    into: staging.items
    sql: |
{sql}
"""


def items_tasks(sql: str, load: str) -> str:
    body = "\n".join("      " + line for line in sql.strip().splitlines())
    return ITEMS_SQL.format(sql=body) + load


def test_replace_recreates_table_with_dataset_schema(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.items"
    load = f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: replace
    key: id
"""
    make_pipeline(tmp_path, items_tasks(
        "SELECT i::BIGINT AS id, 'old-' || i AS name, (i * 10)::INTEGER AS qty "
        "FROM range(1, 6) t(i) ORDER BY id", load))
    assert_ok(run(tmp_path, pg))
    assert columns_of(pg, t) == [("id", "bigint", "true"), ("name", "text", "false"),
                                 ("qty", "integer", "false")]
    assert primary_key(pg, t) == "PRIMARY KEY (id)"
    assert rows_of(pg, t) == [(str(i), f"old-{i}", str(i * 10)) for i in range(1, 6)]

    # Someone changes the table by hand: an extra column and a row; replace must drop both.
    pg.sql(f"ALTER TABLE {t} ADD COLUMN hand_made text; "
           f"INSERT INTO {t} (id, name, qty, hand_made) VALUES (99, 'manual', 0, 'x')")

    make_pipeline(tmp_path, items_tasks(
        "SELECT i::BIGINT AS id, 'label ' || i AS label, (i / 4)::DECIMAL(10,2) AS price, "
        "TIMESTAMP '2026-11-21 10:00:00' + to_seconds(i) AS seen_at "
        "FROM range(3, 7) t(i) ORDER BY id", load))
    r = run(tmp_path, pg, "--force")
    assert_ok(r)
    assert columns_of(pg, t) == [("id", "bigint", "true"), ("label", "text", "false"),
                                 ("price", "numeric(10,2)", "false"),
                                 ("seen_at", "timestamp without time zone", "false")]
    assert primary_key(pg, t) == "PRIMARY KEY (id)"
    assert rows_of(pg, t) == [
        (str(i), f"label {i}", str((Decimal(i) / 4).quantize(Decimal("0.01"))),
         f"2026-11-21 10:00:0{i}") for i in range(3, 7)]
    led = ledger(pg, t)
    assert [(l[0], l[1], l[3], l[4]) for l in led] == [
        ("staging.items", f"ds={DS}", "replace", "5"), ("staging.items", f"ds={DS}", "replace", "4")]
    m = read_manifest(tmp_path / "lake", "staging.items", DS)
    assert led[-1][5] == m["checksum"].removeprefix("crc32c:")


def test_append_twice_then_force_same_data_is_not_doubled(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.events"
    make_pipeline(tmp_path, items_tasks(
        "SELECT (year(DATE '{{ ds }}') * 10000 + month(DATE '{{ ds }}') * 100 "
        "+ day(DATE '{{ ds }}')) * 100 + i AS id, 'event ' || i || ' of {{ ds }}' AS what, "
        "DATE '{{ ds }}' AS day FROM range(1, 4) t(i) ORDER BY id",
        f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: append
"""))
    def expected(days):
        return sorted((str(int(d.replace("-", "")) * 100 + i), f"event {i} of {d}", d)
                      for d in days for i in range(1, 4))

    assert_ok(run(tmp_path, pg, date=DS))
    assert rows_of(pg, t) == expected([DS])
    assert_ok(run(tmp_path, pg, date=DS2))
    assert rows_of(pg, t) == expected([DS, DS2]), "a second append with other data adds its rows"

    checksum = read_manifest(tmp_path / "lake", "staging.items", DS)["checksum"]
    r = run(tmp_path, pg, "--force", date=DS)
    assert_ok(r)
    assert summary_rows(r.stdout)["load"]["status"] == "success", str(r)
    assert read_manifest(tmp_path / "lake", "staging.items", DS)["checksum"] == checksum, (
        "precondition: the forced re-run of the producer wrote the same bytes")
    assert rows_of(pg, t) == expected([DS, DS2]), (
        "the same partition appended again (same checksum) must be skipped through the ledger")
    assert [(l[0], l[1], l[3]) for l in ledger(pg, t)] == [
        ("staging.items", f"ds={DS}", "append"), ("staging.items", f"ds={DS2}", "append")]
    logs = "".join(p.read_text() for p in (tmp_path / ".sluice" / "logs").rglob("*.log"))
    assert "already appended" in logs, "the skipped append is said in the task's log"


def test_append_of_the_same_partition_with_changed_data_appends_again(postgres_server, schema,
                                                                      tmp_path):
    """The ledger skips an append only when the data is the same (same checksum): the same
    partition rebuilt with other rows is appended."""
    pg = postgres_server
    t = f"{schema}.changing"
    make_pipeline(tmp_path, items_tasks(
        "SELECT {{ var('n') }}::INTEGER AS n",
        f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: append
"""))
    assert_ok(run(tmp_path, pg, "--var", "n=1"))
    first = read_manifest(tmp_path / "lake", "staging.items", DS)["checksum"]
    assert_ok(run(tmp_path, pg, "--var", "n=1", "--force"))
    assert rows_of(pg, t) == [("1",)], "the same data again is skipped"
    assert_ok(run(tmp_path, pg, "--var", "n=2", "--force"))
    assert read_manifest(tmp_path / "lake", "staging.items", DS)["checksum"] != first
    assert rows_of(pg, t) == [("1",), ("2",)], "changed data under the same partition is appended"
    assert [(l[1], l[4]) for l in ledger(pg, t)] == [(f"ds={DS}", "1"), (f"ds={DS}", "1")]


def test_append_into_table_with_other_types_converts(postgres_server, schema, tmp_path):
    """A hand-made target whose column types differ from the dataset's (the server converts),
    with a column the dataset lacks (gets its default)."""
    pg = postgres_server
    t = f"{schema}.typed"
    pg.sql(f"CREATE SCHEMA {schema}; CREATE TABLE {t} (id integer PRIMARY KEY, "
           "name varchar(40) NOT NULL, qty numeric(12,2), added text DEFAULT 'dflt'); "
           f"INSERT INTO {t} VALUES (1, 'hand', 1.50, 'x')")
    make_pipeline(tmp_path, items_tasks(
        "SELECT i::BIGINT AS id, 'item ' || i AS name, (i * 7)::BIGINT AS qty "
        "FROM range(2, 6) t(i) ORDER BY id", f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: append
"""))
    assert_ok(run(tmp_path, pg))
    assert columns_of(pg, t) == [("id", "integer", "true"), ("name", "character varying(40)", "true"),
                                 ("qty", "numeric(12,2)", "false"), ("added", "text", "false")]
    assert rows_of(pg, t) == [("1", "hand", "1.50", "x")] + [
        (str(i), f"item {i}", f"{i * 7}.00", "dflt") for i in range(2, 6)]


def test_merge_updates_inserts_and_keeps(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.people"
    load = f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: merge
    key: [country, id]
"""
    first = [("DE", 1, "Anna", "10.50"), ("DE", 2, "Bernd", "20.00"), ("FR", 1, "Chloé", "30.25"),
             ("FR", 2, "Denis", "40.00"), ("IT", 1, "Elena", "50.00")]
    second = [("DE", 2, "Bernd B.", "21.00"),   # changed
              ("FR", 1, "Chloé", "30.25"),      # same
              ("FR", 3, "Fanny", "60.00"),      # new
              ("IT", 2, "Gino", "70.75")]       # new (same id as an existing row, other country)

    def values(rows):
        return ("SELECT * FROM (VALUES " + ", ".join(
            f"('{c}', {i}::BIGINT, '{n}', {a}::DECIMAL(10,2))" for c, i, n, a in rows) +
            ") v(country, id, name, amount) ORDER BY country, id")

    make_pipeline(tmp_path, items_tasks(values(first), load))
    assert_ok(run(tmp_path, pg))
    assert primary_key(pg, t) == "PRIMARY KEY (country, id)"
    assert rows_of(pg, t, order="1, 2") == [(c, str(i), n, a) for c, i, n, a in first]

    make_pipeline(tmp_path, items_tasks(values(second), load))
    assert_ok(run(tmp_path, pg, "--force"))
    merged = {(c, i): (c, i, n, a) for c, i, n, a in first}
    merged.update({(c, i): (c, i, n, a) for c, i, n, a in second})
    want = [(c, str(i), n, a) for (c, i, n, a) in sorted(merged.values())]
    assert rows_of(pg, t, order="1, 2") == want
    assert [l[3] for l in ledger(pg, t)] == ["merge", "merge"]

    # merge is idempotent: the same partition again changes nothing (and is not skipped).
    before = dump(pg, t)
    assert_ok(run(tmp_path, pg, "--force"))
    assert dump(pg, t) == before
    assert [l[3] for l in ledger(pg, t)] == ["merge"] * 3


def test_truncate_keeps_table_definition(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.stock"
    load = f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: truncate
"""
    make_pipeline(tmp_path, items_tasks(
        "SELECT i AS sku, 'item ' || i AS name, (i * 3)::INTEGER AS qty FROM range(1, 6) t(i) "
        "ORDER BY sku", load))
    assert_ok(run(tmp_path, pg))
    assert table_exists(pg, t), "truncate creates a missing table"
    assert rows_of(pg, t) == [(str(i), f"item {i}", str(i * 3)) for i in range(1, 6)]

    # The DBA's additions to the table: an index, a grant, a comment, a default.
    pg.sql("DO $$ BEGIN CREATE ROLE sluice_test_reader NOLOGIN; "
           "EXCEPTION WHEN duplicate_object THEN NULL; END $$", admin=True)
    pg.sql(f"CREATE INDEX stock_name_idx ON {t} (name); "
           f"GRANT SELECT ON {t} TO sluice_test_reader; "
           f"COMMENT ON TABLE {t} IS 'kept by truncate'; "
           f"ALTER TABLE {t} ALTER COLUMN qty SET DEFAULT 7")
    oid = pg.sql(f"SELECT '{t}'::regclass::oid")[0][0]

    make_pipeline(tmp_path, items_tasks(
        "SELECT i AS sku, 'new ' || i AS name, (i * 5)::INTEGER AS qty FROM range(4, 9) t(i) "
        "ORDER BY sku", load))
    assert_ok(run(tmp_path, pg, "--force"))
    assert rows_of(pg, t) == [(str(i), f"new {i}", str(i * 5)) for i in range(4, 9)], (
        "truncate replaces the contents")
    assert pg.sql(f"SELECT '{t}'::regclass::oid")[0][0] == oid, "the table was recreated"
    assert pg.sql(f"SELECT indexdef FROM pg_indexes WHERE schemaname = '{schema}' "
                  "AND indexname = 'stock_name_idx'") != [], "the extra index was lost"
    assert pg.sql(f"SELECT has_table_privilege('sluice_test_reader', '{t}', 'SELECT')") == [
        ("t",)], "the grant was lost"
    assert pg.sql(f"SELECT obj_description('{t}'::regclass, 'pg_class')") == [
        ("kept by truncate",)]
    assert pg.sql("SELECT column_default FROM information_schema.columns WHERE "
                  f"table_schema = '{schema}' AND table_name = 'stock' AND column_name = 'qty'"
                  ) == [("7",)]


def test_partitions_all_loads_every_partition_with_ds(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.daily"
    make_pipeline(tmp_path, items_tasks(
        "SELECT i AS n, 'row ' || i || ' {{ ds }}' AS label FROM range(1, 3) t(i) ORDER BY n",
        f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: replace
    partitions: all
"""))
    for d in (DS, DS2, DS3):
        assert_ok(run(tmp_path, pg, date=d))
    assert ("ds", "date", "false") in columns_of(pg, t)
    assert rows_of(pg, t, "ds::text, n::text, label", "1, 2") == [
        (d, str(i), f"row {i} {d}") for d in (DS, DS2, DS3) for i in (1, 2)]
    led = ledger(pg, t)
    assert [(l[1], l[3], l[4]) for l in led][-1] == ("all", "replace", "6")


# ---------------------------------------------------------------------------------------------
# Types, cell by cell


def pg_frac(micros: int) -> str:
    """PostgreSQL's fractional seconds: '.ffffff' with trailing zeros removed, or ''."""
    return ("." + f"{micros:06d}".rstrip("0")) if micros else ""


def pg_timestamp(v: dt.datetime) -> str:
    s = f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    s += pg_frac(v.microsecond)
    if v.tzinfo is not None:
        s += "+00"
    return s


def pg_time(v: dt.time) -> str:
    return f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}" + pg_frac(v.microsecond)


def pg_interval(months: int, days: int, micros: int) -> str:
    """IntervalStyle postgres, for non-negative parts."""
    parts = []
    y, m = divmod(months, 12)
    for n, unit in ((y, "year"), (m, "mon"), (days, "day")):
        if n:
            parts.append(f"{n} {unit}{'' if n == 1 else 's'}")
    if micros or not parts:
        secs, us = divmod(micros, 1_000_000)
        h, rem = divmod(secs, 3600)
        mi, s = divmod(rem, 60)
        parts.append(f"{h:02d}:{mi:02d}:{s:02d}" + pg_frac(us))
    return " ".join(parts)


def pg_numeric(v: Decimal, scale: int) -> str:
    with decimal.localcontext() as ctx:
        ctx.prec = 100
        return format(v.quantize(Decimal(1).scaleb(-scale)), "f")


def pg_double(v: float) -> str:
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    r = repr(v)
    return r[:-2] if r.endswith(".0") else r


def jsonb_text(doc: str) -> str:
    """How jsonb prints a document: object keys by length, then bytes (last duplicate wins),
    ', ' and ': ' separators, strings UTF-8 with JSON escapes, numbers as written."""
    def render(v):
        if isinstance(v, dict):
            keys = sorted(v, key=lambda k: (len(k.encode()), k.encode()))
            return "{" + ", ".join(f"{render(k)}: {render(v[k])}" for k in keys) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(render(x) for x in v) + "]"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if v is None:
            return "null"
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        return str(v)
    return render(json.loads(doc, parse_float=Decimal, object_pairs_hook=dict))


def sq(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


LONG_TEXT = ("Größe ☃ 😀 " * 9000)[:70000]
TZ2 = dt.timezone(dt.timedelta(hours=2))
TZM5 = dt.timezone(dt.timedelta(hours=-5, minutes=-30))
UTC = dt.timezone.utc

# (column, DuckDB type, PostgreSQL type, values, DuckDB literal of a value, expected text).
# Row i (1-based) of the dataset holds values[i-1]; shorter lists are padded with NULL, and the
# last row is NULL in every column.
TYPE_CASES = [
    ("c_boolean", "BOOLEAN", "boolean", [True, False],
     lambda v: "true" if v else "false", lambda v: "t" if v else "f"),
    ("c_tinyint", "TINYINT", "smallint", [-128, 127, 0], str, str),
    ("c_smallint", "SMALLINT", "smallint", [-32768, 32767, 0], str, str),
    ("c_integer", "INTEGER", "integer", [-2147483648, 2147483647, 0], str, str),
    ("c_bigint", "BIGINT", "bigint", [-9223372036854775808, 9223372036854775807, 0, -1], str, str),
    ("c_utinyint", "UTINYINT", "smallint", [0, 255], str, str),
    ("c_usmallint", "USMALLINT", "integer", [0, 65535], str, str),
    ("c_uinteger", "UINTEGER", "bigint", [0, 4294967295], str, str),
    ("c_ubigint", "UBIGINT", "numeric(20,0)", [0, 18446744073709551615, 9223372036854775808],
     lambda v: sq(str(v)), str),
    # The lake stores HUGEINT as DECIMAL(38,0) (Parquet has no 128-bit integer): every value
    # of up to 38 digits round-trips; a longer one fails the write (test below).
    ("c_hugeint", "HUGEINT", "numeric(38,0)",
     [-99999999999999999999999999999999999999, 99999999999999999999999999999999999999,
      12345678901234567890123456789, 0], lambda v: sq(str(v)), str),
    ("c_decimal_4_1", "DECIMAL(4,1)", "numeric(4,1)",
     [Decimal("999.9"), Decimal("-999.9"), Decimal("0"), Decimal("0.1")],
     lambda v: sq(str(v)), lambda v: pg_numeric(v, 1)),
    ("c_decimal_9_3", "DECIMAL(9,3)", "numeric(9,3)",
     [Decimal("999999.999"), Decimal("-0.001"), Decimal("0"), Decimal("12.5")],
     lambda v: sq(str(v)), lambda v: pg_numeric(v, 3)),
    ("c_decimal_18_6", "DECIMAL(18,6)", "numeric(18,6)",
     [Decimal("999999999999.999999"), Decimal("-999999999999.999999"), Decimal("0.000001"),
      Decimal("0")], lambda v: sq(str(v)), lambda v: pg_numeric(v, 6)),
    ("c_decimal_38_10", "DECIMAL(38,10)", "numeric(38,10)",
     [Decimal("9999999999999999999999999999.9999999999"),
      Decimal("-9999999999999999999999999999.9999999999"), Decimal("0.0000000001"),
      Decimal("-0.0000000001"), Decimal("0"), Decimal("-12345.6789")],
     lambda v: sq(format(v, "f")), lambda v: pg_numeric(v, 10)),
    # scale >= 20: 10^scale does not fit 64 bits even when the value does (a past bug).
    ("c_decimal_38_20", "DECIMAL(38,20)", "numeric(38,20)",
     [Decimal("0.1"), Decimal("-0.00000000000000000001"), Decimal("123456789012345678.5"),
      Decimal("0")], lambda v: sq(format(v, "f")), lambda v: pg_numeric(v, 20)),
    ("c_decimal_38_0", "DECIMAL(38,0)", "numeric(38,0)",
     [Decimal("99999999999999999999999999999999999999"), Decimal("-1"), Decimal("10000")],
     lambda v: sq(format(v, "f")), lambda v: pg_numeric(v, 0)),
    ("c_double", "DOUBLE", "double precision",
     [0.1, -1.5e300, 5e-324, float("inf"), float("-inf"), float("nan")],
     lambda v: sq(repr(v)), pg_double),
    ("c_date", "DATE", "date",
     [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1970, 1, 1), dt.date(2000, 2, 29),
      dt.date(1969, 12, 31)],
     lambda v: sq(v.isoformat()), lambda v: v.isoformat()),
    ("c_timestamp", "TIMESTAMP", "timestamp without time zone",
     [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
      dt.datetime(2026, 1, 2, 3, 4, 5, 123456), dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
      dt.datetime(2000, 1, 1, 0, 0, 0, 500000)],
     lambda v: sq(v.isoformat(sep=" ")), pg_timestamp),
    ("c_timestamptz", "TIMESTAMPTZ", "timestamp with time zone",
     [dt.datetime(2026, 1, 2, 3, 4, 5, 123456, TZ2), dt.datetime(1, 1, 1, tzinfo=UTC),
      dt.datetime(9999, 12, 31, 23, 59, 59, 999999, UTC),
      dt.datetime(1999, 12, 31, 22, 0, 0, 1, TZM5), dt.datetime(1970, 1, 1, tzinfo=UTC)],
     lambda v: sq(v.isoformat(sep=" ")), lambda v: pg_timestamp(v.astimezone(UTC))),
    ("c_time", "TIME", "time without time zone",
     [dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 30, 0, 500)],
     lambda v: sq(v.isoformat()), pg_time),
    ("c_interval", "INTERVAL", "interval",
     [(14, 3, 14706789000), (0, 0, 0), (0, 1, 0), (1, 0, 0), (120, 40, 90000000000)],
     lambda v: f"(to_months({v[0]}) + to_days({v[1]}) + to_microseconds({v[2]}))",
     lambda v: pg_interval(*v)),
    ("c_varchar", "VARCHAR", "text",
     ["héllo wörld", "emoji 😀🎉 und 中文 and עברית", "", "quote ' \"dq\", comma, tab\t, "
      "newline\nend, crlf\r\n, backslash \\ and \\x00 as text", LONG_TEXT, " "],
     lambda v: sq(v), lambda v: v),
    ("Mixed Case Col", "VARCHAR", "text", ["upper", ""], lambda v: sq(v), lambda v: v),
    ("c_json", "JSON", "jsonb",
     ['{"b": 1, "aa": [1, 2.5, "x", null, true], "a": "é😀", "q": "say \\"hi\\"\\n"}',
      "[]", "null", '"just a string"', "{}", '[{"k": false}, -7]'],
     lambda v: sq(v), jsonb_text),
    ("c_blob", "BLOB", "bytea",
     [b"\x00", b"\x00\xff\x01abc\x00", b"", bytes(range(256))],
     lambda v: sq("".join(f"\\x{b:02X}" for b in v)), lambda v: "\\x" + v.hex()),
    ("c_uuid", "UUID", "uuid",
     [uuid.UUID(int=0), uuid.UUID(int=1), uuid.UUID("7fffffff-ffff-ffff-ffff-ffffffffffff"),
      uuid.UUID("80000000-0000-0000-0000-000000000000"), uuid.UUID(int=2**128 - 1),
      uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")],
     lambda v: sq(str(v)), str),
]
TYPE_ROWS = max(len(c[3]) for c in TYPE_CASES) + 1  # the last row: NULL everywhere


def qident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def types_model_sql() -> str:
    rows = []
    for i in range(TYPE_ROWS):
        cells = [f"{i + 1}::INTEGER"]
        for name, duck, _, values, lit, _ in TYPE_CASES:
            v = values[i] if i < len(values) else None
            cells.append(f"CAST(NULL AS {duck})" if v is None else f"CAST({lit(v)} AS {duck})")
        rows.append("(" + ", ".join(cells) + ")")
    names = ", ".join(["id"] + [qident(c[0]) for c in TYPE_CASES])
    return ("-- every type sluice maps to PostgreSQL, with extremes and NULLs\n"
            "SELECT * FROM (VALUES\n  " + ",\n  ".join(rows) + f"\n) v({names})\nORDER BY id\n")


@pytest.fixture(scope="module")
def loaded_types(postgres_server, tmp_path_factory):
    """Builds the types dataset with a sql task and loads it (replace, key id) once."""
    pg = postgres_server
    folder = tmp_path_factory.mktemp("types")
    (folder / "models").mkdir()
    (folder / "models" / "types.sql").write_text(types_model_sql())
    pg.sql("DROP SCHEMA IF EXISTS t_types CASCADE")
    make_pipeline(folder, """\
  - id: build
    kind: sql
    into: staging.types
    sql: models/types.sql
  - id: load
    kind: db_load
    connection: dwh
    datasets: {staging.types: t_types.all_types}
    mode: replace
    key: id
""")
    r = run(folder, pg)
    return {"run": r, "folder": folder, "table": "t_types.all_types"}


def test_types_load_succeeds(loaded_types, postgres_server):
    r = loaded_types["run"]
    assert_ok(r)
    assert rows_of(postgres_server, loaded_types["table"], "count(*)") == [(str(TYPE_ROWS),)]


@pytest.mark.parametrize("case", TYPE_CASES, ids=[c[0] for c in TYPE_CASES])
def test_type_round_trip(case, loaded_types, postgres_server):
    """One column: its PostgreSQL type, and every cell as PostgreSQL prints it."""
    name, duck, pg_type, values, _, expect = case
    pg = postgres_server
    assert_ok(loaded_types["run"])
    t = loaded_types["table"]
    cols = {c[0]: c[1] for c in columns_of(pg, t)}
    assert cols.get(name) == pg_type, f"{duck} column {name!r} became {cols.get(name)!r}"
    got = rows_of(pg, t, f"id::text, {qident(name)}", "id::integer")
    want = [(str(i + 1), None if i >= len(values) or values[i] is None else expect(values[i]))
            for i in range(TYPE_ROWS)]
    bad = [(w[0], w[1] if w[1] is None or len(w[1]) < 200 else w[1][:80] + "...",
            g[1] if g[1] is None or len(g[1]) < 200 else g[1][:80] + "...")
           for w, g in zip(want, got) if w != g]
    assert len(got) == len(want) and not bad, (
        f"{duck} -> {pg_type} {name!r}: cells differ (row id, expected, got): {bad}")


# ---------------------------------------------------------------------------------------------
# Schema: created table, new columns


@pytest.mark.parametrize("select, column, words", [
    ("SELECT 99999999999999999999999999999999999999::HUGEINT + 1 AS big", "big",
     ["Could not cast", "DECIMAL(38,0)", "big"]),
    ("SELECT INTERVAL 3 SECOND + to_microseconds(1) AS iv", "iv",
     ["column iv", "sub-millisecond", "round it to milliseconds"]),
])
def test_values_the_lake_cannot_store_fail_the_write_loudly(select, column, words, postgres_server,
                                                            schema, tmp_path):
    """HUGEINT beyond 38 digits and sub-millisecond INTERVALs have no exact Parquet form: the
    model fails naming the column, instead of writing a rounded value."""
    tasks = f"""\
  - id: build
    kind: sql
    into: staging.odd
    sql: "{select}"
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.odd: {schema}.odd}}
"""
    make_pipeline(tmp_path, tasks)
    r = run(tmp_path, postgres_server, expect=1)
    for w in words:
        assert w in r.output, f"{w!r} not in the error:\n{r.output}"
    assert not (tmp_path / "lake" / "staging" / "odd").exists() or not any(
        (tmp_path / "lake" / "staging" / "odd").rglob("_SUCCESS")), "nothing may be published"
    assert not table_exists(postgres_server, f"{schema}.odd")


def test_created_table_has_primary_key_and_mapped_columns(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.keyed"
    make_pipeline(tmp_path, items_tasks(
        "SELECT i AS order_id, (i % 3)::INTEGER AS line_no, 'x' AS note FROM range(1, 10) t(i)",
        f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: append
    key: [order_id, line_no]
"""))
    assert_ok(run(tmp_path, pg))
    assert primary_key(pg, t) == "PRIMARY KEY (order_id, line_no)"
    assert columns_of(pg, t) == [("order_id", "bigint", "true"), ("line_no", "integer", "true"),
                                 ("note", "text", "false")]


NEW_COL_V1 = "SELECT i AS id, 'v1-' || i AS name FROM range(1, 4) t(i) ORDER BY id"
NEW_COL_V2 = ("SELECT i AS id, 'v2-' || i AS name, (i * 1.25)::DECIMAL(10,2) AS score "
              "FROM range(4, 6) t(i) ORDER BY id")


def new_columns_setup(pg, folder: Path, t: str, policy: str):
    load = f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: append
    new_columns: {policy}
"""
    make_pipeline(folder, items_tasks(NEW_COL_V1, load))
    assert_ok(run(folder, pg, date=DS))
    assert columns_of(pg, t) == [("id", "bigint", "false"), ("name", "text", "false")]
    make_pipeline(folder, items_tasks(NEW_COL_V2, load))


def test_new_columns_add(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.grow"
    new_columns_setup(pg, tmp_path, t, "add")
    assert_ok(run(tmp_path, pg, date=DS2))
    assert columns_of(pg, t) == [("id", "bigint", "false"), ("name", "text", "false"),
                                 ("score", "numeric(10,2)", "false")]
    assert rows_of(pg, t) == [("1", "v1-1", None), ("2", "v1-2", None), ("3", "v1-3", None),
                              ("4", "v2-4", "5.00"), ("5", "v2-5", "6.25")]


def test_new_columns_fail(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.strict"
    new_columns_setup(pg, tmp_path, t, "fail")
    before, led = dump(pg, t), ledger(pg, t)
    r = run(tmp_path, pg, date=DS2)
    assert_failed(r)
    assert "staging.items has column 'score'" in r.output and "new_columns: fail" in r.output, (
        f"the message names the dataset, the column and the setting\n{r}")
    assert dump(pg, t) == before
    assert ledger(pg, t) == led


def test_new_columns_ignore(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.narrow"
    new_columns_setup(pg, tmp_path, t, "ignore")
    assert_ok(run(tmp_path, pg, date=DS2))
    assert columns_of(pg, t) == [("id", "bigint", "false"), ("name", "text", "false")]
    assert rows_of(pg, t) == [("1", "v1-1"), ("2", "v1-2"), ("3", "v1-3"), ("4", "v2-4"),
                              ("5", "v2-5")]


# ---------------------------------------------------------------------------------------------
# Failures: the target stays exactly as it was


BAD_ROW = 37   # position of the refused row in the dataset (1-based), of 60
ROWS60 = ("SELECT (10000 + i)::BIGINT AS id, CASE WHEN i = " + str(BAD_ROW) +
          " THEN {bad_name} ELSE 'name ' || i END AS name, "
          "CASE WHEN i = " + str(BAD_ROW) + " THEN {bad_qty} ELSE i END::BIGINT AS qty "
          "FROM range(1, 61) t(i) ORDER BY id")

# (id, mode, DDL of the existing target, the refused value (name, qty), server message)
REFUSED = [
    ("append-not-null", "append",
     "CREATE TABLE {t} (id bigint PRIMARY KEY, name text NOT NULL, qty bigint)",
     ("NULL", "1"), "violates not-null constraint"),
    ("append-check-converting-types", "append",
     "CREATE TABLE {t} (id integer PRIMARY KEY, name varchar(40), qty integer "
     "CONSTRAINT qty_positive CHECK (qty > 0))",
     ("'bad'", "-5"), 'violates check constraint "qty_positive"'),
    ("truncate-check", "truncate",
     "CREATE TABLE {t} (id bigint PRIMARY KEY, name text, qty bigint "
     "CONSTRAINT qty_positive CHECK (qty > 0))",
     ("'bad'", "-5"), 'violates check constraint "qty_positive"'),
    ("merge-not-null", "merge",
     "CREATE TABLE {t} (id bigint PRIMARY KEY, name text NOT NULL, qty bigint)",
     ("NULL", "1"), "violates not-null constraint"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_row_fails_naming_row_and_changes_nothing(case, postgres_server, schema,
                                                          tmp_path):
    _, mode, ddl, (bad_name, bad_qty), server_msg = case
    pg = postgres_server
    t = f"{schema}.target"
    pg.sql(f"CREATE SCHEMA {schema}; " + ddl.format(t=t) +
           f"; INSERT INTO {t} (id, name, qty) VALUES (2, 'existing', 5), (1, 'other', 7)")
    before = dump(pg, t)
    make_pipeline(tmp_path, items_tasks(ROWS60.format(bad_name=bad_name, bad_qty=bad_qty), f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: {mode}
    key: id
"""))
    r = run(tmp_path, pg)
    assert_failed(r)
    assert server_msg in r.output, f"the server's message is shown\n{r}"
    assert re.search(rf"\brow {BAD_ROW}\b", r.output), (
        f"the message names the refused row's position in the dataset (row {BAD_ROW})\n{r}")
    assert dump(pg, t) == before, "the target changed although the load failed"
    assert ledger(pg, t) == []


def test_text_with_nul_fails_naming_row_and_column(postgres_server, schema, tmp_path):
    """PostgreSQL text cannot hold NUL: the load fails naming the row and the column."""
    pg = postgres_server
    t = f"{schema}.notes"
    pg.sql(f"CREATE SCHEMA {schema}; CREATE TABLE {t} (id bigint, body text); "
           f"INSERT INTO {t} VALUES (0, 'before')")
    before = dump(pg, t)
    make_pipeline(tmp_path, items_tasks(
        "SELECT i AS id, CASE WHEN i = 5 THEN 'a' || chr(0) || 'b' ELSE 'ok' END AS body "
        "FROM range(1, 9) t(i) ORDER BY id", f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: append
"""))
    r = run(tmp_path, pg)
    assert_failed(r)
    assert re.search(r"\brow 5\b", r.output) and "'body'" in r.output, str(r)
    assert dump(pg, t) == before


def test_merge_into_table_without_key_fails_with_hint(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.nokey"
    pg.sql(f"CREATE SCHEMA {schema}; CREATE TABLE {t} (id bigint, name text); "
           f"INSERT INTO {t} VALUES (1, 'one')")
    before = dump(pg, t)
    make_pipeline(tmp_path, items_tasks("SELECT 1::BIGINT AS id, 'uno' AS name", f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: merge
    key: id
"""))
    r = run(tmp_path, pg)
    assert_failed(r)
    assert "primary key or unique index" in r.output, str(r)
    assert dump(pg, t) == before


def test_failure_in_second_dataset_rolls_back_the_first(postgres_server, schema, tmp_path):
    """One transaction per task: a.ok loads fine, b.bad is refused; a.ok must be unchanged."""
    pg = postgres_server
    ta, tb = f"{schema}.first", f"{schema}.second"
    pg.sql(f"CREATE SCHEMA {schema}; "
           f"CREATE TABLE {ta} (id bigint, name text); INSERT INTO {ta} VALUES (1, 'keep me'); "
           f"CREATE TABLE {tb} (id bigint, name text, qty bigint CHECK (qty > 0)); "
           f"INSERT INTO {tb} VALUES (1, 'keep me too', 1)")
    before = (dump(pg, ta), dump(pg, tb))
    make_pipeline(tmp_path, f"""\
  - id: build_a
    kind: sql
    into: staging.a
    sql: SELECT i AS id, 'a' || i AS name FROM range(100, 200) t(i) ORDER BY id
  - id: build_b
    kind: sql
    into: staging.b
    sql: SELECT i AS id, 'b' || i AS name, CASE WHEN i = 150 THEN -1 ELSE i END AS qty FROM range(100, 200) t(i) ORDER BY id
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.a: {ta}, staging.b: {tb}}}
    mode: truncate
""")
    r = run(tmp_path, pg)
    assert_failed(r)
    assert (dump(pg, ta), dump(pg, tb)) == before
    assert ledger(pg, ta) == [] and ledger(pg, tb) == []


def test_kill_before_commit_changes_nothing(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.target"
    load = f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: replace
"""
    make_pipeline(tmp_path, items_tasks("SELECT 1 AS id, 'old' AS name", load))
    assert_ok(run(tmp_path, pg))
    before, led = dump(pg, t), ledger(pg, t)
    make_pipeline(tmp_path, items_tasks(
        "SELECT i AS id, 'new' AS name, i * 2 AS extra FROM range(5) t(i)", load))
    r = run(tmp_path, pg, "--force", env={"SLUICE_FAULT": "kill:load.before_commit"})
    assert r.returncode == -signal.SIGKILL, f"sluice must die at the fault point\n{r}"
    # The server notices the dead client and rolls its transaction back.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and pg.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sluice'",
            admin=True) != [("0",)]:
        time.sleep(0.1)
    assert dump(pg, t) == before
    assert ledger(pg, t) == led
    # Leftovers of the killed attempt must not get in the way of the next load.
    assert_ok(run(tmp_path, pg, "--force"))
    assert rows_of(pg, t) == [(str(i), "new", str(i * 2)) for i in range(5)]


BIG_ROWS = 3_000_000


def copy_progress(pg):
    """[(state, wait_event, tuples_processed)] of sluice's COPYs running on the server: the
    server's own view (pg_stat_activity, pg_stat_progress_copy)."""
    return pg.sql("SELECT a.state, a.wait_event, p.tuples_processed FROM pg_stat_activity a "
                  "JOIN pg_stat_progress_copy p USING (pid) WHERE a.application_name = 'sluice' "
                  "AND a.query ILIKE 'COPY%'", admin=True)


def freeze_inside_copy(pg, bg):
    """Holds the window of a test that strikes during sluice's COPY open: waits until rows
    are flowing, freezes sluice (SIGSTOP) so that it can neither send the rest nor end the
    COPY, and waits until the server shows that it has read everything sent and is still
    inside the COPY, waiting for the client. Returns that row of copy_progress; the caller
    sends SIGCONT."""
    deadline = time.monotonic() + 90
    flowing = None
    while time.monotonic() < deadline and bg.proc.poll() is None:
        flowing = [r for r in copy_progress(pg) if int(r[2]) > 0]
        if flowing:
            break
        time.sleep(0.05)
    assert flowing, ("no COPY with rows in was seen in pg_stat_progress_copy\n"
                     f"{bg.stdout()[-3000:]}\n{bg.stderr()[-3000:]}")
    os.kill(bg.proc.pid, signal.SIGSTOP)
    inside = wait_for(
        lambda: [r for r in copy_progress(pg) if r[:2] == ("active", "ClientRead")], 30,
        what="the server to wait inside the COPY for the frozen client's rows")
    assert len(inside) == 1 and 0 < int(inside[0][2]) < BIG_ROWS, (
        f"one COPY, some of its {BIG_ROWS:,} rows in: {inside}")
    return inside[0]


def test_server_killed_during_copy(postgres_server, schema, tmp_path, background):
    """The server dies while sluice's COPY is running: the kill lands while the server
    itself shows the COPY still running (freeze_inside_copy holds that window open); then
    sluice is let go and must fail with a connection error, leaving the target as it was."""
    pg = postgres_server
    t = f"{schema}.big"
    # ds 1: 1,000 rows; later dates: 3M rows, so that their COPY is still running when
    # freeze_inside_copy catches it.
    make_pipeline(tmp_path, items_tasks(
        "SELECT i AS id, 'citizen number ' || i AS name, (i * 1.5)::DECIMAL(14,2) AS amount, "
        "TIMESTAMP '2026-01-01' + to_seconds(i) AS seen_at, DATE '{{ ds }}' AS day "
        f"FROM range({BIG_ROWS}) t(i) WHERE DATE '{{{{ ds }}}}' > DATE '{DS}' OR i < 1000",
        f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: append
"""))
    assert_ok(run(tmp_path, pg, date=DS))
    before, led = dump(pg, t), ledger(pg, t)
    assert len(before["rows"]) == 1000

    bg = background("run", tmp_path / "pipeline.yaml", "--date", DS2, cwd=tmp_path,
                    env=pg_env(pg))
    try:
        freeze_inside_copy(pg, bg)
        pg.kill()
        os.kill(bg.proc.pid, signal.SIGCONT)
        code = bg.wait(90)
    finally:
        if bg.proc.poll() is None:
            os.kill(bg.proc.pid, signal.SIGCONT)  # never left frozen
        if not pg.is_running():
            pg.start()
    out = bg.stdout() + bg.stderr()
    assert code == 1, f"the run must fail (exit 1), got {code}\n{out[-4000:]}"
    assert summary_rows(bg.stdout()).get("load", {}).get("status") == "failed", out[-4000:]
    msg = out[out.find("load failed:"):] if "load failed:" in out else out
    # sluice's own account: which connection, that it died in the COPY, and that it was lost
    # (libpq's words in between depend on where the kill caught the socket).
    assert re.search(r"connection 'dwh' \([^)]*\): COPY: .+ \(the connection was lost\)", msg), (
        f"a clear connection error naming the connection and the COPY\n{out[-4000:]}")
    assert dump(pg, t) == before, "the target changed although the COPY was cut off"
    assert ledger(pg, t) == led


def test_ctrl_c_during_copy_changes_nothing(postgres_server, schema, tmp_path, background):
    pg = postgres_server
    t = f"{schema}.big"
    make_pipeline(tmp_path, items_tasks(
        "SELECT i AS id, 'citizen number ' || i AS name, (i * 1.5)::DECIMAL(14,2) AS amount "
        f"FROM range({BIG_ROWS}) t(i) WHERE DATE '{{{{ ds }}}}' > DATE '{DS}' OR i < 10",
        f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: truncate
"""))
    assert_ok(run(tmp_path, pg, date=DS))
    before, led = dump(pg, t), ledger(pg, t)
    bg = background("run", tmp_path / "pipeline.yaml", "--date", DS2, cwd=tmp_path,
                    env=pg_env(pg))
    # The Ctrl-C is sent while sluice is frozen inside the COPY (freeze_inside_copy), so it
    # is handled in the middle of the COPY whatever the timing.
    try:
        freeze_inside_copy(pg, bg)
        bg.proc.send_signal(signal.SIGINT)
    finally:
        if bg.proc.poll() is None:
            os.kill(bg.proc.pid, signal.SIGCONT)
    code = bg.wait(60)
    assert code == 130, f"exit 130 after Ctrl-C, got {code}\n{bg.stdout()[-3000:]}"
    assert summary_rows(bg.stdout()).get("load", {}).get("status") == "cancelled", (
        bg.stdout()[-3000:])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and pg.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sluice'",
            admin=True) != [("0",)]:
        time.sleep(0.1)
    assert dump(pg, t) == before, "the target changed although the load was interrupted"
    assert ledger(pg, t) == led


def test_lost_commit_ack_then_rerun_does_not_double_append(postgres_server, schema, tmp_path):
    pg = postgres_server
    t = f"{schema}.facts"
    make_pipeline(tmp_path, items_tasks(
        "SELECT i AS id, 'fact ' || i AS name FROM range(1, 11) t(i) ORDER BY id", f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {t}}}
    mode: append
"""))
    want = [(str(i), f"fact {i}") for i in range(1, 11)]
    r = run(tmp_path, pg, env={"SLUICE_FAULT": "kill:load.after_commit"})
    assert r.returncode == -signal.SIGKILL, f"sluice must die right after COMMIT\n{r}"
    assert "killed at fault point load.after_commit" in r.stderr, str(r)
    assert rows_of(pg, t) == want, "the COMMIT happened before the kill"
    checksum = read_manifest(tmp_path / "lake", "staging.items", DS)["checksum"]
    recorded = [("staging.items", f"ds={DS}", t, "append", "10",
                 checksum.removeprefix("crc32c:"))]
    assert ledger(pg, t) == recorded, "the ledger row is committed with the rows"

    r = run(tmp_path, pg)  # the same date again, no --force: the load was never recorded done
    assert_ok(r)
    assert summary_rows(r.stdout).get("load", {}).get("status") == "success", (
        f"the load task runs again (it was not recorded as succeeded)\n{r}")
    attempts = state_query(tmp_path, "SELECT count(*) AS n FROM task_attempts "
                                     "WHERE task_id = 'load'")[0]["n"]
    assert attempts >= 2, "the load ran a second time"
    assert rows_of(pg, t) == want, "the retried append doubled the rows"
    assert ledger(pg, t) == recorded, "the skipped append records nothing new"


# ---------------------------------------------------------------------------------------------
# Secrets


def test_wrong_password_names_connection_not_password(postgres_server, schema, tmp_path):
    pg = postgres_server
    secret = "Wr0ng-s3cret-Pa55"
    pw = tmp_path / "dwh.pass"
    pw.write_text(secret + "\n")
    pw.chmod(0o600)
    make_pipeline(tmp_path, items_tasks("SELECT 1 AS id", f"""\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {{staging.items: {schema}.t}}
"""), password_ref="${file:dwh.pass}")
    r = run(tmp_path, pg)
    assert_failed(r)
    assert "connection 'dwh'" in r.output, f"the message names the connection\n{r}"
    assert 'password authentication failed for user "etl"' in r.output, str(r)
    assert secret not in r.output
    for p in tmp_path.rglob("*"):
        if p.is_file() and p != pw:
            assert secret.encode() not in p.read_bytes(), f"the password is written in {p}"
    assert not table_exists(pg, f"{schema}.t")


def test_validate_refuses_clear_text_password(postgres_server, tmp_path):
    secret = "pl4in-text-pw"
    p = write_pipeline(tmp_path, f"""
        pipeline: clear
        lake: ./lake
        connections:
          dwh: {{type: postgres, host: 127.0.0.1, database: sluice_test, user: etl,
                password: {secret}}}
        tasks:
          - id: build
            kind: sql
            into: staging.items
            sql: SELECT 1 AS id
          - id: load
            kind: db_load
            connection: dwh
            datasets: {{staging.items: public.items}}
        """)
    r = run_sluice("validate", p, cwd=tmp_path)
    assert r.returncode == 2, str(r)
    assert re.search(r"pipeline\.yaml:\d+:\d+: connection 'dwh'", r.output), str(r)
    assert "${env:" in r.output and "${file:" in r.output, f"says what to write instead\n{r}"
    assert secret not in r.output, "the clear-text password is echoed"
    r = run_sluice("run", p, "--date", DS, cwd=tmp_path)
    assert r.returncode == 2, f"run refuses the file too\n{r}"


def test_validate_refuses_password_file_readable_by_others(postgres_server, tmp_path):
    pw = tmp_path / "dwh.pass"
    pw.write_text("etl\n")
    pw.chmod(0o644)
    make_pipeline(tmp_path, items_tasks("SELECT 1 AS id", """\
  - id: load
    kind: db_load
    connection: dwh
    datasets: {staging.items: public.items}
"""), password_ref="${file:dwh.pass}")
    r = run_sluice("validate", tmp_path / "pipeline.yaml", cwd=tmp_path,
                   env={"DWH_PORT": "5432"})
    assert r.returncode == 2, str(r)
    assert "0644" in r.output and "chmod 600" in r.output, str(r)


# ---------------------------------------------------------------------------------------------
# examples/citizens-postgres


EXAMPLE = EXAMPLES / "citizens-postgres"
EX_DS = "2025-06-15"
EX_DS2 = "2025-06-16"


def pg_typed(value, pg_type: str):
    """A psql text value as a comparable Python value, by the column's PostgreSQL type."""
    if value is None:
        return None
    if pg_type.startswith("numeric"):
        return Decimal(value)
    if pg_type in ("bigint", "integer", "smallint"):
        return int(value)
    if pg_type in ("double precision", "real"):
        return float(value)
    return value


def lake_typed(value, pg_type: str):
    """A `sluice query --format json` value the same way."""
    if value is None:
        return None
    if pg_type.startswith("numeric"):
        return Decimal(str(value))
    if pg_type in ("bigint", "integer", "smallint"):
        return int(value)
    if pg_type in ("double precision", "real"):
        return float(value)
    if pg_type == "boolean":
        return "t" if value else "f"
    return value


def warehouse_table(pg, table: str, key: str):
    cols = columns_of(pg, table)
    names = [c[0] for c in cols]
    rows = pg.sql(PG_SETTINGS + f"SELECT * FROM {table} ORDER BY {key}")
    return names, [c[1] for c in cols], [
        tuple(pg_typed(v, c[1]) for v, c in zip(r, cols)) for r in rows]


def lake_table(pipeline: Path, sql: str, names, types, env, date=None):
    rows = query_json(pipeline, sql, date=date, cwd=pipeline.parent, env=env)
    assert rows, f"no rows from the lake: {sql}"
    assert list(rows[0].keys()) == names, f"columns differ: lake {list(rows[0])} vs dwh {names}"
    return [tuple(lake_typed(r[n], t) for n, t in zip(names, types)) for r in rows]


def test_example_citizens_postgres(postgres_server, tmp_path):
    pg = postgres_server
    for name in ("pipeline.yaml", "README.md"):
        assert (EXAMPLE / name).exists(), f"examples/citizens-postgres/{name} is missing"
    pg.sql("DROP SCHEMA IF EXISTS marts CASCADE; DROP SCHEMA IF EXISTS dwh CASCADE; "
           "DELETE FROM public._sluice_loads WHERE target LIKE 'marts.%' OR target LIKE 'dwh.%'"
           if table_exists(pg, "public._sluice_loads") else
           "DROP SCHEMA IF EXISTS marts CASCADE; DROP SCHEMA IF EXISTS dwh CASCADE")
    # The example shares the citizens example's models (../citizens/models): same layout here.
    work = tmp_path / "citizens-postgres"
    work.mkdir()
    shutil.copy(EXAMPLE / "pipeline.yaml", work / "pipeline.yaml")
    shutil.copytree(EXAMPLE.parent / "citizens" / "models", tmp_path / "citizens" / "models")
    env = {"DWH_HOST": "127.0.0.1", "DWH_PORT": str(pg.port), "DWH_DATABASE": pg.database,
           "DWH_USER": pg.user, "DWH_PASSWORD": pg.password}
    pipeline = work / "pipeline.yaml"
    assert "${env:DWH_PASSWORD}" in pipeline.read_text()
    run_sluice("validate", pipeline, cwd=work, env=env, expect=0)

    for ds, seed in ((EX_DS, 1), (EX_DS2, 2)):
        csv = work / "incoming" / f"citizens_data_{ds.replace('-', '')}.csv"
        run_gen("citizens", "--rows", 20000, "--out", csv, "--seed", seed,
                "--duplicates", "0.05", "--malformed", "0.002", cwd=work, expect=0)
        r = run_sluice("run", pipeline, "--date", ds, cwd=work, env=env, timeout=180)
        assert_ok(r)
        for task in ("load_warehouse", "load_citizens"):
            assert summary_rows(r.stdout).get(task, {}).get("status") == "success", str(r)

        # marts: replace, so the warehouse holds exactly this date's partition.
        for mart, key in (("marts.citizens_by_region", "region"),
                          ("marts.income_by_city_age_band", "region, city, age_band")):
            names, types, dwh = warehouse_table(pg, mart, key)
            lake = lake_table(pipeline, f"SELECT * FROM {mart} ORDER BY {key}", names, types,
                              env, date=ds)
            assert dwh == lake, f"{mart} in PostgreSQL differs from the lake for {ds}"

    # staging.citizens -> dwh.citizens, merge on citizen_id: both dates, the later one wins.
    t = "dwh.citizens"
    assert primary_key(pg, t) == "PRIMARY KEY (citizen_id)"
    names, types, dwh = warehouse_table(pg, t, "citizen_id")
    merged = {}
    for ds in (EX_DS, EX_DS2):
        for row in lake_table(pipeline, "SELECT * FROM staging.citizens ORDER BY citizen_id",
                              names, types, env, date=ds):
            merged[row[0]] = row
    assert len(dwh) == len(merged), f"{len(dwh)} rows in {t}, {len(merged)} expected"
    assert dwh == [merged[k] for k in sorted(merged)], f"{t} differs from the merged lake"
    assert [l[3] for l in ledger(pg, t)] == ["merge", "merge"]
