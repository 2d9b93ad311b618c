"""PostgreSQL and MariaDB regressions (issue: data loss, hangs and rough edges, items 5, 8, 11,
30): table names with a dot, a CHECK constraint added NOT VALID, read_timeout on a server
that sends nothing, split planning on a column without an index, and --connect URLs."""

import re
import sys
import time
from pathlib import Path

import pytest

from conftest import read_rows, run_sluice, summary_rows, write_pipeline

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "servers"))
from conftest_fixtures import mariadb_server, postgres_server  # noqa: E402,F401

DS = "2026-11-21"
ENV = {"SLUICE_TEST_PW": "etl"}


def pg_conn(pg, database="sluice_test", extra="") -> str:
    return (f'{{type: postgres, host: 127.0.0.1, port: {pg.port}, database: {database}, '
            f'user: etl, password: "${{env:SLUICE_TEST_PW}}"{extra}}}')


def test_postgres_table_names_with_a_dot(tmp_path, postgres_server):
    """A table named "x.y" is one table, not table y of schema x, when imported and loaded."""
    pg = postgres_server
    pg.sql('DROP DATABASE IF EXISTS dotted', admin=True)
    pg.sql('CREATE DATABASE dotted OWNER etl', admin=True)
    pg.sql('CREATE SCHEMA x; CREATE TABLE x.y (id int); INSERT INTO x.y VALUES (1); '
           'CREATE TABLE public."x.y" (id int); INSERT INTO public."x.y" VALUES (2), (3);',
           database="dotted")
    p = write_pipeline(tmp_path, f"""
        pipeline: dotted
        connections:
          src: {pg_conn(pg, "dotted")}
          dwh: {pg_conn(pg, "dotted")}
        tasks:
          - id: imp
            kind: db_import
            connection: src
            tables: all
          - id: load
            kind: db_load
            connection: dwh
            datasets: {{raw.x_y: 'public."out.put"'}}
        """)
    r = run_sluice("run", p, "--date", DS, cwd=tmp_path, env=ENV, timeout=120)
    assert r.returncode == 0, str(r)
    assert sorted(read_rows(tmp_path / "lake", "raw.x_y", DS)) == [(2,), (3,)]
    assert pg.sql('SELECT id FROM public."out.put" ORDER BY 1', database="dotted") == [("2",), ("3",)]
    assert pg.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'put'", database="dotted") == \
        [("0",)]


def test_check_constraint_added_not_valid_names_the_refused_row(tmp_path, postgres_server):
    pg = postgres_server
    pg.sql("DROP TABLE IF EXISTS nv_target; CREATE TABLE nv_target (id int PRIMARY KEY, v int); "
           "ALTER TABLE nv_target ADD CONSTRAINT v_positive CHECK (v > 0) NOT VALID")
    p = write_pipeline(tmp_path, f"""
        pipeline: notvalid
        connections:
          dwh: {pg_conn(pg)}
        tasks:
          - id: make
            kind: sql
            into: marts.nv
            sql: SELECT * FROM (VALUES (1, 5), (2, 7), (3, -1)) t(id, v)
          - id: load
            kind: db_load
            connection: dwh
            datasets: {{marts.nv: nv_target}}
            mode: merge
            key: [id]
        """)
    r = run_sluice("run", p, "--date", DS, cwd=tmp_path, env=ENV, timeout=120)
    assert r.returncode == 1, str(r)
    assert "marts.nv row 3 was refused" in r.stdout, r.stdout
    assert pg.sql("SELECT count(*) FROM nv_target") == [("0",)]


def test_postgres_read_timeout_fires_on_a_server_that_sends_nothing(tmp_path, postgres_server):
    pg = postgres_server
    p = write_pipeline(tmp_path, f"""
        pipeline: readtimeout
        connections:
          src: {pg_conn(pg, extra=", read_timeout: 2s")}
        tasks:
          - id: imp
            kind: db_import
            connection: src
            query: SELECT 1 AS x FROM pg_sleep(30)
            into: raw.slow
            retries: 0
        """)
    start = time.monotonic()
    r = run_sluice("run", p, "--date", DS, cwd=tmp_path, env=ENV, timeout=60)
    took = time.monotonic() - start
    assert r.returncode == 1, str(r)
    assert "sent nothing for 2s (read_timeout)" in r.stdout, r.stdout
    assert took < 10, f"took {took:.1f}s with read_timeout 2s"


def test_connect_url_with_ipv6_host_and_encoded_user(tmp_path, postgres_server):
    """--connect URLs are parsed by libcurl: [::1] is a host, %40 an @ in the user name."""
    pg = postgres_server
    for url in ("postgresql://etl@[::1]:1/sluice_test", "mysql://etl@[::1]:1/shop"):
        r = run_sluice("import", "--connect", url, "--password-env", "SLUICE_TEST_PW",
                       "--table", "t", "--lake", tmp_path / "lake", env=ENV, timeout=60)
        assert r.returncode == 1, str(r)
        assert "::1" in r.output and "write postgresql://" not in r.output, str(r)
    pg.sql('DROP ROLE IF EXISTS "et@l"', admin=True)
    pg.sql("CREATE ROLE \"et@l\" LOGIN PASSWORD 'etl'", admin=True)
    pg.sql('DROP TABLE IF EXISTS url_t; CREATE TABLE url_t (id int); INSERT INTO url_t VALUES (7);'
           ' GRANT SELECT ON url_t TO "et@l"')
    r = run_sluice("import", "--connect",
                   f"jdbc:postgresql://et%40l@127.0.0.1:{pg.port}/sluice_test?connect_timeout=10s",
                   "--password-env", "SLUICE_TEST_PW", "--table", "url_t", "--lake",
                   tmp_path / "lake", "--date", DS, env=ENV, timeout=60)
    assert r.returncode == 0, str(r)
    assert read_rows(tmp_path / "lake", "raw.url_t", DS) == [(7,)]


def test_split_by_a_column_without_an_index_is_planned_quickly(tmp_path, mariadb_server):
    """MariaDB estimates the whole table for every range of a column without an index: the
    planner used to cut until ranges were one value wide (2,400 ranges, minutes)."""
    db = mariadb_server
    db.sql("DROP TABLE IF EXISTS noidx; CREATE TABLE noidx (id INT PRIMARY KEY, v INT NULL) "
           "ENGINE=InnoDB; INSERT INTO noidx SELECT seq, IF(seq % 10 = 0, NULL, seq * 7 % 100003) "
           "FROM seq_1_to_200000; ANALYZE TABLE noidx", database="shop")
    start = time.monotonic()
    r = run_sluice("import", "--connect", f"mysql://etl@127.0.0.1:{db.port}/shop",
                   "--password-env", "SLUICE_TEST_PW", "--table", "noidx", "--split-by", "v",
                   "-m", "2", "--lake", tmp_path / "lake", "--date", DS, env=ENV, timeout=120)
    took = time.monotonic() - start
    assert r.returncode == 0, str(r)
    assert "split_by v of table `noidx` has no index" in r.stderr, r.stderr
    assert took < 10, f"took {took:.1f}s"
    assert len(read_rows(tmp_path / "lake", "raw.noidx", DS)) == 200000
    log = "".join(p.read_text() for p in (tmp_path / "lake").rglob("*.log"))
    log += "".join(p.read_text() for p in tmp_path.rglob("import*.log"))
    m = re.search(r"into (\d+) ranges", log)
    assert m is None or int(m.group(1)) <= 2, log
