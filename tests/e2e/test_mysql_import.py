"""db_import / sluice import from a real MariaDB (tests/servers): import-all-tables of a
generated shop database compared cell by cell with the server (through PyMySQL, an independent
client), parallel reads of a key with gaps, queries with $CONDITIONS, incremental imports over
three days with a kill in the middle, and the errors a user meets."""

import json
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import (run_gen, REPO, manifest_files, partition_dir, read_manifest, read_rows,
                      run_sluice, state_query, summary_rows, write_pipeline)
from import_compare import compare_mysql_table, lake_rows, mysql_connect

sys.path.insert(0, str(REPO / "tests" / "servers"))
from conftest_fixtures import mariadb_server, start_server  # noqa: E402,F401
from servers import MariaDbServer  # noqa: E402

PASSWORD_ENV = "SLUICE_TEST_IMPORT_PASSWORD"
ENV = {PASSWORD_ENV: "etl"}
DAY1, DAY2, DAY3 = "2026-11-19", "2026-11-20", "2026-11-21"
KEYS = {"regions": ["region_id"], "customers": ["customer_id"], "products": ["product_id"],
        "orders": ["order_id"], "order_items": ["order_id", "line_no"]}


def make_database(server, name: str):
    server.sql(f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4; "
               f"GRANT ALL ON `{name}`.* TO 'etl'@'127.0.0.1'; "
               f"GRANT ALL ON `{name}`.* TO 'etl'@'localhost'", admin=True)


def url(server, database: str) -> str:
    return f"mysql://etl@127.0.0.1:{server.port}/{database}"


@pytest.fixture(scope="module")
def shop(mariadb_server):
    """A generated shop database of 3000 orders."""
    make_database(mariadb_server, "imp_shop")
    run_gen("shop", "--connect", url(mariadb_server, "imp_shop"), "--password-env",
            PASSWORD_ENV, "--rows", "3000", env=ENV, expect=0, timeout=300)
    return "imp_shop"


def sluice_import(server, database, lake, *args, date=DAY3, expect=0, env=None, cmd="import"):
    full_env = dict(ENV)
    full_env.update(env or {})
    return run_sluice(cmd, "--connect", url(server, database), "--password-env", PASSWORD_ENV,
                      "--lake", lake, "--date", date, *args, env=full_env, expect=expect,
                      timeout=300)


def execute(server, database, *statements):
    conn = mysql_connect(server, database)
    try:
        with conn.cursor() as c:
            for s in statements:
                c.execute(s)
        conn.commit()
    finally:
        conn.close()


def test_import_all_tables_round_trips_every_value(mariadb_server, shop, tmp_path):
    lake = tmp_path / "lake"
    sluice_import(mariadb_server, shop, lake, "-m", "2", cmd="import-all-tables")
    compared = {}
    for table, key in KEYS.items():
        compared[table] = compare_mysql_table(mariadb_server, shop, table, key,
                                              manifest_files(lake, f"raw.{table}", DAY3))
    assert compared["orders"] >= 3000 and all(n > 0 for n in compared.values()), compared
    # The type-rich table keeps the server's types, not text.
    _, types, _ = lake_rows(manifest_files(lake, "raw.products", DAY3), ["product_id"])
    assert types["product_id"] == "UINTEGER"
    assert types["stock"] == "UBIGINT"
    assert types["cost"] == "DECIMAL(38,10)"
    assert types["wide"] == "VARCHAR"  # DECIMAL(65,30) is wider than the lake's 38 digits
    assert types["updated_at"] == "TIMESTAMP"
    assert types["seen_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["thumbnail"] == "BLOB"
    assert types["launched"] == "DATE"


def test_parallel_import_splits_a_key_with_gaps_evenly(mariadb_server, shop, tmp_path):
    lake = tmp_path / "lake"
    sluice_import(mariadb_server, shop, lake, "--table", "orders", "--split-by", "order_id",
                  "-m", "4", "--target", "raw.orders")
    compare_mysql_table(mariadb_server, shop, "orders", ["order_id"],
                        manifest_files(lake, "raw.orders", DAY3))
    log = "\n".join(p.read_text() for p in (lake / "_import_state" / "logs").rglob("*.log"))
    assert "split `order_id`" in log, log
    # The far-off largest id would put every row in the first of 16 even ranges; the estimates
    # cut that range again, so more ranges than the first even cut are read.
    ranges = int(log.split(" ranges (")[0].rsplit(" ", 1)[1])
    assert ranges > 16, log
    parts = read_manifest(lake, "raw.orders", DAY3)["files"]
    assert len(parts) >= 2, parts  # more than one connection wrote rows


def test_query_with_conditions_columns_and_where(mariadb_server, shop, tmp_path):
    lake = tmp_path / "lake"
    sluice_import(mariadb_server, shop, lake, "--query",
                  "SELECT o.order_id, o.total, c.name FROM orders o JOIN customers c "
                  "ON c.customer_id = o.customer_id WHERE o.status = 'paid' AND $CONDITIONS",
                  "--split-by", "o.order_id", "-m", "3", "--target", "raw.paid_orders")
    _, types, rows = lake_rows(manifest_files(lake, "raw.paid_orders", DAY3), ["order_id"])
    conn = mysql_connect(mariadb_server, shop)
    with conn.cursor() as c:
        c.execute("SELECT o.order_id, o.total, c.name FROM orders o JOIN customers c ON "
                  "c.customer_id = o.customer_id WHERE o.status = 'paid' ORDER BY o.order_id")
        expected = [tuple(r) for r in c.fetchall()]
    conn.close()
    assert rows == expected and len(rows) > 0
    sluice_import(mariadb_server, shop, lake, "--table", "customers", "--columns",
                  "email,customer_id", "--where", "customer_id <= 10")
    cols, _, rows = lake_rows(manifest_files(lake, "raw.customers", DAY3), ["customer_id"])
    assert cols == ["email", "customer_id"] and [r[1] for r in rows] == list(range(1, 11))


def test_incremental_over_three_days_with_a_kill(mariadb_server, tmp_path):
    db = "imp_incr"
    make_database(mariadb_server, db)
    execute(mariadb_server, db,
            "CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20), "
            "updated_at DATETIME(6) NOT NULL)",
            "INSERT INTO events (v, updated_at) VALUES ('a', '2026-11-18 10:00:00'), "
            "('b', '2026-11-18 11:00:00'), ('c', '2026-11-18 12:00:00')")
    lake = tmp_path / "lake"
    append = ["--table", "events", "--target", "raw.events", "--incremental", "append",
              "--check-column", "id"]
    changed = ["--table", "events", "--target", "raw.events_state", "--incremental",
               "lastmodified", "--check-column", "updated_at"]
    # Day 1: everything.
    r = sluice_import(mariadb_server, db, lake, *append, date=DAY1)
    assert "next run: --last-value 3" in r.stdout, r
    sluice_import(mariadb_server, db, lake, *changed, date=DAY1)
    # Day 2: two new rows and one changed row.
    execute(mariadb_server, db,
            "INSERT INTO events (v, updated_at) VALUES ('d', '2026-11-19 09:00:00'), "
            "('e', '2026-11-19 09:30:00')",
            "UPDATE events SET v = 'b2', updated_at = '2026-11-19 10:00:00' WHERE id = 2")
    # A run killed after reading, before publishing, leaves the lake and the watermark alone.
    r = sluice_import(mariadb_server, db, lake, *append, date=DAY2, expect=None,
                      env={"SLUICE_FAULT": "kill:import.after_read"})
    # Killed by the fault point's SIGKILL, not failed some other way before reaching it.
    assert r.returncode == -signal.SIGKILL, r
    assert "killed at fault point import.after_read" in r.stderr, r
    assert not partition_dir(lake, "raw.events", DAY2).exists()
    wm = state_query(lake, "SELECT value FROM watermarks WHERE key = 'raw.events'",
                     state_dir="_import_state")
    assert json.loads(wm[0]["value"])["watermark"]["high"] == "3"
    # The re-run imports the two new rows exactly once.
    sluice_import(mariadb_server, db, lake, *append, date=DAY2)
    _, _, rows = lake_rows(manifest_files(lake, "raw.events", DAY2), ["id"])
    assert [(r[0], r[1]) for r in rows] == [(4, "d"), (5, "e")]
    sluice_import(mariadb_server, db, lake, *changed, date=DAY2)
    _, _, rows = lake_rows(manifest_files(lake, "raw.events_state", DAY2), ["id"])
    assert [(r[0], r[1]) for r in rows] == [(1, "a"), (2, "b2"), (3, "c"), (4, "d"), (5, "e")]
    # Day 3: a row committed late with a smaller id than the watermark (id 6 reserved by a
    # transaction that commits after id 7's) is found by the lookback and not duplicated.
    execute(mariadb_server, db,
            "INSERT INTO events (id, v, updated_at) VALUES (7, 'g', '2026-11-20 08:00:00')")
    sluice_import(mariadb_server, db, lake, *append, date=DAY3)
    execute(mariadb_server, db,
            "INSERT INTO events (id, v, updated_at) VALUES (6, 'f', '2026-11-20 07:00:00')",
            "UPDATE events SET v = 'a2', updated_at = '2026-11-20 09:00:00' WHERE id = 1")
    r = sluice_import(mariadb_server, db, lake, *append, "--lookback", "5", date=DAY3)
    _, _, rows = lake_rows(manifest_files(lake, "raw.events", DAY3), ["id"])
    assert [(r[0], r[1]) for r in rows] == [(6, "f"), (7, "g")], rows
    sluice_import(mariadb_server, db, lake, *changed, date=DAY3)
    _, _, rows = lake_rows(manifest_files(lake, "raw.events_state", DAY3), ["id"])
    assert [(r[0], r[1]) for r in rows] == [(1, "a2"), (2, "b2"), (3, "c"), (4, "d"), (5, "e"),
                                           (6, "f"), (7, "g")]
    # Across the three append partitions every row is there exactly once.
    all_ids = []
    for day in (DAY1, DAY2, DAY3):
        all_ids += [r[0] for r in lake_rows(manifest_files(lake, "raw.events", day), ["id"])[2]]
    assert sorted(all_ids) == [1, 2, 3, 4, 5, 6, 7]
    # An older day cannot be re-imported incrementally once a later one exists.
    r = sluice_import(mariadb_server, db, lake, *append, date=DAY1, expect=1)
    assert "already has the incremental partition ds=" + DAY2 in r.output, r


def test_zero_dates_fail_by_default_and_become_null_on_request(mariadb_server, tmp_path):
    db = "imp_zero"
    make_database(mariadb_server, db)
    execute(mariadb_server, db, "SET SESSION sql_mode = ''",
            "CREATE TABLE legacy (id INT PRIMARY KEY, born DATE, seen DATETIME)",
            "INSERT INTO legacy VALUES (1, '2020-01-02', '2020-01-02 03:04:05'), "
            "(2, '0000-00-00', '0000-00-00 00:00:00')")
    lake = tmp_path / "lake"
    r = sluice_import(mariadb_server, db, lake, "--table", "legacy", expect=1)
    assert "born" in r.output and "0000-00-00" in r.output and "zero" in r.output, r
    assert not partition_dir(lake, "raw.legacy", DAY3).exists()
    sluice_import(mariadb_server, db, lake, "--table", "legacy", "--zero-dates", "null")
    _, _, rows = lake_rows(manifest_files(lake, "raw.legacy", DAY3), ["id"])
    assert rows[1][1:] == (None, None) and str(rows[0][1]) == "2020-01-02"


def test_names_that_do_not_exist_list_the_ones_that_do(mariadb_server, shop, tmp_path):
    lake = tmp_path / "lake"
    r = sluice_import(mariadb_server, shop, lake, "--table", "order", expect=1)
    assert "table 'order' does not exist" in r.output and "orders" in r.output, r
    r = sluice_import(mariadb_server, shop, lake, "--table", "orders", "--columns",
                      "order_id,totl", expect=1)
    assert "totl" in r.output and "total" in r.output, r


def test_a_type_without_a_lake_type_names_table_and_column(mariadb_server, tmp_path):
    db = "imp_geo"
    make_database(mariadb_server, db)
    execute(mariadb_server, db, "CREATE TABLE places (id INT PRIMARY KEY, loc POINT)",
            "INSERT INTO places VALUES (1, POINT(1, 2))")
    lake = tmp_path / "lake"
    r = sluice_import(mariadb_server, db, lake, "--table", "places", expect=1)
    assert "places" in r.output and "loc" in r.output and "query" in r.output, r


def test_pipeline_db_import_feeds_a_model(mariadb_server, shop, tmp_path):
    pipeline = write_pipeline(tmp_path, f"""
        pipeline: shop_daily
        connections:
          shop: {{type: mysql, host: 127.0.0.1, port: {mariadb_server.port}, database: {shop},
                 user: etl, password: "${{env:{PASSWORD_ENV}}}"}}
        tasks:
          - id: import_shop
            kind: db_import
            connection: shop
            tables: all
            exclude: [order_items]
            parallel: 2
          - id: revenue
            kind: sql
            into: marts.revenue
            sql: SELECT status, sum(total) AS total FROM {{{{ ref('raw.orders') }}}} GROUP BY ALL
        """)
    r = run_sluice("run", pipeline, "--date", DAY3, env=ENV, expect=0, timeout=300)
    s = summary_rows(r.stdout)
    assert (s["import_shop"]["status"], s["revenue"]["status"]) == ("success", "success"), r
    # The model read the imported orders: its rows are the server's revenue per status,
    # asked of the server through PyMySQL.
    conn = mysql_connect(mariadb_server, shop)
    try:
        with conn.cursor() as c:
            c.execute("SELECT status, sum(total) FROM orders GROUP BY status")
            want = sorted(tuple(row) for row in c.fetchall())
    finally:
        conn.close()
    assert len(want) > 1, want
    assert sorted(read_rows(tmp_path / "lake", "marts.revenue", DAY3)) == want, r
    # exclude: took order_items out of tables: all.
    assert sorted(p.name for p in (tmp_path / "lake" / "raw").iterdir()) == [
        t for t in sorted(KEYS) if t != "order_items"]


def test_passwords_stay_out_of_argv_and_output(mariadb_server, shop, tmp_path):
    r = run_sluice("import", "--connect", f"mysql://etl:etl@127.0.0.1:{mariadb_server.port}/{shop}",
                   "--table", "orders", "--lake", tmp_path / "lake", expect=2)
    assert "password" in r.output and ":etl@" not in r.output, r
    r = run_sluice("import", "--connect", url(mariadb_server, shop), "--password", "etl",
                   "--table", "orders", "--lake", tmp_path / "lake", expect=2)
    assert "--password-file" in r.output, r
    r = sluice_import(mariadb_server, shop, tmp_path / "lake", "--table", "regions",
                      env={PASSWORD_ENV: "wrong-secret-42"}, expect=1)
    assert "wrong-secret-42" not in r.output, r


def test_options_file_and_short_options(mariadb_server, shop, tmp_path):
    opts = tmp_path / "shop.opts"
    opts.write_text(f"# Sqoop-style options file\nimport\n--connect\n{url(mariadb_server, shop)}\n"
                    f"--password-env\n{PASSWORD_ENV}\n--lake\n{tmp_path / 'lake'}\n")
    run_sluice("import", "--options-file", opts, "--table", "regions", "-m", "2", "--date",
               DAY3, env=ENV, expect=0)
    compare_mysql_table(mariadb_server, shop, "regions", ["region_id"],
                        manifest_files(tmp_path / "lake", "raw.regions", DAY3))


def test_parallel_snapshot_needs_reload_and_then_reads_one_snapshot(mariadb_server, shop,
                                                                    tmp_path):
    lake = tmp_path / "lake"
    args = ["--table", "orders", "-m", "3", "--snapshot", "true"]
    r = sluice_import(mariadb_server, shop, lake, *args, expect=1)
    assert "RELOAD" in r.output and "snapshot: false" in r.output, r
    assert not partition_dir(lake, "raw.orders", DAY3).exists()
    mariadb_server.sql("GRANT RELOAD ON *.* TO 'etl'@'127.0.0.1'", admin=True)
    try:
        sluice_import(mariadb_server, shop, lake, *args)
    finally:
        mariadb_server.sql("REVOKE RELOAD ON *.* FROM 'etl'@'127.0.0.1'", admin=True)
    log = "\n".join(p.read_text() for p in (lake / "_import_state" / "logs").rglob("*.log"))
    assert "with 3 connection(s), snapshot on" in log, log
    compare_mysql_table(mariadb_server, shop, "orders", ["order_id"],
                        manifest_files(lake, "raw.orders", DAY3))


def test_date_and_datetime_split_keys_keep_their_largest_values(mariadb_server, tmp_path):
    db = "imp_dates"
    make_database(mariadb_server, db)
    execute(mariadb_server, db,
            "CREATE TABLE valid_until (d DATE PRIMARY KEY, v INT)",
            "INSERT INTO valid_until VALUES ('1000-01-01', 1), ('2020-02-29', 2), "
            "('9999-12-31', 3)",
            "CREATE TABLE seen (t DATETIME(6) PRIMARY KEY, v INT)",
            "INSERT INTO seen VALUES ('1000-01-01 00:00:00', 1), ('2026-11-21 10:00:00.5', 2), "
            "('9999-12-31 23:59:59.999999', 3)")
    lake = tmp_path / "lake"
    for table, key in (("valid_until", "d"), ("seen", "t")):
        sluice_import(mariadb_server, db, lake, "--table", table, "-m", "3")
        n = compare_mysql_table(mariadb_server, db, table, [key],
                                manifest_files(lake, f"raw.{table}", DAY3))
        assert n == 3, table


def test_tables_with_the_same_columns_but_other_types_each_keep_their_own(mariadb_server,
                                                                           tmp_path):
    """Each table gets its own reader: a reader built for one table's types must never decode
    the next table's rows."""
    db = "imp_same_names"
    make_database(mariadb_server, db)
    execute(mariadb_server, db,
            "CREATE TABLE a_small (id INT PRIMARY KEY, price DECIMAL(10,2))",
            "INSERT INTO a_small VALUES (1, 1.50), (2, 2.25)",
            "CREATE TABLE b_big (id BIGINT PRIMARY KEY, price DECIMAL(10,4))",
            "INSERT INTO b_big VALUES (5000000000, 1.5000), (6000000000, 0.0001)")
    lake = tmp_path / "lake"
    sluice_import(mariadb_server, db, lake, "-m", "2", cmd="import-all-tables")
    for table in ("a_small", "b_big"):
        assert compare_mysql_table(mariadb_server, db, table, ["id"],
                                   manifest_files(lake, f"raw.{table}", DAY3)) == 2


def test_a_narrow_boundary_query_still_reads_every_row(mariadb_server, shop, tmp_path):
    lake = tmp_path / "lake"
    sluice_import(mariadb_server, shop, lake, "--table", "orders", "-m", "3", "--split-by",
                  "order_id", "--boundary-query", "SELECT 100, 200")
    compare_mysql_table(mariadb_server, shop, "orders", ["order_id"],
                        manifest_files(lake, "raw.orders", DAY3))
    r = sluice_import(mariadb_server, shop, lake, "--table", "orders", "-m", "3", "--split-by",
                      "order_id", "--boundary-query", "SELECT 200, 100", expect=1)
    assert "reversed" in r.output, r


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def test_tls_verifies_the_server_against_the_given_ca(tmp_path):
    """A MariaDB with a certificate for 127.0.0.1: VERIFY_IDENTITY with the CA that signed it
    imports; with another CA the import fails on the certificate and writes nothing."""
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca", "other_ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                 "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=sluice test {name}",
                 cwd=certs)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server-key.pem", "-out",
             "server.csr", "-subj", "/CN=127.0.0.1", cwd=certs)
    (certs / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server-cert.pem", "-days", "2", "-extfile", "san.ext",
             cwd=certs)
    server_dir = Path(tempfile.mkdtemp(prefix="sluice-mariadb-tls-"))
    # The first start makes the folder the server's; the restart picks up DIR/tls.
    server = start_server(MariaDbServer, "MariaDB with TLS", server_dir)
    try:
        server.stop()
        (server_dir / "tls").mkdir()
        for name in ("server-cert.pem", "server-key.pem", "ca.pem"):
            shutil.copy(certs / name, server_dir / "tls" / name)
        server.start()
        assert server.sql("SELECT @@have_ssl")[0][0] == "YES", server.log_tail()
        server.sql("CREATE TABLE regions (id INT PRIMARY KEY, name VARCHAR(20)); "
                   "INSERT INTO regions VALUES (1, 'Zürich')")
        base = f"mysql://etl@127.0.0.1:{server.port}/shop?ssl_mode="
        r = run_sluice("import", "--connect", f"{base}VERIFY_IDENTITY&ssl_ca={certs / 'ca.pem'}",
                       "--password-env", PASSWORD_ENV, "--lake", tmp_path / "lake", "--date",
                       DAY3, "--table", "regions", env=ENV, expect=0)
        assert read_rows(tmp_path / "lake", "raw.regions", DAY3) == [(1, "Zürich")], r
        r = run_sluice("import", "--connect", f"{base}VERIFY_CA&ssl_ca={certs / 'other_ca.pem'}",
                       "--password-env", PASSWORD_ENV, "--lake", tmp_path / "lake2", "--date",
                       DAY3, "--table", "regions", env=ENV, expect=1)
        # Both: that TLS failed, and why (OpenSSL's words for the unknown CA vary by version).
        assert "TLS/SSL error" in r.output and "certificate" in r.output, r
        assert not (tmp_path / "lake2" / "raw").exists()
    finally:
        server.cleanup(ignore_errors=True)
        shutil.rmtree(server_dir, ignore_errors=True)
