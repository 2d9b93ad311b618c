"""Shared helpers for sluice's end-to-end tests.

Every test drives the real binary ($SLUICE_BIN, default build/sluice) in its own tmp_path.
DuckDB's Python package is used only as an independent Parquet reader; SQLite (stdlib) reads
the state database.
"""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]

# The HDFS and Spark clusters are shared by test_hdfs.py and test_spark.py (Spark on an HDFS
# lake): imported here, each starts at most once per session, and only when a test asks.
import sys  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "servers"))
from conftest_fixtures import hdfs_cluster, spark_cluster  # noqa: E402,F401
DATA_DIR = REPO / "tests" / "data"
EXAMPLES = REPO / "examples"
DEFAULT_TIMEOUT = 120


def sluice_bin() -> str:
    """The binary under test. A build in progress removes it for a moment, so when it is
    briefly missing we wait for it instead of failing."""
    return _wait_for_binary(os.environ.get("SLUICE_BIN", str(REPO / "build" / "sluice")))


def gen_bin() -> str:
    """sluice-gen, the test-data tool built beside the binary under test."""
    default = str(Path(os.environ.get("SLUICE_BIN", str(REPO / "build" / "sluice"))).parent
                  / "sluice-gen")
    return _wait_for_binary(os.environ.get("SLUICE_GEN", default))


def _wait_for_binary(path: str) -> str:
    deadline = time.monotonic() + 180
    while not (os.path.isfile(path) and os.access(path, os.X_OK)):
        if time.monotonic() > deadline:
            pytest.fail(f"sluice binary {path} does not exist (set SLUICE_BIN or build it)")
        time.sleep(2)
    return path


@dataclass
class Result:
    args: list
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (f"sluice {' '.join(map(str, self.args))} -> exit {self.returncode} "
                f"in {self.seconds:.1f}s\n--- stdout ---\n{self.stdout[-6000:]}\n"
                f"--- stderr ---\n{self.stderr[-6000:]}")


def run_gen(*args, cwd=None, env=None, timeout=DEFAULT_TIMEOUT, expect=0) -> "Result":
    """Runs sluice-gen with args (sample data), asserting its exit code."""
    return run_sluice(*args, cwd=cwd, env=env, timeout=timeout, expect=expect, binary=gen_bin())


def run_sluice(*args, cwd=None, env=None, timeout=DEFAULT_TIMEOUT, expect=None,
               binary=None) -> Result:
    """Runs sluice with args; a hang fails the test after `timeout` seconds. With `expect`,
    asserts the exit code and shows the whole output when it differs."""
    full_env = dict(os.environ)
    full_env.pop("SLUICE_FAULT", None)
    if env:
        full_env.update(env)
    cmd = [binary or sluice_bin()] + [str(a) for a in args]
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"sluice {' '.join(map(str, args))} did not finish within {timeout}s\n"
                    f"stdout: {(e.stdout or b'')[-3000:]!r}\nstderr: {(e.stderr or b'')[-3000:]!r}")
    r = Result([str(a) for a in args], p.returncode,
               p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"),
               time.monotonic() - start)
    if expect is not None:
        assert r.returncode == expect, f"expected exit {expect}\n{r}"
    return r


def write_pipeline(folder: Path, text: str, name: str = "pipeline.yaml") -> Path:
    """Writes a pipeline file (dedented) into folder and returns its path."""
    path = Path(folder) / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def query_json(pipeline: Path, sql: str, date: str = None, **kw):
    """Rows of `sluice query --format json`, decimals kept exact."""
    args = ["query", "--pipeline", pipeline, "--format", "json"]
    if date:
        args += ["--date", date]
    r = run_sluice(*args, sql, **kw)
    assert r.returncode == 0, str(r)
    from decimal import Decimal
    return json.loads(r.stdout, parse_float=Decimal)


# ---------------------------------------------------------------------------------------------
# Run output


def summary_rows(stdout: str) -> dict:
    """The summary table printed at the end of `sluice run`: task -> dict(status, attempts,
    read, loaded, rejected)."""
    rows = {}
    lines = stdout.splitlines()
    try:
        start = max(i for i, l in enumerate(lines) if re.match(r"^\s+task\s+status\s+attempts", l))
    except ValueError:
        return rows
    for line in lines[start + 1:]:
        m = re.match(r"^\s+(\w+)\s+(\w+)\s+(\d+)\s+(\S+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s*$",
                     line)
        if not m:
            break
        rows[m.group(1)] = {
            "status": m.group(2),
            "attempts": int(m.group(3)),
            "read": int(m.group(5).replace(",", "")),
            "loaded": int(m.group(6).replace(",", "")),
            "rejected": int(m.group(7).replace(",", "")),
        }
    return rows


def reconciliation_line(stdout: str, task: str):
    """(read, loaded, rejected) from the '<task>: read N = loaded L + rejected R' line."""
    m = re.search(rf"^\s*{task}: read ([\d,]+) = loaded ([\d,]+) \+ rejected ([\d,]+)\s*$",
                  stdout, re.M)
    if not m:
        return None
    return tuple(int(g.replace(",", "")) for g in m.groups())


# ---------------------------------------------------------------------------------------------
# Lake


def partition_dir(lake: Path, dataset: str, ds: str) -> Path:
    zone, name = dataset.split(".")
    return Path(lake) / zone / name / f"ds={ds}"


def read_manifest(lake: Path, dataset: str, ds: str) -> dict:
    return json.loads((partition_dir(lake, dataset, ds) / "_SUCCESS").read_text())


def parquet_files(lake: Path, dataset: str, ds: str):
    return sorted(partition_dir(lake, dataset, ds).glob("*.parquet"))


def _sql_list(files):
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def manifest_files(lake: Path, dataset: str, ds: str):
    """The data files a published partition's manifest names, as paths (str)."""
    m = read_manifest(lake, dataset, ds)
    return [str(partition_dir(lake, dataset, ds) / f["name"]) for f in m["files"]]


def read_rows(lake: Path, dataset: str, ds: str, order_by: str = None):
    """Rows of a published partition, read independently with DuckDB from the files its
    manifest names (no hive columns)."""
    files = manifest_files(lake, dataset, ds)
    if not files:
        return []
    con = duckdb.connect()
    sql = f"SELECT * FROM read_parquet({_sql_list(files)}, hive_partitioning = false)"
    if order_by:
        sql += f" ORDER BY {order_by}"
    return con.execute(sql).fetchall()


def read_columns(lake: Path, dataset: str, ds: str):
    """[(name, type)] of a partition's Parquet file(s)."""
    files = parquet_files(lake, dataset, ds)
    con = duckdb.connect()
    rel = con.execute(f"DESCRIBE SELECT * FROM read_parquet({_sql_list(files)}, "
                      "hive_partitioning = false)").fetchall()
    return [(r[0], r[1]) for r in rel]


def rows_checksum(lake: Path, dataset: str, ds: str, exclude=()) -> tuple:
    """An order-independent checksum of a partition's rows: (count, sum of row hashes),
    leaving out the columns in exclude."""
    files = parquet_files(lake, dataset, ds)
    con = duckdb.connect()
    cols = "*" + (f" EXCLUDE ({', '.join(exclude)})" if exclude else "")
    return con.execute(
        f"SELECT count(*), coalesce(sum(hash(t::VARCHAR)), 0) FROM (SELECT {cols} FROM "
        f"read_parquet({_sql_list(files)}, hive_partitioning = false)) t").fetchone()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) by an independent implementation: the crc32c package (the ICRAR
    library, the one Debian ships as python3-crc32c)."""
    import crc32c as _crc32c
    return _crc32c.crc32c(data)


def assert_manifest_matches_files(lake: Path, dataset: str, ds: str, check_crc=True):
    """The _SUCCESS manifest describes exactly the files in the partition: names, sizes,
    row count and (for small files) CRC-32C. (The schema has its own check,
    assert_manifest_schema_matches_files, so that one defect does not hide the others.)"""
    pdir = partition_dir(lake, dataset, ds)
    m = read_manifest(lake, dataset, ds)
    assert m["dataset"] == dataset
    assert m["partition"] == f"ds={ds}"
    assert m["format_version"] == 1
    assert re.fullmatch(r"crc32c:[0-9a-f]{8}", m["checksum"]), m["checksum"]
    on_disk = {p.name: p.stat().st_size for p in pdir.iterdir() if p.name != "_SUCCESS"}
    listed = {f["name"]: f["bytes"] for f in m["files"]}
    assert listed == on_disk, f"{dataset} ds={ds}: manifest files {listed} != on disk {on_disk}"
    assert m["bytes"] == sum(on_disk.values())
    rows = len(read_rows(lake, dataset, ds))
    assert m["rows"] == rows, f"{dataset} ds={ds}: manifest says {m['rows']} rows, files {rows}"
    if check_crc:
        for f in m["files"]:
            data = (pdir / f["name"]).read_bytes()
            assert f"{crc32c(data):08x}" == f["crc32c"], f"crc32c of {f['name']}"
        # The partition's checksum: CRC-32C over the files' CRC-32C values (hex), in order.
        combined = crc32c("".join(f["crc32c"] for f in m["files"]).encode())
        assert m["checksum"] == f"crc32c:{combined:08x}", m["checksum"]
    return m


def assert_manifest_schema_matches_files(lake: Path, dataset: str, ds: str):
    """The manifest's schema lists exactly the columns (names and types) of its files."""
    m = read_manifest(lake, dataset, ds)
    listed = [(c["name"], c["type"]) for c in m["schema"]]
    actual = read_columns(lake, dataset, ds)
    assert listed == actual, (f"{dataset} ds={ds}: manifest schema {listed} != columns of the "
                              f"Parquet files {actual}")


def lake_leftovers(lake: Path, strict: bool = False):
    """Paths under _staging and _trash: the files, or with strict every entry (empty folders
    too)."""
    left = []
    for sub in ("_staging", "_trash"):
        d = Path(lake) / sub
        if d.exists():
            left += [str(p.relative_to(lake)) for p in sorted(d.rglob("*"))
                     if strict or p.is_file()]
    return left


def assert_no_leftovers(lake: Path):
    """Neither _staging nor _trash holds any file (after a run or a recovery). Empty folders
    have their own strict test, so that they do not hide other defects."""
    left = lake_leftovers(lake)
    assert left == [], f"leftovers after a run or recovery: {left[:20]}"


# ---------------------------------------------------------------------------------------------
# State


def state_db(folder: Path, state_dir: str = ".sluice") -> sqlite3.Connection:
    path = Path(folder) / state_dir / "state.db"
    assert path.exists(), f"no state database at {path}"
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    return con


def state_query(folder: Path, sql: str, params=(), state_dir: str = ".sluice"):
    con = state_db(folder, state_dir)
    try:
        return [dict(r) for r in con.execute(sql, params).fetchall()]
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Processes


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


class Background:
    """A sluice process run in the background, always reaped (a zombie would look alive to
    sluice's dead-run detection)."""

    def __init__(self, *args, cwd=None, env=None):
        full_env = dict(os.environ)
        full_env.pop("SLUICE_FAULT", None)
        if env:
            full_env.update(env)
        self.out = open(Path(cwd or ".") / f".bg-{time.monotonic_ns()}.out", "w+b")
        self.err = open(Path(cwd or ".") / f".bg-{time.monotonic_ns()}.err", "w+b")
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sluice_bin()] + [str(a) for a in args], cwd=cwd,
                                     env=full_env, stdout=self.out, stderr=self.err)

    def stdout(self) -> str:
        self.out.flush()
        return Path(self.out.name).read_bytes().decode("utf-8", "replace")

    def stderr(self) -> str:
        self.err.flush()
        return Path(self.err.name).read_bytes().decode("utf-8", "replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"sluice did not exit within {timeout}s\nstdout: {self.stdout()[-3000:]}\n"
                        f"stderr: {self.stderr()[-3000:]}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def close(self):
        self.kill()
        self.out.close()
        self.err.close()


@pytest.fixture
def background():
    """Starts background sluice processes; kills and reaps whatever is left at the end."""
    procs = []

    def start(*args, **kw):
        b = Background(*args, **kw)
        procs.append(b)
        return b

    yield start
    for b in procs:
        b.close()


@pytest.fixture(scope="session")
def sluice():
    return sluice_bin()


def copy_tree(src: Path, dst: Path):
    shutil.copytree(src, dst, dirs_exist_ok=True)
