"""`sluice ui`'s REST API and its security, through the real binary over HTTP: what each call
answers compared with the state store and the lake, the actions (run, clear, backfill, pause,
cancel), the token and the login, cross-origin and non-JSON changes, Host headers, paths that
try to leave the state or lake folder, and secrets that must not show."""

import json
import os
import re
import sqlite3
import time
from pathlib import Path

import duckdb
import pytest

from conftest import (partition_dir, read_manifest, run_sluice, state_query, wait_for,
                      write_pipeline)
from ui_harness import UiProcess

D1 = "2026-11-21"
D2 = "2026-11-22"
SECRET = "s3cr3t-value-for-the-ui-test"
XSS = "<script>alert('x')</script>"

SHOP = """
    pipeline: webshop
    schedule: "0 2 * * *"
    timezone: Europe/Berlin
    start_date: 2026-11-01
    connections:
      dwh: {type: postgres, host: 127.0.0.1, port: 1, database: dwh, user: etl,
            password: "${env:UI_TEST_SECRET}"}
    tasks:
      - id: ingest
        kind: csv_import
        path: input_{{ ds_nodash }}.csv
        into: raw.orders
        columns: {id: BIGINT, customer: VARCHAR, amount: "DECIMAL(10,2)"}
        rejects: {max: 50%}
      - id: clean
        kind: sql
        into: staging.orders
        sql: SELECT * FROM {{ ref('raw.orders') }} WHERE amount >= 0
      - id: check_orders
        kind: check
        dataset: staging.orders
        expect: [{row_count: {min: 1}}]
    """

BROKEN = """
    pipeline: broken
    tasks:
      - id: boom
        kind: sql
        into: staging.boom
        sql: SELECT CAST('<img src=x onerror=alert(1)>' AS INTEGER) AS x
    """

CSV = (b"id,customer,amount\n"
       b"1,alice,10.50\n"
       b"2,\"<script>alert('x')</script>\",20.00\n"
       b"3,bob,not<b>a</b>number\n"
       b"4,carol,-1.00\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two pipelines with runs: webshop (D1 succeeded with a reject; D2 failed: no input) and
    broken (failed with an error holding HTML)."""
    root = tmp_path_factory.mktemp("ui")
    write_pipeline(root, SHOP, "webshop.yaml")
    write_pipeline(root, BROKEN, "broken.yaml")
    (root / f"input_{D1.replace('-', '')}.csv").write_bytes(CSV)
    env = {"UI_TEST_SECRET": SECRET}
    run_sluice("run", root / "webshop.yaml", "--date", D1, cwd=root, env=env, expect=0)
    run_sluice("run", root / "webshop.yaml", "--date", D2, cwd=root, env=env, expect=1)
    run_sluice("run", root / "broken.yaml", "--date", D1, cwd=root, expect=1)
    return root


@pytest.fixture(scope="module")
def ui(site):
    u = UiProcess(site, "--listen", "127.0.0.1:0", cwd=site, env={"UI_TEST_SECRET": SECRET})
    yield u
    u.stop()


def runs_of(site, pipeline):
    return state_query(site, "SELECT * FROM runs WHERE pipeline = ? ORDER BY run_id", (pipeline,))


# ---------------------------------------------------------------------------------------------
# What the API answers


def test_pipelines_list_matches_the_state_store(ui, site):
    a = ui.get("/api/v1/pipelines")
    assert a.status == 200, a
    by_name = {p["name"]: p for p in a.json["pipelines"]}
    assert set(by_name) == {"webshop", "broken"}
    shop = by_name["webshop"]
    runs = runs_of(site, "webshop")
    assert [r["run_id"] for r in shop["recent"]] == [r["run_id"] for r in runs]
    assert shop["last_run"]["run_id"] == runs[-1]["run_id"]
    assert shop["last_run"]["status"] == "failed" and shop["last_run"]["ds"] == D2
    assert shop["schedule"] == "0 2 * * *" and shop["timezone"] == "Europe/Berlin"
    assert shop["paused"] is False and shop["problems"] == []
    # The next run: the interval that ends after now, at 02:00 Berlin time.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT02:00:00\+0[12]:00", shop["next_run"]["starts_at"])


def test_pipeline_detail_lists_tasks_in_order_with_latest_state(ui):
    d = ui.get("/api/v1/pipelines/webshop").json
    assert [t["id"] for t in d["tasks"]] == ["ingest", "clean", "check_orders"]
    tasks = {t["id"]: t for t in d["tasks"]}
    assert tasks["clean"]["upstream"] == ["ingest"]
    assert tasks["clean"]["reads"] == ["raw.orders"]
    assert sorted(tasks["ingest"]["writes"]) == ["raw.orders", "rejects.raw_orders"]
    # Latest attempts: D2's ingest failed (no file); clean and check last ran for D1.
    assert tasks["ingest"]["latest"]["status"] == "failed"
    assert tasks["ingest"]["latest"]["run_key"] == D2
    assert tasks["clean"]["latest"]["status"] == "success"
    assert len(d["next_runs"]) == 5


def test_grid_has_a_column_per_run_key_and_a_cell_per_task(ui, site):
    g = ui.get("/api/v1/pipelines/webshop/grid").json
    assert g["tasks"] == ["ingest", "clean", "check_orders"]
    assert [c["run_key"] for c in g["columns"]] == [D1, D2]
    d1, d2 = g["cells"]
    assert [c["status"] for c in d1] == ["success", "success", "success"]
    assert d2[0]["status"] == "failed" and d2[1] is None and d2[2] is None
    attempt = state_query(site, "SELECT attempt_id FROM task_attempts WHERE run_id = ? AND "
                          "task_id = 'ingest'", (g["columns"][0]["run_id"],))[0]["attempt_id"]
    assert d1[0]["attempt_id"] == attempt
    # Paging: before=D2 leaves D1 only.
    g = ui.get(f"/api/v1/pipelines/webshop/grid?before={D2}").json
    assert [c["run_key"] for c in g["columns"]] == [D1]


def test_trends_count_rows_loaded_and_rejected_per_run(ui):
    points = ui.get("/api/v1/pipelines/webshop/trends").json["points"]
    assert [p["run_key"] for p in points] == [D1, D2]
    # D1: ingest loaded 3 of 4 rows (one reject), clean kept 2 (amount >= 0).
    assert points[0]["rows_rejected"] == 1
    assert points[0]["rows_loaded"] == 3 + 2
    assert points[1]["status"] == "failed" and points[1]["rows_loaded"] == 0


def test_run_detail_and_log_follow_by_offset(ui, site):
    run = runs_of(site, "webshop")[0]
    d = ui.get(f"/api/v1/pipelines/webshop/runs/{run['run_id']}").json
    assert d["run"]["run_key"] == D1 and d["run"]["status"] == "success"
    assert [a["task_id"] for a in d["attempts"]] == ["ingest", "clean", "check_orders"]
    ingest = d["attempts"][0]
    assert (ingest["rows_read"], ingest["rows_loaded"], ingest["rows_rejected"]) == (4, 3, 1)
    log_path = state_query(site, "SELECT log_path FROM task_attempts WHERE attempt_id = ?",
                           (ingest["attempt_id"],))[0]["log_path"]
    whole = Path(log_path).read_bytes()
    assert ingest["log_bytes"] == len(whole)
    base = f"/api/v1/pipelines/webshop/attempts/{ingest['attempt_id']}"
    first = ui.get(f"{base}/log?max=10").json
    assert first["text"].encode() == whole[:10] and first["next_offset"] == 10
    rest = ui.get(f"{base}/log?offset={first['next_offset']}").json
    assert (first["text"] + rest["text"]).encode() == whole
    assert rest["running"] is False and rest["size"] == len(whole)
    dl = ui.get(f"{base}/log.txt")
    assert dl.body == whole and "attachment" in dl.headers["content-disposition"]
    # Another pipeline's attempt is not found through this one.
    other = runs_of(site, "broken")[0]
    other_attempt = state_query(site, "SELECT attempt_id FROM task_attempts WHERE run_id = ?",
                                (other["run_id"],))[0]["attempt_id"]
    assert ui.get(f"/api/v1/pipelines/webshop/attempts/{other_attempt}/log").status == 404


def test_datasets_partitions_preview_and_rejects(ui, site):
    names = {d["name"]: d for d in ui.get("/api/v1/datasets").json["datasets"]}
    assert {"raw.orders", "rejects.raw_orders", "staging.orders"} <= set(names)
    assert names["raw.orders"]["producer"] == {"pipeline": "webshop", "task": "ingest"}
    d = ui.get("/api/v1/datasets/raw.orders").json
    manifest = read_manifest(site / "lake", "raw.orders", D1)
    part = d["partitions"][0]
    assert part["ds"] == D1 and part["rows"] == manifest["rows"] == 3
    assert part["checksum"] == manifest["checksum"]
    assert [f["name"] for f in part["files"]] == [f["name"] for f in manifest["files"]]
    assert [c["name"] for c in d["schema"]] == ["id", "customer", "amount"]
    assert d["rejects"] == "rejects.raw_orders"
    p = ui.get(f"/api/v1/datasets/raw.orders/preview?ds={D1}").json
    assert [c["name"] for c in p["columns"]] == ["id", "customer", "amount"]
    assert sorted(r[1] for r in p["rows"]) == sorted(["alice", XSS, "carol"])
    rj = ui.get("/api/v1/datasets/raw.orders/rejects").json
    assert rj["dataset"] == "rejects.raw_orders" and rj["total"] == 1
    assert rj["reasons"][0]["column"] == "amount" and rj["reasons"][0]["count"] == 1
    assert rj["reasons"][0]["examples"][0]["line"] == 4
    assert "not<b>a</b>number" in rj["reasons"][0]["examples"][0]["raw"]
    # The rejects dataset points back to its source.
    assert ui.get("/api/v1/datasets/rejects.raw_orders").json["rejects_of"] == "raw.orders"


def test_openapi_describes_every_call(ui):
    spec = ui.get("/api/openapi.json").json
    paths = set(spec["paths"])
    for p in ["/api/v1/pipelines", "/api/v1/pipelines/{pipeline}/grid",
              "/api/v1/pipelines/{pipeline}/runs/{run}/cancel",
              "/api/v1/pipelines/{pipeline}/attempts/{attempt}/log",
              "/api/v1/datasets/{dataset}/rejects", "/api/v1/pipelines/{pipeline}/backfill"]:
        assert p in paths, p


def test_unknown_things_are_404_with_a_message(ui):
    for path in ["/api/v1/pipelines/nope", "/api/v1/pipelines/webshop/runs/999999",
                 "/api/v1/datasets/raw.nope", "/api/v1/nothing"]:
        a = ui.get(path)
        assert a.status == 404 and a.json["error"], (path, str(a))


# ---------------------------------------------------------------------------------------------
# Actions


def test_run_clear_backfill_pause_through_the_api(site, tmp_path):
    ui = UiProcess(site, "--listen", "127.0.0.1:0", cwd=site, env={"UI_TEST_SECRET": SECRET})
    try:
        # A dry run says what would run; the real one starts a process that succeeds.
        (site / "input_20261123.csv").write_bytes(CSV)
        dry = ui.post("/api/v1/pipelines/webshop/runs", {"date": "2026-11-23", "dry_run": True})
        assert dry.status == 200 and "pid" not in dry.json, dry
        assert dry.json["interval_start"] == "2026-11-23T02:00:00+01:00"
        started = ui.post("/api/v1/pipelines/webshop/runs", {"date": "2026-11-23"})
        assert started.status == 202 and started.json["pid"] > 0, started
        run = wait_for(lambda: [r for r in runs_of(site, "webshop")
                                if r["run_key"] == "2026-11-23" and r["status"] != "running"],
                       60, what="the run started from the API to end")[0]
        assert run["status"] == "success" and run["trigger"] == "ui"
        # A bad date is a 400 that says why.
        bad = ui.post("/api/v1/pipelines/webshop/runs", {"date": "2026-13-01"})
        assert bad.status == 400 and "date" in bad.json["error"], bad
        # Clear clean and what depends on it; the dry run lists the tasks.
        dry = ui.post("/api/v1/pipelines/webshop/clear",
                      {"date": "2026-11-23", "tasks": ["clean"], "downstream": True,
                       "dry_run": True}).json
        assert dry["tasks"] == ["clean", "check_orders"] and dry["cleared"] == 0
        cleared = ui.post("/api/v1/pipelines/webshop/clear",
                          {"date": "2026-11-23", "tasks": ["clean"], "downstream": True}).json
        assert cleared["cleared"] == 2
        statuses = state_query(site, "SELECT task_id, status FROM task_attempts WHERE run_id = ?",
                               (run["run_id"],))
        assert {r["task_id"]: r["status"] for r in statuses} == {
            "ingest": "success", "clean": "cleared", "check_orders": "cleared"}
        # Backfill: the plan skips what succeeded and runs the cleared date again.
        plan = ui.post("/api/v1/pipelines/webshop/backfill",
                       {"from": D1, "to": "2026-11-23", "dry_run": True}).json
        assert plan["plan"] == ["2026-11-23"], plan
        assert [s["run_key"] for s in plan["skipped"]] == [D1, D2]
        plan = ui.post("/api/v1/pipelines/webshop/backfill",
                       {"from": D1, "to": "2026-11-23", "rerun": "failed", "dry_run": True}).json
        assert plan["plan"] == [D2, "2026-11-23"], plan
        # Pause and unpause.
        assert ui.post("/api/v1/pipelines/webshop/pause").json == {"paused": True}
        assert ui.get("/api/v1/pipelines").json["pipelines"][1 if ui.get(
            "/api/v1/pipelines").json["pipelines"][0]["name"] == "broken" else 0]["paused"]
        assert ui.post("/api/v1/pipelines/webshop/unpause").json == {"paused": False}
    finally:
        ui.stop()


def test_cancel_stops_a_running_run(tmp_path):
    write_pipeline(tmp_path, """
        pipeline: slow
        tasks:
          - {id: a, kind: sql, into: staging.a,
             sql: "SELECT sum(i) AS x FROM range(1000000000000) t(i)"}
        """)
    ui = UiProcess(tmp_path, "--listen", "127.0.0.1:0", cwd=tmp_path)
    try:
        ui.post("/api/v1/pipelines/slow/runs", {"date": D1})
        run = wait_for(lambda: state_query(tmp_path, "SELECT * FROM runs WHERE status = "
                                           "'running'") if (tmp_path / ".sluice/state.db").exists()
                       else None, 30, what="the run to start")[0]
        assert ui.post(f"/api/v1/pipelines/slow/runs/{run['run_id']}/cancel").status == 202
        ended = wait_for(lambda: [r for r in state_query(tmp_path, "SELECT * FROM runs")
                                  if r["status"] != "running"], 30, what="the run to end")[0]
        assert ended["status"] == "cancelled"
        # Cancelling it again: it is not running.
        assert ui.post(f"/api/v1/pipelines/slow/runs/{run['run_id']}/cancel").status == 409
    finally:
        ui.stop()


# ---------------------------------------------------------------------------------------------
# Security


def token_file(folder: Path, mode=0o600, token="a-token-of-enough-length-123") -> Path:
    f = folder / "ui.token"
    f.write_text(token + "\n")
    f.chmod(mode)
    return f


def test_token_is_needed_for_every_call_and_login_sets_a_cookie(site, tmp_path):
    tok = token_file(tmp_path)
    ui = UiProcess(site, "--listen", "127.0.0.1:0", "--token-file", tok, cwd=site,
                   env={"UI_TEST_SECRET": SECRET})
    try:
        assert ui.get("/api/v1/pipelines").status == 401
        assert ui.get("/api/v1/pipelines",
                      headers={"Authorization": "Bearer wrong-token-xxxxxxxxx"}).status == 401
        ok = ui.get("/api/v1/pipelines",
                    headers={"Authorization": "Bearer a-token-of-enough-length-123"})
        assert ok.status == 200, ok
        assert ui.get("/api/v1/session").json == {"token_required": True, "signed_in": False}
        assert ui.post("/api/v1/login", {"token": "nope"}).status == 401
        login = ui.post("/api/v1/login", {"token": "a-token-of-enough-length-123"})
        assert login.status == 204
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        session = cookie.split(";")[0]
        assert ui.get("/api/v1/pipelines", headers={"Cookie": session}).status == 200
        assert ui.get("/api/v1/pipelines", headers={"Cookie": "sluice_session=forged"}).status == 401
        # The pages and their files need no token (they hold no data), the API does.
        assert ui.get("/").status == 200
    finally:
        ui.stop()


@pytest.mark.parametrize("mode, why", [(0o644, "mode is 644"), (0o640, "mode is 640")])
def test_token_file_readable_by_others_is_refused(site, tmp_path, mode, why):
    tok = token_file(tmp_path, mode)
    r = run_sluice("ui", site, "--listen", "127.0.0.1:0", "--token-file", tok, timeout=30)
    assert r.returncode == 2 and why in r.stderr, r


def test_token_file_must_be_a_regular_file_with_a_long_token(site, tmp_path):
    r = run_sluice("ui", site, "--listen", "127.0.0.1:0", "--token-file", tmp_path, timeout=30)
    assert r.returncode == 2 and "not a regular file" in r.stderr, r
    short = token_file(tmp_path, token="short")
    r = run_sluice("ui", site, "--listen", "127.0.0.1:0", "--token-file", short, timeout=30)
    assert r.returncode == 2 and "at least 16 characters" in r.stderr, r


def test_listening_beyond_loopback_needs_a_token(site):
    r = run_sluice("ui", site, "--listen", "0.0.0.0:0", timeout=30)
    assert r.returncode == 2 and "--token-file" in r.stderr, r


def test_changes_from_another_origin_or_not_json_are_refused(ui):
    a = ui.post("/api/v1/pipelines/webshop/pause", headers={"Origin": "http://evil.example"})
    assert a.status == 403 and "another site" in a.json["error"], a
    a = ui.request("POST", "/api/v1/pipelines/webshop/pause", raw=b"{}",
                   headers={"Content-Type": "text/plain"})
    assert a.status == 403 and "JSON" in a.json["error"], a
    a = ui.post("/api/v1/pipelines/webshop/pause", headers={"Sec-Fetch-Site": "cross-site"})
    assert a.status == 403
    assert ui.get("/api/v1/pipelines").json["pipelines"][0]["paused"] is False


def test_a_foreign_host_header_is_refused_without_a_token(ui):
    a = ui.get("/api/v1/pipelines", headers={"Host": "attacker.example:8080"})
    assert a.status == 403 and "loopback" in a.json["error"], a
    assert ui.get("/", headers={"Host": "attacker.example"}).status == 403


@pytest.mark.parametrize("path", [
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/../../etc/passwd",
    "/api/v1/datasets/..%2f..%2fetc",
    "/api/v1/datasets/raw.orders%2f..%2f..%2f..%2fetc/preview",
    "/api/v1/pipelines/webshop/attempts/..%2f..%2fetc%2fpasswd/log",
])
def test_paths_cannot_leave_the_state_or_lake_folder(ui, path):
    a = ui.get(path)
    assert b"root:" not in a.body, path
    assert a.status in (200, 400, 403, 404), (path, str(a))
    if a.status == 200:  # a page: the app's index, never a file from elsewhere
        assert b"<!doctype html" in a.body.lower()[:200] or b"<html" in a.body.lower()


def test_a_log_path_outside_the_state_folder_is_refused(site, tmp_path):
    # A state file whose attempt names a file elsewhere (tampered, or copied from elsewhere).
    copy = tmp_path / "site"
    import shutil
    shutil.copytree(site, copy, ignore=shutil.ignore_patterns(".ui-*"))
    con = sqlite3.connect(copy / ".sluice" / "state.db")
    attempt = con.execute("SELECT attempt_id FROM task_attempts ORDER BY attempt_id "
                          "LIMIT 1").fetchone()[0]
    con.execute("UPDATE task_attempts SET log_path = '/etc/passwd' WHERE attempt_id = ?",
                (attempt,))
    con.commit()
    con.close()
    ui = UiProcess(copy, "--listen", "127.0.0.1:0", cwd=copy, env={"UI_TEST_SECRET": SECRET})
    try:
        a = ui.get(f"/api/v1/pipelines/webshop/attempts/{attempt}/log")
        assert a.status == 403 and b"root:" not in a.body, a
    finally:
        ui.stop()


def test_no_answer_holds_a_secret(ui, site):
    """Every GET the pages make, for every pipeline, run, attempt and dataset: the password of
    the connection (from ${env:...}) is in none of them."""
    seen = []
    for p in ui.get("/api/v1/pipelines").json["pipelines"]:
        name = p["name"]
        for path in [f"/api/v1/pipelines/{name}", f"/api/v1/pipelines/{name}/grid",
                     f"/api/v1/pipelines/{name}/runs", f"/api/v1/pipelines/{name}/trends"]:
            seen.append(ui.get(path))
        for run in ui.get(f"/api/v1/pipelines/{name}/runs").json["runs"]:
            d = ui.get(f"/api/v1/pipelines/{name}/runs/{run['run_id']}")
            seen.append(d)
            for a in d.json["attempts"]:
                seen.append(ui.get(f"/api/v1/pipelines/{name}/attempts/{a['attempt_id']}/log"))
    for d in ui.get("/api/v1/datasets").json["datasets"]:
        seen.append(ui.get(f"/api/v1/datasets/{d['name']}"))
    seen += [ui.get("/api/v1/pipelines"), ui.get("/api/v1/datasets"), ui.get("/")]
    assert len(seen) > 15
    for a in seen:
        assert SECRET.encode() not in a.body, str(a)


def test_every_answer_has_protective_headers(ui):
    page = ui.get("/pipelines/webshop")
    assert page.status == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    for a in (page, ui.get("/api/v1/pipelines")):
        assert a.headers["x-content-type-options"] == "nosniff"
        assert a.headers["x-frame-options"] == "DENY"


def test_the_scheduler_serves_the_same_ui(site, tmp_path):
    copy = tmp_path / "pipes"
    copy.mkdir()
    (copy / "broken.yaml").write_text((site / "broken.yaml").read_text())
    ui = UiProcess(copy, "--ui", "--listen", "127.0.0.1:0", "--tick", "100ms", cwd=copy,
                   command="scheduler")
    try:
        names = [p["name"] for p in ui.get("/api/v1/pipelines").json["pipelines"]]
        assert names == ["broken"]
        assert ui.get("/").status == 200
    finally:
        ui.stop()
    assert ui.proc.returncode == 0, ui.output()
    assert "scheduler stopped" in ui.output()
