"""A real Spark standalone cluster with a Spark Connect server, for tests: 1 Master + 2 Workers
+ the Connect server (the driver), whose application holds one executor on each Worker; all on
127.0.0.1 (standard library only).

    from spark import SparkCluster
    with SparkCluster().start() as spark:
        spark.connect_url                          # sc://127.0.0.1:<gRPC port>
        spark.alive_workers()                      # the Master's ALIVE Workers (dicts)
        spark.executors()                          # the driver's REST API: driver + executors
        spark.kill_worker(2); spark.start_worker(2)
        spark.stop_connect(); spark.start_connect()

Started by scripts/servers/spark.sh from the pyspark 4.3.0 package (a venv in the cache that
`spark.sh install` fills; the deps step runs it, tests never download). Java 17. Workers have
1 core and 1g each; the Connect application asks for executors of 512m and 1 core, 2 cores at
most. The Connect server is plain gRPC without TLS; with SPARK_CONNECT_TOKEN set in the
environment of start(), it requires the header "authorization: Bearer <token>".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from servers import HOST, SCRIPTS, ServerError

SCRIPT = SCRIPTS / "spark.sh"
# Seconds the cluster may take to become ready; the script reads it too.
START_TIMEOUT = int(os.environ.get("SLUICE_SERVER_START_TIMEOUT", "180"))
INSTALL_TIMEOUT = 1200
HTTP_TIMEOUT = 30
APP_NAME = "sluice-connect"


def _run(args, timeout: float) -> subprocess.CompletedProcess:
    cmd = ["bash", str(SCRIPT), *map(str, args)]
    env = dict(os.environ, SLUICE_SERVER_START_TIMEOUT=str(START_TIMEOUT))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise ServerError(f"spark.sh {' '.join(map(str, args))}: timed out after {timeout} s\n"
                          f"{e.stdout or ''}{e.stderr or ''}") from None
    if res.returncode != 0:
        raise ServerError(f"spark.sh {' '.join(map(str, args))}: exit {res.returncode}\n"
                          f"--- stdout ---\n{res.stdout[-4000:]}\n--- stderr ---\n{res.stderr[-16000:]}")
    return res


class SparkCluster:
    _installed = False

    def __init__(self):
        self.dir: Path | None = None
        self._own_dir = False
        self.env: dict[str, str] = {}

    # ---- lifecycle -------------------------------------------------------------------

    @classmethod
    def install(cls) -> None:
        """Fill the pyspark cache if needed (fast no-op when complete)."""
        if not cls._installed:
            _run(["install"], INSTALL_TIMEOUT)
            cls._installed = True

    def start(self, tmp_dir: str | os.PathLike | None = None) -> "SparkCluster":
        """Start Master, 2 Workers and the Connect server; returns once 2 Workers are ALIVE,
        the Connect port answers and the application runs with 2 executors. tmp_dir: a fresh
        temp folder when None."""
        if tmp_dir is not None:
            self.dir, self._own_dir = Path(tmp_dir).resolve(), False
        elif self.dir is None:
            self.dir, self._own_dir = Path(tempfile.mkdtemp(prefix="sluice-spark-")), True
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
        """Stop every JVM of the cluster (SIGTERM, SIGKILL after a few seconds); no-op when
        none runs."""
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

    def kill_worker(self, n: int) -> None:
        """kill -9 Worker n (1 or 2) and its executor JVMs. The Master notices at once (the
        connection drops) and marks it DEAD."""
        _run(["kill-worker", self.dir, n], 60)

    def start_worker(self, n: int) -> None:
        """Start Worker n again; returns once 2 Workers are ALIVE and, while the Connect
        server runs, its application has 2 executors again."""
        _run(["start-worker", self.dir, n], START_TIMEOUT + 60)

    def stop_connect(self) -> None:
        """Stop the Connect server (SIGTERM; its application ends and its executors go)."""
        _run(["stop-connect", self.dir], 120)

    def start_connect(self) -> None:
        """Start the Connect server again on the same port; returns once it is ready (a new
        application with 2 executors)."""
        _run(["start-connect", self.dir], START_TIMEOUT + 60)

    # ---- facts -------------------------------------------------------------------------

    @property
    def connect_port(self) -> int:
        return int(self.env["CONNECT_PORT"])

    @property
    def connect_url(self) -> str:
        return f"sc://{HOST}:{self.connect_port}"

    @property
    def master_port(self) -> int:
        return int(self.env["MASTER_PORT"])

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.master_port}"

    @property
    def master_ui_port(self) -> int:
        return int(self.env["MASTER_UI_PORT"])

    @property
    def driver_ui_port(self) -> int:
        return int(self.env["DRIVER_UI_PORT"])

    def worker_ui_port(self, n: int) -> int:
        return int(self.env[f"WORKER{n}_UI_PORT"])

    @property
    def spark_home(self) -> Path:
        return Path(self.env["SPARK_HOME"])

    def log_tail(self, name: str = "connect", lines: int = 80) -> str:
        """The end of DIR/<name>.log: master, worker1, worker2 or connect."""
        try:
            text = (self.dir / f"{name}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ---- HTTP (Master and Worker JSON, the driver's REST API) --------------------------

    def _get_json(self, url: str, timeout: float = HTTP_TIMEOUT):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")[:2000]
            raise ServerError(f"GET {url}: HTTP {e.code}: {body}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise ServerError(f"GET {url}: {e}") from None

    def master_json(self) -> dict:
        """The Master's /json/: workers (with state ALIVE/DEAD), activeapps, completedapps..."""
        return self._get_json(f"http://{HOST}:{self.master_ui_port}/json/")

    def alive_workers(self) -> list[dict]:
        """The Workers the Master lists as ALIVE (dicts with id, host, port, webuiaddress,
        cores, memory, ...)."""
        return [w for w in self.master_json().get("workers", []) if w.get("state") == "ALIVE"]

    def worker_json(self, n: int) -> dict:
        """Worker n's /json/: its executors (id, appid, memory, ...)."""
        return self._get_json(f"http://{HOST}:{self.worker_ui_port(n)}/json/")

    def connect_app(self) -> dict | None:
        """The Connect application as the Master lists it among activeapps (id, state, cores),
        or None."""
        apps = [a for a in self.master_json().get("activeapps", []) if a.get("name") == APP_NAME]
        return apps[0] if apps else None

    def app_id(self) -> str:
        """The application id of the running Connect server (the driver's REST API)."""
        apps = self._get_json(f"http://{HOST}:{self.driver_ui_port}/api/v1/applications")
        if not apps:
            raise ServerError("the driver's REST API lists no application")
        return apps[0]["id"]

    def executors(self) -> list[dict]:
        """The driver's REST API /applications/<app>/executors: the active executors, the
        driver included (id "driver"); dicts with id, hostPort, isActive, completedTasks,
        totalCores, ..."""
        return self._get_json(
            f"http://{HOST}:{self.driver_ui_port}/api/v1/applications/{self.app_id()}/executors")

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
        return f"<SparkCluster {self.connect_url if self.env else '(not started)'} dir={self.dir}>"
