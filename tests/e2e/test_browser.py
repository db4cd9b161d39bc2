"""The Airflow UI in a real browser: log in, trigger ml_pipeline through the form with one param
changed, watch the run succeed, open its Gantt chart, and find the changed param in PostgreSQL.

Runs with `make test-e2e` (headless Debian Chromium driven by Playwright). Screenshots: logs/e2e/.
"""

import json
import time
from pathlib import Path

import pytest

from stack import Stack

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "logs" / "e2e"
CHROMIUM = "/usr/bin/chromium"
# Chromium as root, headless, and kept from reaching out to the network it does not have here.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("e2e"))
    stack("up")
    try:
        yield stack
    finally:
        stack("down", check=False)


@pytest.fixture
def page(stack):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(
            viewport={"width": 1400, "height": 900}, base_url=f"http://localhost:{stack.port}"
        )
        browser.close()


def test_trigger_from_the_form_and_open_the_gantt_chart(stack, page):
    passwords = stack.layout.passwords_file
    page.goto("/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(json.loads(passwords.read_text())["admin"])
    page.screenshot(path=SCREENSHOTS / "01-login.png")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/", timeout=30_000)

    page.goto("/dags/ml_pipeline")
    page.get_by_role("button", name="Trigger").first.click()
    folds = page.locator("input[name='element_cv_folds']")
    folds.fill("3")
    page.locator("input[name='element_cv_chunks']").fill("2")
    page.screenshot(path=SCREENSHOTS / "02-trigger-form.png")
    page.get_by_role("dialog").get_by_role("button", name="Trigger").click()

    page.wait_for_url("**/dags/ml_pipeline/runs/**", timeout=30_000)
    run_id = page.url.split("/runs/", 1)[1].strip("/")
    run_id = run_id.replace("%3A", ":").replace("%2B", "+")
    deadline = time.monotonic() + 600
    state = None
    while time.monotonic() < deadline and state not in ("success", "failed"):
        time.sleep(2)
        state = stack.api().request("GET", f"/api/v2/dags/ml_pipeline/dagRuns/{run_id}")["state"]
    assert state == "success", f"{run_id} ended {state}"

    page.reload()
    page.get_by_role("button", name="Show Gantt").click()
    page.wait_for_timeout(3000)
    page.screenshot(path=SCREENSHOTS / "03-gantt.png", full_page=True)
    assert page.get_by_text("cross_validate_chunk").first.is_visible()

    with stack.connect() as db:
        recorded = db.execute(
            "SELECT cv_folds, (settings ->> 'cv_folds')::int, (settings ->> 'cv_chunks')::int"
            " FROM experiments WHERE dag_run_id = %s",
            (run_id,),
        ).fetchone()
    assert recorded == (3, 3, 2), "the params changed in the form reached the experiments table"
    chunks = [ti for ti in stack.api().task_instances(run_id) if ti["task_id"] == "cross_validate_chunk"]
    assert sorted(ti["map_index"] for ti in chunks) == [0, 1], "the CV ran as two mapped chunks"
