"""The web UI in a real browser: Debian's headless Chromium driven by Selenium (through
chromedriver, never Selenium Manager or the internet). A user opens the UI on a pipeline,
triggers a run and watches the grid turn green, opens the Gantt chart and a log, clears a task
and sees it run again, and opens a dataset and its rejects; values holding HTML are shown as
text everywhere. Each page is saved as a screenshot in $SLUICE_SCREENSHOT_DIR (default
build/ui-screenshots, not committed)."""

import base64
import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import REPO, run_sluice, state_query, wait_for, write_pipeline
from ui_harness import UiProcess

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # fail, never skip: the harness installs it (scripts/install-deps.sh)
    webdriver = None

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("SLUICE_SCREENSHOT_DIR", REPO / "build" / "ui-screenshots"))
D1 = "2026-11-21"
D2 = "2026-11-22"
XSS_VALUE = "<script>window.pwned=1</script>"
XSS_ERROR = "<img src=x onerror=window.pwned=2>"

PIPELINE = """
    pipeline: shop_ui
    schedule: "0 2 * * *"
    timezone: Europe/Berlin
    start_date: 2026-11-01
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
    pipeline: xss_errors
    tasks:
      - id: boom
        kind: sql
        into: staging.boom
        sql: SELECT CAST('<img src=x onerror=window.pwned=2>' AS INTEGER) AS x
    """

CSV = ("id,customer,amount\n1,alice,10.50\n2,\"" + XSS_VALUE.replace('"', '""') +
       "\",20.00\n3,bob,not<b>a</b>number\n").encode()


@pytest.fixture(scope="module")
def browser():
    if webdriver is None:
        pytest.fail("selenium is not installed: run scripts/install-deps.sh "
                    "(pip install selenium)", pytrace=False)
    for f in (CHROMIUM, CHROMEDRIVER):
        if not os.access(f, os.X_OK):
            pytest.fail(f"{f} is missing: run scripts/install-deps.sh (apt-get install chromium "
                        "chromium-driver)", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
              # Nothing but the UI on loopback is reachable: the pages must work offline.
              "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    write_pipeline(root, PIPELINE, "shop.yaml")
    write_pipeline(root, BROKEN, "broken.yaml")
    (root / f"input_{D1.replace('-', '')}.csv").write_bytes(CSV)
    run_sluice("run", root / "broken.yaml", "--date", D1, cwd=root, expect=1)
    ui = UiProcess(root, "--listen", "127.0.0.1:0", cwd=root)
    yield root, ui
    ui.stop()


def wait_ready(d, page, timeout=15):
    WebDriverWait(d, timeout).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'body[data-ready="1"][data-page="{page}"]'))


def css(d, s):
    return d.find_elements(By.CSS_SELECTOR, s)


def one(d, s):
    return d.find_element(By.CSS_SELECTOR, s)


def shot(d, name):
    """The whole page, beyond the window, as SHOTS/name.png."""
    size = d.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    data = d.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": max(1280, size["width"]), "height": size["height"],
                 "scale": 1}})
    (SHOTS / f"{name}.png").write_bytes(base64.b64decode(data["data"]))


def assert_no_injected_markup(d):
    """No value became markup: no script ran, and the page holds only the app's own script."""
    assert d.execute_script("return window.pwned") is None
    assert d.execute_script("return document.querySelectorAll('script').length") == 1
    assert d.execute_script("return document.querySelectorAll('img, b').length") == 0


def confirm_with_preview(d):
    one(d, "#confirm-preview").click()
    WebDriverWait(d, 15).until(lambda d: one(d, "#confirm-ok").get_attribute("disabled") is None)
    summary = one(d, "#confirm-summary").text
    one(d, "#confirm-ok").click()
    return summary


def test_a_user_runs_a_date_and_follows_it_to_its_data(browser, site):
    d = browser
    root, ui = site
    # The pipelines page lists both pipelines; no run of shop_ui yet.
    d.get(ui.url)
    wait_ready(d, "pipelines")
    assert {r.get_attribute("data-pipeline") for r in css(d, "#pipelines tr[data-pipeline]")} \
        == {"shop_ui", "xss_errors"}
    shot(d, "1-pipelines")
    one(d, '#pipelines tr[data-pipeline="shop_ui"] a').click()
    wait_ready(d, "pipeline")
    assert d.current_url.endswith("/pipelines/shop_ui")
    assert [t.get_attribute("data-task") for t in css(d, "svg#dag g.task")] \
        == ["ingest", "clean", "check_orders"]

    # Trigger a run: the dialog shows the run key and data interval first.
    one(d, "#action-run").click()
    one(d, "input[name=date]").send_keys(D1)
    summary = confirm_with_preview(d)
    assert D1 in summary and "02:00" in summary, summary
    # The grid turns green: every task of D1 succeeds, without reloading the page.
    WebDriverWait(d, 60).until(lambda d: len(css(
        d, f'#grid a.cell[data-run-key="{D1}"][data-status="success"]')) == 3)
    assert [t.get_attribute("data-status") for t in css(d, "svg#dag g.task")] == ["success"] * 3
    runs = state_query(root, "SELECT * FROM runs WHERE pipeline = 'shop_ui'")
    assert len(runs) == 1 and runs[0]["trigger"] == "ui" and runs[0]["status"] == "success"
    shot(d, "2-pipeline")

    # The run: a Gantt bar per attempt, and the log of ingest.
    d.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true, "
                     "cancelable: true, button: 0}))",
                     one(d, f'#grid a.cell[data-run-key="{D1}"][data-task="ingest"]'))
    wait_ready(d, "run")
    assert f"/pipelines/shop_ui/runs/{runs[0]['run_id']}" in d.current_url
    bars = css(d, "svg#gantt rect.bar")
    assert sorted(b.get_attribute("data-task") for b in bars) == ["check_orders", "clean", "ingest"]
    WebDriverWait(d, 15).until(lambda d: "read 3 rows" in one(d, "pre#log").text
                               or "3 rows" in one(d, "pre#log").text)
    log_path = state_query(root, "SELECT log_path FROM task_attempts WHERE task_id = 'ingest'")[0]
    assert one(d, "pre#log").text.strip() == Path(log_path["log_path"]).read_text().strip()
    assert one(d, "a#log-download").get_dom_attribute("href").endswith("/log.txt")
    shot(d, "3-run")

    # Clear clean (and what depends on it): it runs again, ingest stays done.
    one(d, "#action-clear").click()
    Select(one(d, "select[name=task]")).select_by_visible_text("clean")
    if not one(d, "input[name=downstream]").is_selected():
        one(d, "input[name=downstream]").click()
    summary = confirm_with_preview(d)
    assert "clean" in summary and "check_orders" in summary, summary
    WebDriverWait(d, 15).until(lambda d: one(d, "#flash").text)
    # Run the date again from the pipeline page: only the cleared tasks run.
    d.get(ui.url + "pipelines/shop_ui")
    wait_ready(d, "pipeline")
    one(d, "#action-run").click()
    one(d, "input[name=date]").send_keys(D1)
    confirm_with_preview(d)
    # (the first run is 'cleared' now: the scheduler would run it again)
    wait_for(lambda: [r["status"] for r in state_query(
        root, "SELECT status FROM runs WHERE pipeline = 'shop_ui' ORDER BY run_id")]
        == ["cleared", "success"], 60, what="the second run to succeed")
    second = state_query(root, "SELECT task_id FROM task_attempts WHERE run_id = (SELECT "
                         "max(run_id) FROM runs) ORDER BY attempt_id")
    assert [r["task_id"] for r in second] == ["clean", "check_orders"]
    WebDriverWait(d, 30).until(lambda d: len(css(d, "#grid a.col")) == 1 and len(css(
        d, f'#grid a.cell[data-run-key="{D1}"][data-status="success"]')) == 3)

    # The dataset: partitions, schema, a preview where the HTML value is text, its rejects.
    d.get(ui.url + "datasets")
    wait_ready(d, "datasets")
    shot(d, "4-datasets")
    one(d, '#datasets tr[data-dataset="raw.orders"] a').click()
    wait_ready(d, "dataset")
    assert len(css(d, "#partitions tbody tr")) == 1
    assert [r.text.split()[0] for r in css(d, "#schema tbody tr")] == ["id", "customer", "amount"]
    assert XSS_VALUE in one(d, "#preview").text
    shot(d, "5-dataset")
    one(d, "#rejects-link").click()
    wait_ready(d, "dataset")
    assert "rejects.raw_orders" in d.current_url
    reasons = css(d, "#rejects tr[data-reason]")
    assert len(reasons) == 1 and "amount" in reasons[0].text
    assert "not<b>a</b>number" in one(d, "#rejects").text
    assert_no_injected_markup(d)
    shot(d, "6-rejects")


def test_html_in_errors_and_logs_is_shown_as_text(browser, site):
    d = browser
    root, ui = site
    run = state_query(root, "SELECT run_id FROM runs WHERE pipeline = 'xss_errors'")[0]
    d.get(ui.url + f"pipelines/xss_errors/runs/{run['run_id']}")
    wait_ready(d, "run")
    WebDriverWait(d, 15).until(lambda d: XSS_ERROR in one(d, "pre#log").text)
    assert XSS_ERROR in one(d, "#attempts").text
    assert_no_injected_markup(d)
    d.get(ui.url)
    wait_ready(d, "pipelines")
    assert_no_injected_markup(d)
    shot(d, "7-failed-run")
