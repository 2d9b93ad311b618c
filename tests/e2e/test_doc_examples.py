"""Every YAML example in README.md and docs/ validates (issue: data loss, hangs and rough
edges, item 4): a user copies them first.

A whole pipeline is validated as it is. A fragment (a list of tasks, or top-level keys like
engine: or connections:) is put into a minimal pipeline; what it refers to outside itself
(a dataset another task produces, a connection, a .sql model file, a secret) is stood in for
by a stub, and then `sluice validate` must report nothing."""

import os
import re
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, run_sluice

DOCS = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
TOP_KEYS = ("pipeline", "description", "schedule", "timezone", "start_date", "end_date",
            "catchup", "max_active_runs", "pools", "on_failure", "on_success", "on_late",
            "deadline", "defaults", "lake", "warehouse", "state", "engine", "max_parallel",
            "vars", "connections", "hdfs", "tasks")


def examples():
    out = []
    for f in DOCS:
        text = f.read_text()
        for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
            line = text[:m.start()].count("\n") + 2
            out.append(pytest.param(m.group(1), id=f"{f.name}:{line}"))
    return out


def as_pipeline(block: str) -> str:
    block = textwrap.dedent(block)
    first = block.lstrip().split(":", 1)[0].strip()
    if block.lstrip().startswith("- "):
        return "pipeline: doc_example\ntasks:\n" + textwrap.indent(block, "  ")
    if first == "pipeline":
        return block
    assert first in TOP_KEYS, f"not a pipeline file nor a fragment of one:\n{block}"
    text = "pipeline: doc_example\n" + block
    if not re.search(r"^tasks:", text, re.M):
        text += "\ntasks:\n  - {id: stub_task, kind: sql, into: stub.task, sql: SELECT 1 AS x}\n"
    return text


@pytest.mark.parametrize("block", examples())
def test_doc_example_validates(tmp_path, block):
    text = as_pipeline(block)
    env = {}
    stubs = []        # datasets read but produced by no task of the example
    stub_tasks = []   # ids in after: that are no task of the example
    connections = []  # connections used but not defined
    variables = []    # var() without a value
    for name in set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", text)):
        env[name] = "stub-secret-value"
    for path in set(re.findall(r"\$\{file:([^}]+)\}", text)):
        p = Path(os.path.expanduser(path)) if path.startswith("~") else tmp_path / path
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("stub-secret-value\n")
            p.chmod(0o600)
    for path in set(re.findall(r"sql:\s*(\S+\.sql)\b", text)):
        p = tmp_path / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("SELECT 1 AS x\n")
    for _ in range(5):
        full = text
        if connections:
            full = re.sub(r"^tasks:", "connections:\n" + "".join(
                (f"  {c}: {{type: sftp, host: bi.example.com}}\n" if "sftp://" in full else
                 f"  {c}: {{type: postgres, host: localhost, database: stub, user: stub}}\n")
                for c in connections) + "tasks:",
                full, count=1, flags=re.M) if "\nconnections:" not in full else full
        full += "".join(f"  - {{id: stub_{i}, kind: sql, into: {d}, sql: SELECT 1 AS x}}\n"
                        for i, d in enumerate(stubs))
        full += "".join(f"  - {{id: {t}, kind: sql, into: stub.{t}, sql: SELECT 1 AS x}}\n"
                        for t in stub_tasks)
        (tmp_path / "pipeline.yaml").write_text(full)
        args = [a for v in variables for a in ("--var", f"{v}=1")]
        # --offline: the examples name servers that do not exist (sc://spark.example.com).
        r = run_sluice("validate", tmp_path / "pipeline.yaml", "--offline", *args, cwd=tmp_path,
                       env=env)
        if r.returncode == 0:
            return
        missing = re.findall(r"reads ([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*), which no task produces",
                             r.stderr)
        conns = re.findall(r"connection '([^']+)' is not defined", r.stderr)
        afters = re.findall(r"runs after '([^']+)', which is not a task", r.stderr)
        novalue = re.findall(r"var\('([^']+)'\) has no value", r.stderr)
        if not (missing or conns or afters or novalue):
            break
        stubs += [d for d in missing if d not in stubs]
        connections += [c for c in conns if c not in connections]
        stub_tasks += [t for t in afters if t not in stub_tasks]
        variables += [v for v in novalue if v not in variables]
    pytest.fail(f"the example does not validate:\n{full}\n--- sluice validate ---\n{r.stderr}")
