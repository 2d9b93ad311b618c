"""The server harness works: real PostgreSQL and MariaDB on loopback, password logins,
exact non-ASCII round trips, crash (kill) and recovery, MariaDB file import/export, and loud
failures."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time

import pytest

from servers import SCRIPTS, MariaDbServer, PostgresServer, ServerError

TRICKY = [
    "Grüße aus Köln, 東京, Ελληνικά",
    "emoji 😀🚀 and a ZWJ family 👨‍👩‍👧",
    "line one\nline two\r\nline three",
    "tab\tseparated\tvalues",
    'comma, "double quotes", \'single\' and back\\slash',
    "",
    "NULL",
]


def listening_hosts(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) with a listening socket on `port`."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            addr, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                hosts.add(addr)
    return hosts


def process_uid(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def wait_until(predicate, timeout=30.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def sql_literal(value: str) -> str:
    """A string literal that both servers read the same way (backslash escapes are off in
    PostgreSQL's standard strings; MariaDB gets NO_BACKSLASH_ESCAPES where used)."""
    return "'" + value.replace("'", "''") + "'"


def test_install_is_idempotent_and_fast():
    for cls in (PostgresServer, MariaDbServer):
        cls.install()  # installs when missing (a fresh machine): may take a minute
        t0 = time.monotonic()
        res = subprocess.run(["bash", str(SCRIPTS / cls.script), "install"], capture_output=True,
                             text=True, timeout=1200)
        assert res.returncode == 0, res.stderr
        assert "ok:" in res.stderr
        # Everything is present now: no apt-get at all, and quick.
        assert "apt-get" not in res.stderr and "installing" not in res.stderr, res.stderr
        assert time.monotonic() - t0 < 10


# ---------------------------------------------------------------- PostgreSQL


def test_postgres_password_login_over_tcp(postgres_server):
    pg = postgres_server
    assert pg.url == f"postgresql://etl@127.0.0.1:{pg.port}/sluice_test"
    rows = pg.sql("SELECT current_user, host(inet_server_addr()), current_database(), "
                  "pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()")
    assert rows == [("etl", "127.0.0.1", "sluice_test", "UTF8")]
    # The TCP login really used a password (scram), not trust.
    method = pg.sql("SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' "
                    "AND 'all' = ANY(database) ORDER BY line_number LIMIT 1", admin=True)
    assert method == [("scram-sha-256",)]
    # Real durability settings: fsync is on.
    settings = dict(pg.sql("SELECT name, setting FROM pg_settings WHERE name IN "
                           "('fsync', 'synchronous_commit', 'full_page_writes', 'listen_addresses')"))
    assert settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
                        "listen_addresses": "127.0.0.1"}
    # etl owns the database.
    assert pg.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'sluice_test'") \
        == [("etl",)]


def test_postgres_rejects_wrong_password(postgres_server):
    pg = postgres_server
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = "not-the-password"
    res = subprocess.run([str(pg.bindir / "psql"), "-X", "-h", "127.0.0.1", "-p", str(pg.port),
                          "-U", "etl", "-d", "sluice_test", "-c", "SELECT 1"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode != 0
    assert "password authentication failed" in res.stderr


def test_postgres_runs_unprivileged_on_loopback_only(postgres_server):
    pg = postgres_server
    uid = process_uid(pg.server_pid())
    assert uid != 0
    if os.geteuid() == 0:
        assert uid == pwd.getpwnam("postgres").pw_uid
    assert listening_hosts(pg.port) == {"0100007F"}  # 127.0.0.1 only


def test_postgres_table_round_trip(postgres_server):
    pg = postgres_server
    values = ", ".join(f"({i}, {sql_literal(v)})" for i, v in enumerate(TRICKY))
    rows = pg.sql(f"""
        DROP TABLE IF EXISTS harness_round_trip;
        CREATE TABLE harness_round_trip (id int PRIMARY KEY, s text);
        INSERT INTO harness_round_trip VALUES {values}, ({len(TRICKY)}, NULL);
        SELECT id::text, s FROM harness_round_trip ORDER BY id;
    """)
    assert rows == [(str(i), v) for i, v in enumerate(TRICKY)] + [(str(len(TRICKY)), None)]
    # Several result sets come back in order; the bytes are UTF-8 as stored.
    assert pg.sql("SELECT 'a'; SELECT length(s)::text, octet_length(s)::text FROM "
                  "harness_round_trip WHERE id = 1") == \
        [("a",), (str(len(TRICKY[1])), str(len(TRICKY[1].encode())))]


def test_postgres_kill_then_start_recovers_committed_data(postgres_server):
    pg = postgres_server
    pg.sql("DROP TABLE IF EXISTS crash_t; CREATE TABLE crash_t (id int, s text);"
           "INSERT INTO crash_t VALUES (1, 'committed before crash ✓');")
    # A second session with an open, uncommitted transaction at the moment of the crash.
    env = pg.client_env()
    open_trx = subprocess.Popen(
        [str(pg.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"], env=env,
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        open_trx.stdin.write("SET application_name = 'harness_open_trx';\n"
                             "BEGIN;\nINSERT INTO crash_t VALUES (2, 'never committed');\n")
        open_trx.stdin.flush()
        wait_until(lambda: pg.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'harness_open_trx' "
            "AND state = 'idle in transaction'", admin=True) == [("1",)],
            what="the open transaction")
        pg.kill()
        assert not pg.is_running()
        with pytest.raises(ServerError):
            pg.sql("SELECT 1")
    finally:
        open_trx.stdin.close()
        try:
            open_trx.wait(timeout=30)
        except subprocess.TimeoutExpired:
            open_trx.kill()
    pg.start(pg.dir)  # same folder, same port
    assert pg.is_running()
    assert pg.sql("SELECT id::text, s FROM crash_t ORDER BY id") == [("1", "committed before crash ✓")]
    # It was a real crash: the restart ran WAL recovery.
    assert "automatic recovery in progress" in pg.log_text()
    # And a clean restart works too.
    pg.restart()
    assert pg.sql("SELECT count(*) FROM crash_t") == [("1",)]


def test_postgres_start_fails_loudly_when_port_taken():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = PostgresServer(port=port)
        try:
            with pytest.raises(ServerError) as err:
                server.start()
            message = str(err.value)
            assert "did not start" in message
            assert "Address already in use" in message  # the server log's tail is in it
            assert not server.is_running()
        finally:
            server.cleanup(ignore_errors=True)


# ---------------------------------------------------------------- MariaDB


def test_mariadb_password_login_over_tcp(mariadb_server):
    db = mariadb_server
    assert db.url == f"mysql://etl@127.0.0.1:{db.port}/shop"
    rows = db.sql("SELECT CURRENT_USER(), DATABASE(), @@character_set_server, @@local_infile, "
                  "@@secure_file_priv, @@time_zone")
    assert rows == [("etl@127.0.0.1", "shop", "utf8mb4", "1", f"{db.files_dir}/", "+00:00")]
    grants = " ".join(r[0] for r in db.sql("SHOW GRANTS"))
    assert "GRANT PROCESS, FILE ON *.*" in grants  # FILE for the import tests, PROCESS for merges
    assert "GRANT ALL PRIVILEGES ON `shop`.*" in grants


def test_mariadb_rejects_wrong_password(mariadb_server):
    db = mariadb_server
    res = subprocess.run([MariaDbServer.client_binary(), "--no-defaults", "--protocol=tcp",
                          "--host=127.0.0.1", f"--port={db.port}", "--user=etl",
                          "--password=not-the-password", "-e", "SELECT 1"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "Access denied" in res.stderr


def test_mariadb_runs_unprivileged_on_loopback_only(mariadb_server):
    db = mariadb_server
    uid = process_uid(db.server_pid())
    assert uid != 0
    if os.geteuid() == 0:
        assert uid == pwd.getpwnam("mysql").pw_uid
    assert listening_hosts(db.port) == {"0100007F"}


def test_mariadb_utf8mb4_round_trip(mariadb_server):
    db = mariadb_server
    values = ", ".join(f"({i}, {sql_literal(v)})" for i, v in enumerate(TRICKY))
    rows = db.sql(f"""
        SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES');
        DROP TABLE IF EXISTS harness_round_trip;
        CREATE TABLE harness_round_trip (id INT PRIMARY KEY, s TEXT) ENGINE=InnoDB;
        INSERT INTO harness_round_trip VALUES {values}, ({len(TRICKY)}, NULL);
        SELECT id, s FROM harness_round_trip ORDER BY id;
    """)
    assert rows == [(str(i), v) for i, v in enumerate(TRICKY)] + [(str(len(TRICKY)), None)]
    # The emoji is stored as 4-byte UTF-8 (utf8mb4), not mangled or double-encoded.
    assert db.sql("SELECT HEX(s), CHAR_LENGTH(s) FROM harness_round_trip WHERE id = 1") == \
        [(TRICKY[1].encode().hex().upper(), str(len(TRICKY[1])))]
    assert db.sql("SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE "
                  "TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'harness_round_trip' "
                  "AND COLUMN_NAME = 's'") == [("utf8mb4",)]
    # Control characters survive the client round trip too.
    assert db.sql("SELECT CONCAT('a', CHAR(1), 'b', CHAR(13))") == [("a\x01b\r",)]


def test_mariadb_load_data_local_infile(mariadb_server, tmp_path):
    db = mariadb_server
    src = tmp_path / "customers.csv"
    src.write_text("1,Zoë,🛒 basket\n2,Łukasz,plain\n3,東京,\\N\n", encoding="utf-8")
    db.sql(f"""
        DROP TABLE IF EXISTS customers;
        CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(50), note VARCHAR(50));
        LOAD DATA LOCAL INFILE {sql_literal(str(src))} INTO TABLE customers
          CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n';
    """)
    assert db.sql("SELECT id, name, note FROM customers ORDER BY id") == [
        ("1", "Zoë", "🛒 basket"), ("2", "Łukasz", "plain"), ("3", "東京", None)]


def test_mariadb_select_into_outfile(mariadb_server):
    db = mariadb_server
    out = db.files_dir / f"orders-{os.getpid()}.csv"
    db.sql("""
        DROP TABLE IF EXISTS orders;
        CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(50));
        INSERT INTO orders VALUES (1, 'café ☕'), (2, 'tea');
    """)
    db.sql(f"SELECT id, item INTO OUTFILE {sql_literal(str(out))} CHARACTER SET utf8mb4 "
           "FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n' FROM orders ORDER BY id")
    assert out.read_text(encoding="utf-8") == "1,café ☕\n2,tea\n"
    # Anywhere else is refused: --secure-file-priv is in force.
    with pytest.raises(ServerError, match="secure-file-priv"):
        db.sql(f"SELECT 1 INTO OUTFILE {sql_literal(str(db.dir / 'elsewhere.csv'))}")


def test_mariadb_kill_then_start_recovers_committed_data(mariadb_server):
    db = mariadb_server
    db.sql("DROP TABLE IF EXISTS crash_t;"
           "CREATE TABLE crash_t (id INT, s VARCHAR(50)) ENGINE=InnoDB;"
           "INSERT INTO crash_t VALUES (1, 'committed before crash 😀');")
    open_trx = subprocess.Popen(
        [MariaDbServer.client_binary(), "--no-defaults", "--protocol=tcp", "--host=127.0.0.1",
         f"--port={db.port}", "--user=etl", "--password=etl", "--database=shop",
         "--default-character-set=utf8mb4", "--batch"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        open_trx.stdin.write("BEGIN;\nINSERT INTO crash_t VALUES (2, 'never committed');\n")
        open_trx.stdin.flush()
        wait_until(lambda: db.sql("SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                                  "WHERE trx_rows_modified > 0", admin=True) == [("1",)],
                   what="the open transaction")
        pid = db.server_pid()
        db.kill()
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
        assert not db.is_running()
        with pytest.raises(ServerError):
            db.sql("SELECT 1")
    finally:
        open_trx.stdin.close()
        try:
            open_trx.wait(timeout=30)
        except subprocess.TimeoutExpired:
            open_trx.kill()
    db.start(db.dir)
    assert db.is_running()
    assert db.sql("SELECT id, s FROM crash_t ORDER BY id") == [("1", "committed before crash 😀")]
    # It was a real crash: InnoDB ran crash recovery on the restart.
    assert "crash recovery" in db.log_text()
    db.restart()
    assert db.sql("SELECT COUNT(*) FROM crash_t") == [("1",)]


def test_mariadb_start_fails_loudly_when_port_taken():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = MariaDbServer(port=port)
        try:
            with pytest.raises(ServerError) as err:
                server.start()
            message = str(err.value)
            assert "mariadbd exited while starting" in message
            assert "Address already in use" in message  # the server log's tail is in it
            assert not server.is_running()
        finally:
            server.cleanup(ignore_errors=True)
