"""`sluice-gen shop` against real MariaDB and PostgreSQL servers: row counts, the extreme
values of every type read back exactly, NULL vs '', non-ASCII text, determinism by seed,
refusing existing tables, and --tables."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SLUICE = os.environ.get("SLUICE_BIN", str(REPO / "build" / "sluice"))
GEN = os.environ.get("SLUICE_GEN", str(Path(SLUICE).parent / "sluice-gen"))
TABLES = ["regions", "customers", "products", "orders", "order_items"]
ROWS = 2000
_counter = itertools.count()


class ShopDb:
    """A fresh, empty database on one server, owned by / granted to etl."""

    def __init__(self, server, kind: str):
        self.server, self.kind = server, kind
        self.name = f"gen_shop_{next(_counter)}"
        if kind == "mariadb":
            server.sql(f"DROP DATABASE IF EXISTS {self.name}; "
                       f"CREATE DATABASE {self.name} CHARACTER SET utf8mb4; "
                       f"GRANT ALL ON {self.name}.* TO 'etl'@'127.0.0.1', 'etl'@'localhost'",
                       admin=True)
            self.url = f"mysql://etl@127.0.0.1:{server.port}/{self.name}"
        else:
            server.sql(f"DROP DATABASE IF EXISTS {self.name}", admin=True)
            server.sql(f"CREATE DATABASE {self.name} OWNER etl", admin=True)
            self.url = f"postgresql://etl@127.0.0.1:{server.port}/{self.name}"

    def sql(self, query: str) -> list[tuple]:
        return self.server.sql(query, database=self.name)

    def value(self, query: str):
        return self.sql(query)[0][0]

    def tables(self) -> set[str]:
        if self.kind == "mariadb":
            q = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        else:
            q = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        return {r[0] for r in self.sql(q)}

    def checksums(self) -> dict[str, str]:
        if self.kind == "mariadb":
            rows = self.sql("CHECKSUM TABLE " + ", ".join(TABLES))
            return {r[0].split(".")[-1]: r[1] for r in rows}
        keys = {"regions": "region_id", "customers": "customer_id", "products": "product_id",
                "orders": "order_id", "order_items": "order_id, line_no"}
        return {t: self.value(f"SELECT md5(string_agg(t::text, E'\\n' ORDER BY {k})) FROM {t} t")
                for t, k in keys.items()}

    def gen(self, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, SHOP_PASSWORD="etl")
        return subprocess.run([GEN, "shop", "--connect", self.url,
                               "--password-env", "SHOP_PASSWORD", *args],
                              capture_output=True, text=True, env=env, timeout=120)

    def gen_ok(self, *args: str) -> dict[str, int]:
        """Runs gen shop, expects success, returns the reported rows per table."""
        res = self.gen(*args)
        assert res.returncode == 0, res.stderr
        return {m[1]: int(m[2].replace(",", ""))
                for m in re.finditer(r"^\s+(\w+): ([\d,]+) rows$", res.stderr, re.M)}


@pytest.fixture(params=["mariadb", "postgres"])
def db(request):
    if not Path(GEN).exists():
        pytest.fail(f"sluice-gen binary {GEN} does not exist (set SLUICE_BIN or build it)")
    server = request.getfixturevalue(f"{request.param}_server")
    return ShopDb(server, request.param)


@pytest.fixture
def mariadb(mariadb_server):
    return ShopDb(mariadb_server, "mariadb")


@pytest.fixture
def postgres(postgres_server):
    return ShopDb(postgres_server, "postgres")


def test_counts_ids_and_foreign_keys(db):
    report = db.gen_ok("--rows", str(ROWS))
    assert list(report) == TABLES
    assert report["regions"] == 20
    assert report["customers"] == ROWS // 10
    assert report["products"] == 100
    assert report["orders"] == ROWS
    assert 1.5 * ROWS < report["order_items"] < 3.5 * ROWS
    for table, n in report.items():
        assert int(db.value(f"SELECT count(*) FROM {table}")) == n, table
    # Ids 1..N with a block skipped near the end and 10^12 last: splitting min..max evenly
    # would put nearly every row into the first range.
    assert db.sql("SELECT min(order_id), max(order_id) FROM orders") == [("1", "1000000000000")]
    assert db.value("SELECT count(*) FROM orders WHERE order_id BETWEEN 1801 AND 2300") == "0"
    assert db.value("SELECT max(order_id) FROM orders WHERE order_id < 1000000000000") == "2499"
    assert db.value("SELECT count(*) FROM orders WHERE updated_at < created_at") == "0"
    assert db.value("SELECT count(*) FROM order_items i LEFT JOIN orders o "
                    "ON o.order_id = i.order_id WHERE o.order_id IS NULL") == "0"
    # Order totals are the sums of their lines.
    assert db.value("SELECT count(*) FROM orders o JOIN (SELECT order_id, sum(round("
                    "quantity * unit_price * (1 - coalesce(discount, 0)), 2)) s FROM order_items "
                    "GROUP BY order_id) i ON i.order_id = o.order_id WHERE i.s <> o.total") == "0"
    if db.kind == "mariadb":
        fks = db.sql("SELECT table_name, referenced_table_name FROM "
                     "information_schema.referential_constraints "
                     "WHERE constraint_schema = DATABASE()")
    else:
        fks = db.sql("SELECT conrelid::regclass::text, confrelid::regclass::text "
                     "FROM pg_constraint WHERE contype = 'f'")
    assert sorted(fks) == [("customers", "regions"), ("order_items", "orders"),
                   ("order_items", "products"), ("orders", "customers")]


def test_extremes_mariadb(mariadb):
    mariadb.gen_ok("--rows", "500", "--tables", "products")
    cols = ("sku, name, price, cost, weight_g + 0e0, score, stock, flags + 0, active + 0, "
            "category, tags, launched, updated_at, seen_at, duration, model_year, "
            "HEX(digest), small, medium, i16, i32, i64, u8, u16, u24, u32, wide")
    lo, hi = mariadb.sql(f"SELECT {cols} FROM products WHERE product_id IN (1, 2) "
                         "ORDER BY product_id")
    k38 = "9999999999999999999999999999.9999999999"
    k65 = "99999999999999999999999999999999999.999999999999999999999999999999"
    assert lo == ("EDGE-MIN", "A", "-99999999.99", "-" + k38, "-3.4028234663852886e38",
                  "-1.7976931348623157e308", "0", "0", "0", "books", "", "1000-01-01",
                  "1000-01-01 00:00:00.000000", "1970-01-01 00:00:01.000000",
                  "00:00:00.000000", "1901", "0" * 32, "-128", "-8388608", "-32768",
                  "-2147483648", "-9223372036854775808", "0", "0", "0", "0", "-" + k65)
    assert hi == ("🛒" * 12, "😀" * 200, "99999999.99", k38, "3.4028234663852886e38",
                  "1.7976931348623157e308", "18446744073709551615", "4095", "1", "home",
                  "new,sale,eco,gift,bulk,fragile", "9999-12-31", "9999-12-31 23:59:59.999999",
                  "2038-01-19 03:14:07.999999", "23:59:59.999999", "2155", "F" * 32, "127",
                  "8388607", "32767", "2147483647", "9223372036854775807", "255", "65535",
                  "16777215", "4294967295", k65)
    assert mariadb.sql("SELECT HEX(thumbnail), notes FROM products WHERE product_id = 2") == [
        ("FF" * 65535, "😀" * 16383 + "xyz")]
    assert mariadb.sql("SELECT sku, name, HEX(thumbnail), notes, weight_g + 0e0, score "
                       "FROM products WHERE product_id = 5") == [(
                           "'\"\\\t\n`%_😀",
                           "quote ' double \" backslash \\ tab \t newline \n CR \r emoji 😀 "
                           "\\N NULL",
                           "00FF000A0D095C27221A00",
                           "line1\nline2\r\nline3\ttab \\N \\\\ 'single' \"double\" `back` "
                           "😀🎉 — ünïcödé",
                           "1.1754943508222875e-38", "2.2250738585072014e-308")]
    assert mariadb.sql("SELECT weight_g + 0e0, score FROM products WHERE product_id = 6") == [
        ("1.401298464324817e-45", "5e-324")]
    # Row 3: every nullable column NULL; row 4: '' in the text columns, an empty BLOB.
    null_row = mariadb.sql("SELECT * FROM products WHERE product_id = 3")[0]
    assert null_row[:4] == ("3", "EDGE-NULL", "every nullable column is NULL", "0.00")
    assert set(null_row[4:]) == {None}
    assert mariadb.sql("SELECT sku, name, notes, tags, attrs, LENGTH(thumbnail) FROM products "
                       "WHERE product_id = 4") == [("", "", "", "", '""', "0")]


def test_extremes_postgres(postgres):
    postgres.gen_ok("--rows", "500", "--tables", "products")
    cols = ("sku, name, price, cost, weight_g, score, stock, flags, active, category, tags, "
            "launched, updated_at, seen_at, duration, uid, small, i32, i64, wide, amount_exact, "
            "ip")
    lo, hi = postgres.sql(f"SELECT {cols} FROM products WHERE product_id IN (1, 2) "
                          "ORDER BY product_id")
    k38 = "9999999999999999999999999999.9999999999"
    k65 = "99999999999999999999999999999999999.999999999999999999999999999999"
    assert lo == ("EDGE-MIN    ", "A", "-99999999.99", "-" + k38, "-3.4028235e+38",
                  "-1.7976931348623157e+308", "-9223372036854775808", "000000000000", "f",
                  "books", "{}", "0001-01-01", "0001-01-01 00:00:00", "0001-01-01 00:00:00+00",
                  "-178000000 years", "00000000-0000-0000-0000-000000000000", "-32768",
                  "-2147483648", "-9223372036854775808", "-" + k65, "-99999999999999999999",
                  "0.0.0.0")
    assert hi == ("🛒" * 12, "😀" * 200, "99999999.99", k38, "3.4028235e+38",
                  "1.7976931348623157e+308", "9223372036854775807", "111111111111", "t", "home",
                  "{new,sale,eco,gift,bulk,fragile}", "9999-12-31", "9999-12-31 23:59:59.999999",
                  "9999-12-31 23:59:59.999999+00", "178000000 years",
                  "ffffffff-ffff-ffff-ffff-ffffffffffff", "32767", "2147483647",
                  "9223372036854775807", k65, "99999999999999999999",
                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
    assert postgres.sql("SELECT encode(thumbnail, 'hex'), notes FROM products "
                        "WHERE product_id = 2") == [("ff" * 65535, "😀" * 16383 + "xyz")]
    assert postgres.sql("SELECT name, encode(thumbnail, 'hex'), notes, weight_g, score, "
                        "array_length(tags, 1), tags[5] IS NULL, amount_exact "
                        "FROM products WHERE product_id = 5") == [(
                            "quote ' double \" backslash \\ tab \t newline \n CR \r emoji 😀 "
                            "\\N NULL",
                            "00ff000a0d095c27221a00",
                            "line1\nline2\r\nline3\ttab \\N \\\\ 'single' \"double\" `back` "
                            "😀🎉 — ünïcödé",
                            "1.1754944e-38", "2.2250738585072014e-308", "8", "t",
                            "18446744073709551615")]
    assert postgres.sql("SELECT weight_g, score FROM products WHERE product_id IN (4, 6, 7) "
                        "ORDER BY product_id") == [("-0", "-0"), ("NaN", "Infinity"),
                                                   ("-Infinity", "NaN")]
    null_row = postgres.sql("SELECT * FROM products WHERE product_id = 3")[0]
    assert null_row[:4] == ("3", "EDGE-NULL   ", "every nullable column is NULL", "0.00")
    assert set(null_row[4:]) == {None}
    assert postgres.sql("SELECT name, notes, tags, attrs::text, length(thumbnail), "
                        "length(flags) FROM products WHERE product_id = 4") == [
                            ("", "", '{""}', '""', "0", "0")]


def test_null_empty_and_non_ascii(db):
    db.gen_ok("--rows", str(ROWS))
    for table, column in [("customers", "email"), ("orders", "note"), ("products", "notes")]:
        nulls, empties = db.sql(f"SELECT sum(CASE WHEN {column} IS NULL THEN 1 ELSE 0 END), "
                                f"sum(CASE WHEN {column} = '' THEN 1 ELSE 0 END) FROM {table}")[0]
        assert int(nulls) > 0 and int(empties) > 0, (table, column)
    regions = {r[0] for r in db.sql("SELECT name FROM regions")}
    assert {"Île-de-France", "Zürich", "東京", "Hawaiʻi 🌺"} <= regions
    assert int(db.value("SELECT count(*) FROM customers WHERE name LIKE '%ü%' "
                        "OR name LIKE '%佐藤%' OR name LIKE '%ễ%'")) > 0
    assert db.value("SELECT count(*) FROM orders WHERE note LIKE '%\t%'") != "0"


def test_same_seed_same_data(db):
    db.gen_ok("--rows", "1000", "--seed", "7")
    first = db.checksums()
    db.gen_ok("--rows", "1000", "--seed", "7", "--replace")
    assert db.checksums() == first
    db.gen_ok("--rows", "1000", "--seed", "8", "--replace")
    other = db.checksums()
    assert other["regions"] == first["regions"]  # a fixed list
    assert all(other[t] != first[t] for t in ["customers", "products", "orders", "order_items"])


def test_refuses_existing_table_without_replace(db):
    db.gen_ok("--rows", "100", "--tables", "regions,orders")
    res = db.gen("--rows", "100", "--tables", "orders,order_items")
    assert res.returncode in (1, 2)
    assert "orders already exists" in res.stderr and "--replace" in res.stderr
    assert "order_items" not in db.tables()  # nothing was created
    res = db.gen("--rows", "100")
    assert res.returncode in (1, 2)
    assert "regions, orders already exist" in res.stderr and "--replace" in res.stderr
    assert db.gen_ok("--rows", "100", "--replace")["orders"] == 100


def test_tables_subset(db):
    report = db.gen_ok("--rows", "300", "--tables", "order_items, orders")
    assert list(report) == ["orders", "order_items"]  # creation order, not the flag's
    assert db.tables() == {"orders", "order_items"}
    assert report["orders"] == 300
    assert db.value("SELECT count(*) FROM order_items") == str(report["order_items"])


def test_unknown_table_is_named(mariadb):
    res = mariadb.gen("--rows", "100", "--tables", "orders,orderz")
    assert res.returncode == 2
    assert "'orderz'" in res.stderr and "did you mean orders" in res.stderr
    assert "regions, customers, products, orders, order_items" in res.stderr
    assert mariadb.tables() == set()
