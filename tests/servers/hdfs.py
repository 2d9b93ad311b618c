"""A real HDFS cluster for tests: 1 NameNode + 2 DataNodes (three JVMs) on 127.0.0.1 (standard
library only).

    from hdfs import HdfsCluster
    with HdfsCluster().start() as hdfs:
        hdfs.url                                   # webhdfs://127.0.0.1:<NameNode HTTP port>
        hdfs.mkdirs("/lake", owner="etl")          # as the superuser, then SETOWNER
        hdfs.put("/lake/a.csv", b"x,y\\n", user="etl")
        hdfs.fsck("/lake")                         # text with Live_repl=2 per block
        hdfs.kill_datanode(2); hdfs.start_datanode(2)

Started by scripts/servers/hdfs.sh (Hadoop 3.5.0 jars from the cache that `hdfs.sh install`
fills; the deps step runs it, tests never download). Replication 2, permissions on, simple
auth: the user is the `user.name=` parameter; the superuser is the OS user running the
NameNode. A killed DataNode counts as dead after ~14 s (fast heartbeat settings).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from servers import HOST, SCRIPTS, ServerError

SCRIPT = SCRIPTS / "hdfs.sh"
# Seconds the cluster may take to become ready; the script reads it too.
START_TIMEOUT = int(os.environ.get("SLUICE_SERVER_START_TIMEOUT", "120"))
INSTALL_TIMEOUT = 1200
HTTP_TIMEOUT = 60


class WebHdfsError(ServerError):
    """A WebHDFS call answered an HTTP error. `status` is the HTTP code, `exception` the
    RemoteException name (AccessControlException, FileNotFoundException, ...) or ""."""

    def __init__(self, method: str, url: str, status: int, body: str):
        self.status = status
        self.exception = ""
        self.remote_message = body
        try:
            remote = json.loads(body)["RemoteException"]
            self.exception = remote.get("exception", "")
            self.remote_message = remote.get("message", "")
        except (ValueError, KeyError, TypeError):
            pass
        first_line = self.remote_message.splitlines()[0] if self.remote_message else ""
        super().__init__(f"{method} {url}: HTTP {status} {self.exception}: {first_line}")


def _run(args, timeout: float) -> subprocess.CompletedProcess:
    cmd = ["bash", str(SCRIPT), *map(str, args)]
    env = dict(os.environ, SLUICE_SERVER_START_TIMEOUT=str(START_TIMEOUT))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise ServerError(f"hdfs.sh {' '.join(map(str, args))}: timed out after {timeout} s\n"
                          f"{e.stdout or ''}{e.stderr or ''}") from None
    if res.returncode != 0:
        raise ServerError(f"hdfs.sh {' '.join(map(str, args))}: exit {res.returncode}\n"
                          f"--- stdout ---\n{res.stdout[-4000:]}\n--- stderr ---\n{res.stderr[-16000:]}")
    return res


class HdfsCluster:
    _installed = False

    def __init__(self):
        self.dir: Path | None = None
        self._own_dir = False
        self.env: dict[str, str] = {}

    # ---- lifecycle -------------------------------------------------------------------

    @classmethod
    def install(cls) -> None:
        """Fill the jar cache if needed (fast no-op when complete)."""
        if not cls._installed:
            _run(["install"], INSTALL_TIMEOUT)
            cls._installed = True

    def start(self, tmp_dir: str | os.PathLike | None = None) -> "HdfsCluster":
        """Format (first use of the folder) and start the cluster; returns once 2 DataNodes
        are live and safe mode is off. tmp_dir: a fresh temp folder when None."""
        if tmp_dir is not None:
            self.dir, self._own_dir = Path(tmp_dir).resolve(), False
        elif self.dir is None:
            self.dir, self._own_dir = Path(tempfile.mkdtemp(prefix="sluice-hdfs-")), True
        _run(["start", self.dir], START_TIMEOUT + 60)
        self._load_env()
        return self

    def _load_env(self) -> None:
        env = {}
        for line in (self.dir / "cluster.env").read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                env[key.strip()] = value.strip()
        self.env = env

    def stop(self) -> None:
        """Stop all daemons (SIGTERM, SIGKILL after a few seconds); no-op when none runs."""
        if self.dir is not None and (self.dir / "cluster.env").exists():
            _run(["stop", self.dir], 120)

    def cleanup(self, ignore_errors: bool = False) -> None:
        """Stop and delete the folder this object made (kept with SLUICE_KEEP_SERVER_DIRS=1)."""
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

    # ---- faults ------------------------------------------------------------------------

    def kill_datanode(self, n: int) -> None:
        """kill -9 DataNode n (1 or 2). The NameNode notices after ~14 s."""
        _run(["kill-datanode", self.dir, n], 60)

    def start_datanode(self, n: int) -> None:
        """Start DataNode n again; returns once the NameNode counts 2 live DataNodes."""
        _run(["start-datanode", self.dir, n], START_TIMEOUT + 60)

    def stop_namenode(self) -> None:
        """kill -9 the NameNode (the DataNodes keep running and retry)."""
        _run(["stop-namenode", self.dir], 60)

    def start_namenode(self) -> None:
        """Start the NameNode again (no format); returns once it is out of safe mode with 2
        live DataNodes."""
        _run(["start-namenode", self.dir], START_TIMEOUT + 60)

    # ---- facts -------------------------------------------------------------------------

    @property
    def http_port(self) -> int:
        return int(self.env["NN_HTTP_PORT"])

    @property
    def rpc_port(self) -> int:
        return int(self.env["NN_RPC_PORT"])

    @property
    def superuser(self) -> str:
        return self.env["SUPERUSER"]

    @property
    def url(self) -> str:
        return f"webhdfs://{HOST}:{self.http_port}"

    def datanode_port(self, n: int, kind: str = "XFER") -> int:
        """A DataNode's port: kind XFER (data transfer, what excludedatanodes= wants), HTTP,
        IPC or HTTPS."""
        return int(self.env[f"DN{n}_{kind.upper()}_PORT"])

    def log_tail(self, name: str = "nn", lines: int = 80) -> str:
        try:
            text = (self.dir / f"{name}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def jmx(self, query: str) -> dict:
        """The first bean of a NameNode JMX query, e.g. 'Hadoop:service=NameNode,name=FSNamesystemState'."""
        url = f"http://{HOST}:{self.http_port}/jmx?qry={urllib.parse.quote(query, safe=':=,')}"
        beans = json.loads(self._http("GET", url))["beans"]
        if not beans:
            raise ServerError(f"no JMX bean {query}")
        return beans[0]

    def live_datanodes(self) -> int:
        return int(self.jmx("Hadoop:service=NameNode,name=FSNamesystemState")["NumLiveDataNodes"])

    def dead_datanodes(self) -> int:
        return int(self.jmx("Hadoop:service=NameNode,name=FSNamesystemState")["NumDeadDataNodes"])

    def fsck(self, path: str = "/") -> str:
        """fsck -files -blocks -locations as text (each block line shows Live_repl=N)."""
        q = urllib.parse.urlencode({"ugi": self.superuser, "path": path, "files": 1, "blocks": 1,
                                    "locations": 1})
        return self._http("GET", f"http://{HOST}:{self.http_port}/fsck?{q}").decode("utf-8", "replace")

    # ---- WebHDFS -----------------------------------------------------------------------

    def _http(self, method: str, url: str, data: bytes | None = None,
              timeout: float = HTTP_TIMEOUT) -> bytes:
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/octet-stream")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            raise WebHdfsError(method, url, e.code, body) from None
        except (urllib.error.URLError, OSError) as e:
            raise ServerError(f"{method} {url}: {e}") from None

    def webhdfs_url(self, path: str, op: str, user: str | None = None, **params) -> str:
        if not path.startswith("/"):
            raise ValueError(f"HDFS path must be absolute: {path!r}")
        q = {"op": op, "user.name": user or self.superuser}
        q.update({k: v for k, v in params.items() if v is not None})
        return (f"http://{HOST}:{self.http_port}/webhdfs/v1{urllib.parse.quote(path)}?"
                f"{urllib.parse.urlencode(q)}")

    def _json(self, method: str, path: str, op: str, user: str | None = None, **params):
        body = self._http(method, self.webhdfs_url(path, op, user, **params))
        return json.loads(body) if body.strip() else None

    def mkdirs(self, path: str, owner: str | None = None, permission: int | str | None = None,
               group: str | None = None) -> None:
        """MKDIRS as the superuser (parents too), then SETOWNER / SETPERMISSION (an int is taken
        as octal bits: 0o750 -> "750")."""
        if not self._json("PUT", path, "MKDIRS")["boolean"]:
            raise ServerError(f"MKDIRS {path} returned false")
        if owner or group:
            self._json("PUT", path, "SETOWNER", owner=owner, group=group)
        if permission is not None:
            perm = format(permission, "o") if isinstance(permission, int) else permission
            self._json("PUT", path, "SETPERMISSION", permission=perm)

    def put(self, path: str, data: bytes, user: str | None = None, overwrite: bool = False) -> None:
        """Two-step CREATE: the NameNode names a DataNode (noredirect=true gives the Location
        as JSON), the bytes go there. 201 Created on success."""
        loc = self._json("PUT", path, "CREATE", user, overwrite=str(overwrite).lower(),
                         noredirect="true")["Location"]
        self._http("PUT", loc, data=bytes(data))

    def get(self, path: str, user: str | None = None) -> bytes:
        """OPEN through the DataNode the NameNode names."""
        loc = self._json("GET", path, "OPEN", user, noredirect="true")["Location"]
        return self._http("GET", loc)

    def list(self, path: str, user: str | None = None) -> list[str]:
        """Names in a folder, sorted."""
        st = self._json("GET", path, "LISTSTATUS", user)["FileStatuses"]["FileStatus"]
        return sorted(s["pathSuffix"] for s in st)

    def status(self, path: str, user: str | None = None) -> dict | None:
        """GETFILESTATUS's FileStatus, or None when the path does not exist."""
        try:
            return self._json("GET", path, "GETFILESTATUS", user)["FileStatus"]
        except WebHdfsError as e:
            if e.status == 404:
                return None
            raise

    def delete(self, path: str, recursive: bool = True, user: str | None = None) -> bool:
        """DELETE; False when the path did not exist (WebHDFS answers 200 false then)."""
        return bool(self._json("DELETE", path, "DELETE", user,
                               recursive=str(recursive).lower())["boolean"])

    def wait_for(self, predicate, timeout: float, what: str, interval: float = 0.5):
        """Poll predicate() until it returns a true value (returned) or raise ServerError."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise ServerError(f"{what}: not reached within {timeout} s")
            time.sleep(interval)

    def __repr__(self):
        return f"<HdfsCluster {self.url if self.env else '(not started)'} dir={self.dir}>"
