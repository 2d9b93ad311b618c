"""Real PostgreSQL and MariaDB servers for tests (DESIGN.md section 5: real parts, not mocks).

Standard library only. Each server is started by scripts/servers/{postgres,mariadb}.sh in its
own folder on 127.0.0.1 and a free port, as the unprivileged Debian service user when we are
root.

    from servers import PostgresServer
    with PostgresServer().start() as pg:          # own temp folder, free port
        pg.sql("CREATE TABLE t (x text); INSERT INTO t VALUES ('é')")
        assert pg.sql("SELECT x FROM t") == [("é",)]
        pg.kill(); pg.start()                      # crash + recovery on the same folder

`sql()` returns every row of every statement that produced rows, as tuples of str, with None
for SQL NULL. Values come back exactly (newlines, tabs, commas, quotes, emoji): psql prints
CSV and the mariadb client XML, both parsed here. Binary columns should be selected as hex.

Server folders must be reachable by the service user: pytest's tmp_path is not (it lives
below a 0700 folder), so the default is a fresh folder made with tempfile.mkdtemp().
"""

from __future__ import annotations

import csv
import io
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "servers"
HOST = "127.0.0.1"

# Seconds a server may take to come up (crash recovery included); the scripts read it.
START_TIMEOUT = int(os.environ.get("SLUICE_SERVER_START_TIMEOUT", "60"))
INSTALL_TIMEOUT = 1200
SQL_TIMEOUT = 300


class ServerError(RuntimeError):
    """A server could not be installed, started, stopped or queried. The message carries the
    command's output, including the tail of the server log."""


def free_port(host: str = HOST) -> int:
    """A TCP port that was free a moment ago (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _clean_env(**extra: str) -> dict:
    """The environment without client variables that silently redirect psql/mariadb."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "MYSQL_", "MARIADB_"))}
    env.update(extra)
    return env


def _run(cmd, *, input=None, env=None, timeout=SQL_TIMEOUT, what=None) -> subprocess.CompletedProcess:
    """Run cmd; raise ServerError with its output when it fails. Text is passed as bytes and
    decoded here: text mode would fold \r\n in query results."""
    data = input.encode("utf-8", "surrogateescape") if input is not None else None
    try:
        res = subprocess.run([str(c) for c in cmd], input=data, env=env, timeout=timeout,
                             capture_output=True)
    except subprocess.TimeoutExpired as e:
        raise ServerError(f"{what or cmd[0]}: timed out after {timeout} s\n"
                          f"--- stdout ---\n{_decode(e.stdout)}\n"
                          f"--- stderr ---\n{_decode(e.stderr)}") from None
    res.stdout, res.stderr = _decode(res.stdout), _decode(res.stderr)
    if res.returncode != 0:
        raise ServerError(f"{what or ' '.join(map(str, cmd))}: exit {res.returncode}\n"
                          f"--- stdout ---\n{res.stdout[-4000:]}\n--- stderr ---\n{res.stderr[-12000:]}")
    return res


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "surrogateescape")


def _short(query: str, limit: int = 300) -> str:
    q = " ".join(query.split())
    return q if len(q) <= limit else q[:limit] + " ..."


class _Server:
    kind = ""            # "postgres" / "mariadb"
    script = ""          # file name in scripts/servers
    database = ""
    user = "etl"
    password = "etl"
    host = HOST
    log_name = ""
    _installed = False

    def __init__(self, port: int | None = None):
        self.port: int | None = port
        self.dir: Path | None = None
        self._own_dir = False

    # ---- lifecycle -------------------------------------------------------------------

    @classmethod
    def install(cls) -> None:
        """apt-get install the packages when missing (fast no-op when present)."""
        if not cls._installed:
            _run(["bash", SCRIPTS / cls.script, "install"], env=_clean_env(),
                 timeout=INSTALL_TIMEOUT, what=f"{cls.script} install")
            cls._installed = True

    def _script(self, *args, timeout=START_TIMEOUT + 60) -> subprocess.CompletedProcess:
        env = _clean_env(SLUICE_SERVER_START_TIMEOUT=str(START_TIMEOUT))
        return _run(["bash", SCRIPTS / self.script, *args], env=env, timeout=timeout,
                    what=f"{self.script} {' '.join(map(str, args))}")

    def start(self, tmp_dir: str | os.PathLike | None = None, port: int | None = None):
        """Start the server in tmp_dir (made fresh when None; a folder that already holds
        this server's data is reused: that is how a crash is recovered). Returns self."""
        if tmp_dir is not None:
            new_dir = Path(tmp_dir).resolve()
            if new_dir != self.dir:
                self._own_dir = False
            self.dir = new_dir
        elif self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix=f"sluice-{self.kind}-"))
            self._own_dir = True
        if port is not None:
            self.port = port
        if self.port is None:
            self.port = free_port()
        self._script("start", self.dir, self.port)
        return self

    def stop(self) -> None:
        """Clean shutdown (no-op when not running)."""
        if self.dir is not None:
            self._script("stop", self.dir)

    def kill(self) -> None:
        """Crash the server: no checkpoint, no flush; the next start recovers."""
        if self.dir is None:
            raise ServerError(f"{self.kind}: kill() before start()")
        self._script("kill", self.dir)

    def restart(self) -> None:
        """Stop if running (cleanly), then start again on the same folder and port."""
        if self.dir is None:
            raise ServerError(f"{self.kind}: restart() before start()")
        self.stop()
        self.start(self.dir, self.port)

    def is_running(self) -> bool:
        if self.dir is None:
            return False
        res = subprocess.run(["bash", str(SCRIPTS / self.script), "status", str(self.dir)],
                             env=_clean_env(), capture_output=True, timeout=60)
        return res.returncode == 0

    def cleanup(self, ignore_errors: bool = False) -> None:
        """Stop the server and delete the folder this object made (kept when the environment
        sets SLUICE_KEEP_SERVER_DIRS=1)."""
        try:
            self.stop()
        except ServerError:
            if not ignore_errors:
                raise
        finally:
            if self._own_dir and self.dir is not None and not os.environ.get("SLUICE_KEEP_SERVER_DIRS"):
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup(ignore_errors=exc[0] is not None)

    # ---- facts -------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.dir / self.log_name

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def dsn(self) -> str:
        return self.url

    @property
    def url_with_password(self) -> str:
        return self.url.replace(f"//{self.user}@", f"//{self.user}:{self.password}@", 1)

    def server_pid(self) -> int:
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.url if self.port else '(not started)'} dir={self.dir}>"


class PostgresServer(_Server):
    """PostgreSQL: role etl/etl (scram-sha-256 over TCP) owning database sluice_test.
    Superuser 'postgres': sql(..., admin=True) goes through the unix socket in dir."""

    kind = "postgres"
    script = "postgres.sh"
    database = "sluice_test"
    log_name = "postgres.log"
    _NULL = "\x1a\x1aNULL\x1a\x1a"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def conninfo(self) -> str:
        """libpq keyword/value form, with the password."""
        return (f"host={self.host} port={self.port} user={self.user} "
                f"password={self.password} dbname={self.database}")

    def client_env(self) -> dict:
        """Environment for libpq clients (a sluice binary, psql) to reach this server."""
        return _clean_env(PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user,
                          PGPASSWORD=self.password, PGDATABASE=self.database,
                          PGCLIENTENCODING="UTF8")

    @property
    def bindir(self) -> Path:
        env = (self.dir / "server.env").read_text()
        return Path(re.search(r"^BINDIR=(.*)$", env, re.M).group(1))

    @property
    def superuser_password(self) -> str:
        """Password of superuser 'postgres' over TCP (the unix socket in dir needs none)."""
        return (self.dir / "superuser.password").read_text().strip()

    def server_pid(self) -> int:
        return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])

    def sql(self, query: str, *, database: str | None = None, admin: bool = False,
            timeout: float = SQL_TIMEOUT) -> list[tuple]:
        if admin:  # superuser over the private unix socket (trust)
            conn = ["-h", self.dir, "-p", self.port, "-U", "postgres"]
        else:      # etl with its password over TCP, like the code under test
            conn = ["-h", self.host, "-p", self.port, "-U", self.user]
        cmd = [self.bindir / "psql", "-X", "-q", "--csv", "-t", "-v", "ON_ERROR_STOP=1",
               "-P", f"null={self._NULL}", *conn, "-d", database or self.database, "-f", "-"]
        env = _clean_env(PGPASSWORD=self.password, PGCLIENTENCODING="UTF8", PGCONNECT_TIMEOUT="10")
        res = _run(cmd, input=query, env=env, timeout=timeout, what=f"psql: {_short(query)}")
        return [tuple(None if v == self._NULL else v for v in row)
                for row in csv.reader(io.StringIO(res.stdout, newline=""))]


class MariaDbServer(_Server):
    """MariaDB: 'etl'@'127.0.0.1' / 'etl'@'localhost' password etl, ALL on shop.* and FILE.
    SELECT ... INTO OUTFILE / LOAD DATA INFILE work in files_dir only; LOAD DATA LOCAL INFILE
    is on. Admin: sql(..., admin=True) is root through unix_socket auth on the socket."""

    kind = "mariadb"
    script = "mariadb.sh"
    database = "shop"
    log_name = "error.log"
    _XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    # XML 1.0 cannot carry most control characters and folds \r; they travel as private-use
    # characters of plane 15 through the parser and are put back afterwards.
    _CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f]")
    _PUA = re.compile(r"[\U000F0000-\U000F001F]")

    @property
    def url(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def socket_path(self) -> Path:
        return self.dir / "mysqld.sock"

    @property
    def files_dir(self) -> Path:
        """The --secure-file-priv folder: INTO OUTFILE and LOAD DATA INFILE work here."""
        return self.dir / "files"

    def server_pid(self) -> int:
        return int((self.dir / "mariadb.pid").read_text().strip())

    @staticmethod
    def client_binary() -> str:
        for name in ("mariadb", "mysql"):
            path = shutil.which(name)
            if path:
                return path
        raise ServerError("no mariadb/mysql client found; run scripts/servers/mariadb.sh install")

    def sql(self, query: str, *, database: str | None = None, admin: bool = False,
            timeout: float = SQL_TIMEOUT) -> list[tuple]:
        if admin:
            user = pwd.getpwuid(os.geteuid()).pw_name  # unix_socket auth: OS user = DB user
            conn = [f"--socket={self.socket_path}", f"--user={user}"]
        else:
            conn = ["--protocol=tcp", f"--host={self.host}", f"--port={self.port}",
                    f"--user={self.user}", f"--password={self.password}"]
        cmd = [self.client_binary(), "--no-defaults", *conn, f"--database={database or self.database}",
               "--default-character-set=utf8mb4", "--local-infile=1", "--connect-timeout=10",
               "--batch", "--xml"]
        # The client drops a \r before a line break in what it reads from stdin, not in -e;
        # stdin only for queries too long for one argument.
        if len(query.encode("utf-8", "surrogateescape")) < 100_000 and "\x00" not in query:
            cmd, stdin = [*cmd, "--execute", query], None
        else:
            stdin = query
        res = _run(cmd, input=stdin, env=_clean_env(), timeout=timeout,
                   what=f"mariadb: {_short(query)}")
        return self._parse_xml(res.stdout)

    @classmethod
    def _parse_xml(cls, out: str) -> list[tuple]:
        rows: list[tuple] = []
        text = cls._CTRL.sub(lambda m: chr(0xF0000 + ord(m.group())), out)
        for doc in text.split('<?xml version="1.0"?>'):
            if not doc.strip():
                continue
            root = ET.fromstring(doc)
            for row in root.iter("row"):
                rows.append(tuple(
                    None if f.get(cls._XSI_NIL) == "true"
                    else cls._PUA.sub(lambda m: chr(ord(m.group()) - 0xF0000), f.text or "")
                    for f in row.iter("field")))
        return rows
