"""Cell-by-cell comparison of a source table (read with an independent client: PyMySQL or
psycopg2) with its lake dataset (read with DuckDB's Python package).

Every value is turned into a canonical form on both sides; the forms differ only where the two
clients hand back different Python types for the same value (documented at each case)."""

import datetime
import decimal
import json
import struct
import uuid

import duckdb
import pymysql
import psycopg2

UTC = datetime.timezone.utc


def f32(x: float) -> bytes:
    return struct.pack("<f", x)


def mysql_connect(server, database: str):
    return pymysql.connect(host=server.host, port=int(server.port), user=server.user,
                           password=server.password, database=database, charset="utf8mb4",
                           init_command="SET time_zone = '+00:00'")


def pg_connect(server, database: str | None = None):
    conn = psycopg2.connect(host=server.host, port=int(server.port), user=server.user,
                            password=server.password, dbname=database or server.database)
    conn.autocommit = True
    with conn.cursor() as c:
        c.execute("SET TimeZone = 'UTC'")
    return conn


def lake_rows(files, order_by):
    """Rows of the dataset's Parquet files, ordered, with DuckDB types, and its column types."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    src = "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "], hive_partitioning = false)"
    order = ", ".join(f'"{c}"' for c in order_by)
    cur = con.execute(f"SELECT * FROM {src} ORDER BY {order}")
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    return cols, types, rows


def canon_lake(v, lake_type: str):
    if v is None:
        return None
    if isinstance(v, datetime.datetime) and v.tzinfo is not None:
        return v.astimezone(UTC).replace(tzinfo=None)
    if lake_type == "FLOAT":
        return f32(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    return v


def canon_mysql(v, lake_type: str, mysql_type: int):
    """mysql_type: the PyMySQL FIELD_TYPE code of the column."""
    if v is None:
        return None
    if mysql_type == 16:  # BIT: big-endian bytes
        n = int.from_bytes(v, "big")
        return bool(n) if lake_type == "BOOLEAN" else n
    if isinstance(v, datetime.timedelta):  # TIME
        secs = v.days * 86400 + v.seconds
        return datetime.time(secs // 3600, secs // 60 % 60, secs % 60, v.microseconds)
    if isinstance(v, set):  # SET
        return ",".join(sorted(v))
    if lake_type == "FLOAT":
        return f32(v)
    if lake_type == "VARCHAR" and isinstance(v, decimal.Decimal):  # DECIMAL wider than 38
        return ("wide decimal", v)
    if isinstance(v, (bytes, bytearray)) and lake_type == "VARCHAR":
        return v.decode("utf-8")
    return v


def compare_mysql_table(server, database: str, table: str, key, files):
    """Asserts that the lake files hold exactly the rows of the MySQL table, cell by cell.
    Returns the number of rows compared."""
    cols, types, lake = lake_rows(files, key)
    conn = mysql_connect(server, database)
    try:
        with conn.cursor() as c:
            c.execute(f"SELECT * FROM `{table}` LIMIT 0")
            names = [d[0] for d in c.description]
            codes = [d[1] for d in c.description]
            # The text protocol sends FLOAT with 6 significant digits, which loses bits; the
            # exact value comes through as DOUBLE.
            select = ", ".join(f"CAST(`{n}` AS DOUBLE) AS `{n}`" if code == 4 else f"`{n}`"
                               for n, code in zip(names, codes))
            c.execute(f"SELECT {select} FROM `{table}` ORDER BY " +
                      ", ".join(f"`{k}`" for k in key))
            src = c.fetchall()
    finally:
        conn.close()
    assert names == cols, f"{table}: columns differ: server {names}, lake {cols}"
    assert len(src) == len(lake), f"{table}: server has {len(src)} rows, lake {len(lake)}"
    for i, (s, l) in enumerate(zip(src, lake)):
        for j, name in enumerate(names):
            t = types[name]
            sv = canon_mysql(s[j], t, codes[j])
            lv = canon_lake(l[j], t)
            if t == "VARCHAR" and codes[j] == 245 and sv is not None:  # MySQL JSON type
                sv, lv = json.loads(sv), json.loads(lv)
            if isinstance(sv, tuple) and sv[0] == "wide decimal" and lv is not None:
                # The lake keeps the server's digits as text; the scale is the column's.
                assert "E" not in lv and len(lv.split(".")[-1]) == -sv[1].as_tuple().exponent, lv
                lv = ("wide decimal", decimal.Decimal(lv))
            if t == "VARCHAR" and isinstance(s[j], set):
                lv = ",".join(sorted(x for x in lv.split(",") if x)) if lv is not None else None
            assert sv == lv, (
                f"{table} row {i} ({dict(zip(key, (s[names.index(k)] for k in key)))}) column "
                f"{name} ({t}): server {s[j]!r} -> {sv!r}, lake {l[j]!r} -> {lv!r}")
            if sv is None or lv is None:
                assert sv is None and lv is None, f"{table} row {i} column {name}: NULL differs"
    return len(src)


def compare_pg_table(server, table: str, key, files, database: str | None = None):
    """Asserts that the lake files hold exactly the rows of the PostgreSQL table. Columns the
    lake keeps as text (VARCHAR) are read from the server as ::text, the form sluice imports."""
    cols, types, lake = lake_rows(files, key)
    conn = pg_connect(server, database)
    try:
        with conn.cursor() as c:
            c.execute(f"SELECT * FROM {table} LIMIT 0")
            oids = {d[0]: d[1] for d in c.description}
            # text, varchar, char(n) (padding kept), name: as they are; other types the lake
            # keeps as text: in the server's text form.
            plain = {25, 1043, 1042, 19}
            select = ", ".join(f'"{n}"::text' if types[n] == "VARCHAR" and oids[n] not in plain
                               else f'"{n}"' for n in cols)
            order = ", ".join(f'"{k}"' for k in key)
            c.execute(f"SELECT {select} FROM {table} ORDER BY {order}")
            src = c.fetchall()
            c.execute(f"SELECT * FROM {table} LIMIT 0")
            names = [d[0] for d in c.description]
    finally:
        conn.close()
    assert names == cols, f"{table}: columns differ: server {names}, lake {cols}"
    assert len(src) == len(lake), f"{table}: server has {len(src)} rows, lake {len(lake)}"
    for i, (s, l) in enumerate(zip(src, lake)):
        for j, name in enumerate(names):
            t = types[name]
            sv, lv = canon_lake(s[j], t), canon_lake(l[j], t)  # psycopg2 gives the same types
            if isinstance(sv, float) and isinstance(lv, float) and sv != sv and lv != lv:
                continue  # NaN
            assert sv == lv, (f"{table} row {i} column {name} ({t}): server {s[j]!r}, "
                              f"lake {l[j]!r}")
            assert (sv is None) == (lv is None)
    return len(src)
