"""db_import / sluice import from a real PostgreSQL (tests/servers): import-all-tables of the
generated shop database compared cell by cell with the server (through psycopg2), parallel
reads sharing one exported snapshot, incremental lastmodified imports, and the errors."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (run_gen, REPO, manifest_files, partition_dir, read_manifest, run_sluice,
                      write_pipeline)
from import_compare import compare_pg_table, lake_rows, pg_connect

sys.path.insert(0, str(REPO / "tests" / "servers"))
from conftest_fixtures import postgres_server  # noqa: E402,F401

PASSWORD_ENV = "SLUICE_TEST_IMPORT_PASSWORD"
ENV = {PASSWORD_ENV: "etl"}
DAY1, DAY2, DAY3 = "2026-11-19", "2026-11-20", "2026-11-21"
KEYS = {"regions": ["region_id"], "customers": ["customer_id"], "products": ["product_id"],
        "orders": ["order_id"], "order_items": ["order_id", "line_no"]}


def make_database(server, name: str):
    server.sql(f"DROP DATABASE IF EXISTS {name}", admin=True)
    server.sql(f"CREATE DATABASE {name} OWNER etl", admin=True)


def url(server, database: str) -> str:
    return f"postgresql://etl@127.0.0.1:{server.port}/{database}"


def sluice_import(server, database, lake, *args, date=DAY3, expect=0, cmd="import"):
    return run_sluice(cmd, "--connect", url(server, database), "--password-env", PASSWORD_ENV,
                      "--lake", lake, "--date", date, *args, env=ENV, expect=expect, timeout=300)


def execute(server, database, *statements):
    conn = pg_connect(server, database)
    try:
        with conn.cursor() as c:
            for s in statements:
                c.execute(s)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def shop(postgres_server):
    make_database(postgres_server, "imp_shop")
    run_gen("shop", "--connect", url(postgres_server, "imp_shop"), "--password-env",
            PASSWORD_ENV, "--rows", "3000", env=ENV, expect=0, timeout=300)
    return "imp_shop"


def test_import_all_tables_round_trips_every_value(postgres_server, shop, tmp_path):
    lake = tmp_path / "lake"
    sluice_import(postgres_server, shop, lake, "-m", "3", cmd="import-all-tables")
    counts = {t: compare_pg_table(postgres_server, t, key, manifest_files(lake, f"raw.{t}", DAY3),
                                  database=shop)
              for t, key in KEYS.items()}
    assert counts["orders"] == 3000 and all(counts.values()), counts
    _, types, _ = lake_rows(manifest_files(lake, "raw.products", DAY3), ["product_id"])
    assert types["cost"] == "DECIMAL(38,10)"
    assert types["wide"] == "VARCHAR"  # unconstrained numeric keeps its exact text
    assert types["uid"] == "UUID"
    assert types["seen_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["thumbnail"] == "BLOB"
    assert types["tags"] == "VARCHAR"


def test_parallel_reads_share_one_snapshot(postgres_server, shop, tmp_path):
    lake = tmp_path / "lake"
    r = sluice_import(postgres_server, shop, lake, "--table", "orders", "-m", "4")
    log = "\n".join(p.read_text() for p in (lake / "_import_state" / "logs").rglob("*.log"))
    assert "snapshot on" in log and 'split "order_id"' in log, log
    compare_pg_table(postgres_server, "orders", ["order_id"], manifest_files(lake, "raw.orders", DAY3),
                     database=shop)
    # Four connections read in the one snapshot. How many part files they leave depends on
    # scheduling (a busy machine may let one connection take every range; empty parts are
    # dropped), so the count of files is not the evidence.
    assert "by 4 connection(s)" in log, log


def test_query_with_conditions(postgres_server, shop, tmp_path):
    lake = tmp_path / "lake"
    sluice_import(postgres_server, shop, lake, "--query",
                  "SELECT o.order_id, o.total, c.name FROM orders o JOIN customers c "
                  "USING (customer_id) WHERE o.status = 'paid' AND $CONDITIONS",
                  "--split-by", "o.order_id", "-m", "2", "--target", "raw.paid")
    _, _, rows = lake_rows(manifest_files(lake, "raw.paid", DAY3), ["order_id"])
    conn = pg_connect(postgres_server, shop)
    with conn.cursor() as c:
        c.execute("SELECT o.order_id, o.total, c.name FROM orders o JOIN customers c "
                  "USING (customer_id) WHERE o.status = 'paid' ORDER BY 1")
        expected = c.fetchall()
    conn.close()
    assert rows == expected and rows


def test_lastmodified_merges_changes_by_key(postgres_server, tmp_path):
    db = "imp_incr"
    make_database(postgres_server, db)
    execute(postgres_server, db,
            "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text, balance numeric(12,2), "
            "updated_at timestamptz NOT NULL)",
            "INSERT INTO accounts VALUES (1, 'Ann', 10, '2026-11-18 10:00+00'), "
            "(2, 'Bo', 20, '2026-11-18 11:00+00')")
    lake = tmp_path / "lake"
    args = ["--table", "accounts", "--incremental", "lastmodified", "--check-column",
            "updated_at", "--lookback", "1h"]
    sluice_import(postgres_server, db, lake, *args, date=DAY1)
    execute(postgres_server, db,
            "UPDATE accounts SET balance = 25, updated_at = '2026-11-19 09:00+00' WHERE id = 2",
            "INSERT INTO accounts VALUES (3, 'Cy', 30, '2026-11-19 09:30+00')")
    sluice_import(postgres_server, db, lake, *args, date=DAY2)
    _, _, rows = lake_rows(manifest_files(lake, "raw.accounts", DAY2), ["id"])
    assert [(r[0], r[1], str(r[2])) for r in rows] == [(1, "Ann", "10.00"), (2, "Bo", "25.00"),
                                                      (3, "Cy", "30.00")]
    # A change committed late with a timestamp inside the lookback hour is still found.
    execute(postgres_server, db,
            "UPDATE accounts SET balance = 11, updated_at = '2026-11-19 09:10+00' WHERE id = 1")
    sluice_import(postgres_server, db, lake, *args, date=DAY3)
    _, _, rows = lake_rows(manifest_files(lake, "raw.accounts", DAY3), ["id"])
    assert [(r[0], str(r[2])) for r in rows] == [(1, "11.00"), (2, "25.00"), (3, "30.00")]
    wm = read_manifest(lake, "raw.accounts", DAY3)["watermark"]
    assert wm["column"] == "updated_at" and wm["high"].startswith("2026-11-19 09:30:00"), wm


def test_extension_type_fails_naming_table_and_column(postgres_server, tmp_path):
    db = "imp_ext"
    make_database(postgres_server, db)
    execute(postgres_server, db, "CREATE EXTENSION IF NOT EXISTS citext",
            "CREATE TABLE people (id int PRIMARY KEY, nick citext)",
            "INSERT INTO people VALUES (1, 'Zoë')")
    lake = tmp_path / "lake"
    r = sluice_import(postgres_server, db, lake, "--table", "people", expect=1)
    assert 'table people column "nick"' in r.output and "::text" in r.output, r
    sluice_import(postgres_server, db, lake, "--query", "SELECT id, nick::text AS nick FROM people",
                  "--target", "raw.people")
    assert lake_rows(manifest_files(lake, "raw.people", DAY3), ["id"])[2] == [(1, "Zoë")]


def test_pipeline_imports_a_schema_qualified_table(postgres_server, shop, tmp_path):
    pipeline = write_pipeline(tmp_path, f"""
        pipeline: pg_shop
        connections:
          shop: {{type: postgres, host: 127.0.0.1, port: {postgres_server.port},
                 database: {shop}, user: etl, password: "${{env:{PASSWORD_ENV}}}"}}
        tasks:
          - id: import_some
            kind: db_import
            connection: shop
            tables: [public.regions, {{name: customers, columns: [customer_id, email]}}]
        """)
    run_sluice("run", pipeline, "--date", DAY3, env=ENV, expect=0, timeout=300)
    cols, _, rows = lake_rows(manifest_files(tmp_path / "lake", "raw.customers", DAY3), ["customer_id"])
    assert cols == ["customer_id", "email"] and len(rows) == 300
    assert len(lake_rows(manifest_files(tmp_path / "lake", "raw.regions", DAY3), ["region_id"])[2]) == 20


def test_a_kill_mid_read_leaves_the_lake_and_the_rerun_imports_once(postgres_server, shop,
                                                                      tmp_path):
    lake = tmp_path / "lake"
    args = ["--table", "orders", "--incremental", "append", "--check-column", "order_id",
            "-m", "2"]
    sluice_import(postgres_server, shop, lake, *args, "--where", "order_id <= 1000", date=DAY1)
    before = read_manifest(lake, "raw.orders", DAY1)
    r = run_sluice("import", "--connect", url(postgres_server, shop), "--password-env",
                   PASSWORD_ENV, "--lake", lake, "--date", DAY2, *args,
                   env={**ENV, "SLUICE_FAULT": "kill:import.reading"}, timeout=300)
    assert r.returncode == -9, r  # killed while the connections were streaming rows
    assert not partition_dir(lake, "raw.orders", DAY2).exists()
    assert read_manifest(lake, "raw.orders", DAY1) == before
    sluice_import(postgres_server, shop, lake, *args, date=DAY2)
    ids = [r[0] for day in (DAY1, DAY2)
           for r in lake_rows(manifest_files(lake, "raw.orders", day), ["order_id"])[2]]
    assert len(ids) == len(set(ids)) == 3000, len(ids)


def test_a_server_outside_utc_loses_no_rows_at_the_watermark(postgres_server, tmp_path):
    db = "imp_tz"
    make_database(postgres_server, db)
    postgres_server.sql(f"ALTER DATABASE {db} SET timezone TO 'America/New_York'", admin=True)
    execute(postgres_server, db,
            "CREATE TABLE events (id int PRIMARY KEY, at timestamptz NOT NULL)",
            "INSERT INTO events VALUES (1, '2026-11-19 10:00+00'), (2, '2026-11-19 23:30+00')")
    lake = tmp_path / "lake"
    args = ["--table", "events", "--incremental", "append", "--check-column", "at", "-m", "2",
            "--split-by", "at"]
    sluice_import(postgres_server, db, lake, *args, date=DAY1)
    assert [r[0] for r in lake_rows(manifest_files(lake, "raw.events", DAY1), ["id"])[2]] == [1, 2]
    wm = read_manifest(lake, "raw.events", DAY1)["watermark"]
    assert wm["high"] == "2026-11-19 23:30:00+00", wm
    execute(postgres_server, db, "INSERT INTO events VALUES (3, '2026-11-20 01:00+00')")
    sluice_import(postgres_server, db, lake, *args, date=DAY2)
    assert [r[0] for r in lake_rows(manifest_files(lake, "raw.events", DAY2), ["id"])[2]] == [3]


def test_a_key_ranges_cannot_cut_is_read_by_one_connection(postgres_server, tmp_path):
    db = "imp_uuid"
    make_database(postgres_server, db)
    execute(postgres_server, db,
            "CREATE TABLE tokens (id uuid PRIMARY KEY, n int)",
            "INSERT INTO tokens SELECT md5(g::text)::uuid, g FROM generate_series(1, 500) g",
            "CREATE TABLE a (id int PRIMARY KEY, price numeric(10,2))",
            "INSERT INTO a VALUES (1, 1.50)",
            "CREATE TABLE b (id bigint PRIMARY KEY, price numeric(10,4))",
            "INSERT INTO b VALUES (5000000000, 1.5000)")
    lake = tmp_path / "lake"
    sluice_import(postgres_server, db, lake, "-m", "4", cmd="import-all-tables")
    assert compare_pg_table(postgres_server, "tokens", ["id"], manifest_files(lake, "raw.tokens", DAY3),
                            database=db) == 500
    # Same column names, other types: each table is decoded with its own types.
    assert lake_rows(manifest_files(lake, "raw.a", DAY3), ["id"])[2][0][1] == pytest.approx(1.5)
    b = lake_rows(manifest_files(lake, "raw.b", DAY3), ["id"])
    assert b[1]["price"] == "DECIMAL(10,4)" and str(b[2][0][1]) == "1.5000", b
    log = "\n".join(p.read_text() for p in (lake / "_import_state" / "logs").rglob("*.log"))
    assert "read by one connection" in log, log


def test_lastmodified_reads_the_whole_table_again_when_its_columns_change(postgres_server,
                                                                         tmp_path):
    db = "imp_schema"
    make_database(postgres_server, db)
    execute(postgres_server, db,
            "CREATE TABLE items (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL)",
            "INSERT INTO items VALUES (1, 'a', '2026-11-18 10:00+00'), "
            "(2, 'b', '2026-11-18 11:00+00')")
    lake = tmp_path / "lake"
    args = ["--table", "items", "--incremental", "lastmodified", "--check-column", "updated_at"]
    sluice_import(postgres_server, db, lake, *args, date=DAY1)
    execute(postgres_server, db, "ALTER TABLE items ADD COLUMN status text DEFAULT 'active'",
            "UPDATE items SET name = 'b2', updated_at = '2026-11-19 10:00+00' WHERE id = 2")
    sluice_import(postgres_server, db, lake, *args, date=DAY2)
    cols, _, rows = lake_rows(manifest_files(lake, "raw.items", DAY2), ["id"])
    assert cols == ["id", "name", "updated_at", "status"]
    assert [(r[0], r[1], r[3]) for r in rows] == [(1, "a", "active"), (2, "b2", "active")]


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def test_tls_verifies_the_server_against_the_given_ca(postgres_server, shop, tmp_path):
    """verify-full with the CA that signed the server's certificate connects; with another CA
    the import fails naming the certificate problem, and nothing is written."""
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca", "other_ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                 "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=sluice test {name}",
                 cwd=certs)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
             "server.csr", "-subj", "/CN=127.0.0.1", cwd=certs)
    (certs / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
             cwd=certs)
    data = Path(postgres_server.dir) / "data"
    owner = os.stat(data)
    for name in ("server.crt", "server.key"):
        shutil.copy(certs / name, data / f"sluice_test_{name}")
        os.chown(data / f"sluice_test_{name}", owner.st_uid, owner.st_gid)
        os.chmod(data / f"sluice_test_{name}", 0o600)
    postgres_server.sql("ALTER SYSTEM SET ssl_cert_file = 'sluice_test_server.crt'; "
                        "ALTER SYSTEM SET ssl_key_file = 'sluice_test_server.key'; "
                        "ALTER SYSTEM SET ssl = on; SELECT pg_reload_conf()", admin=True)
    try:
        lake = tmp_path / "lake"
        base = f"postgresql://etl@127.0.0.1:{postgres_server.port}/{shop}?sslmode=verify-full"
        r = run_sluice("import", "--connect", f"{base}&sslrootcert={certs / 'ca.pem'}",
                       "--password-env", PASSWORD_ENV, "--lake", lake, "--date", DAY3,
                       "--table", "regions", env=ENV, expect=0)
        assert read_manifest(lake, "raw.regions", DAY3)["rows"] == 20, r
        r = run_sluice("import", "--connect", f"{base}&sslrootcert={certs / 'other_ca.pem'}",
                       "--password-env", PASSWORD_ENV, "--lake", tmp_path / "lake2", "--date",
                       DAY3, "--table", "regions", env=ENV, expect=1)
        assert "certificate" in r.output, r
        assert not (tmp_path / "lake2" / "raw").exists()
    finally:
        postgres_server.sql("ALTER SYSTEM RESET ssl; ALTER SYSTEM RESET ssl_cert_file; "
                            "ALTER SYSTEM RESET ssl_key_file; SELECT pg_reload_conf()",
                            admin=True)
