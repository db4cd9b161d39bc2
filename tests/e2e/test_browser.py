"""The Airflow UI in a real browser, as its users work in it: log in, trigger ml_pipeline through the
form with params changed, watch the run succeed; its Grid, Graph and Gantt chart; its Experiment tab;
the Models page, and a roll back through it; and nothing of it for a visitor who has not logged in.

Runs with `make test-e2e` (headless Debian Chromium driven by Playwright). Screenshots: logs/e2e/
(experiment.png, models.png and gantt.png are the README's pictures in docs/).
"""

import json
import time
from datetime import date
from urllib.parse import quote

import pytest
from sklearn.datasets import load_breast_cancer

from samples import FEATURE_COLUMNS as FEATURES
from stack import Stack

pytestmark = pytest.mark.e2e

SCREENSHOTS = __import__("pathlib").Path(__file__).resolve().parents[2] / "logs" / "e2e"
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
GROUPS = {"create_tables", "after_crossvalidation"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("e2e"))
    stack("up")
    try:
        yield stack
    finally:
        stack("down", check=False)


@pytest.fixture(scope="module")
def browser(stack):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser, stack):
    return browser.new_page(
        viewport={"width": 1400, "height": 900}, base_url=f"http://localhost:{stack.port}"
    )


@pytest.fixture(scope="module")
def page(browser, stack):
    """A page logged in as admin through the login form."""
    page = new_page(browser, stack)
    page.goto("/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(json.loads(stack.layout.passwords_file.read_text())["admin"])
    page.screenshot(path=SCREENSHOTS / "01-login.png")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/", timeout=30_000)
    return page


def wait_for_run(stack, dag_id: str, run_id: str) -> str:
    api = stack.api()
    api.dag_id = dag_id
    return api.watch_run(run_id, timeout=600)


@pytest.fixture(scope="module")
def triggered(stack, page):
    """A run triggered through the form, with cv_folds and cv_chunks changed; its run id."""
    page.goto("/dags/ml_pipeline")
    page.get_by_role("button", name="Trigger").first.click()
    page.locator("input[name='element_cv_folds']").fill("3")
    page.locator("input[name='element_cv_chunks']").fill("2")
    page.screenshot(path=SCREENSHOTS / "02-trigger-form.png")
    page.get_by_role("dialog").get_by_role("button", name="Trigger").click()
    page.wait_for_url("**/dags/ml_pipeline/runs/**", timeout=30_000)
    run_id = page.url.split("/runs/", 1)[1].strip("/").replace("%3A", ":").replace("%2B", "+")
    assert wait_for_run(stack, "ml_pipeline", run_id) == "success"
    return run_id


@pytest.fixture
def run_page(browser, stack, page):
    """A new tab of the logged-in user that remembers no view or group it opened (the UI keeps both)."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 900},
        base_url=f"http://localhost:{stack.port}",
        storage_state={"cookies": page.context.cookies(), "origins": []},
    )
    yield context.new_page()
    context.close()


def open_run(page, run_id: str) -> None:
    """The run's page, its Grid with every task group expanded."""
    page.goto(f"/dags/ml_pipeline/runs/{quote(run_id, safe='')}")
    page.locator("[data-node-id='fetch_batch']").wait_for()
    page.get_by_role("button", name="Expand all task groups").click()


def task_ids(stack, run_id: str) -> list[str]:
    return [ti["task_id"] for ti in stack.api().task_instances(run_id)]


def test_the_form_s_params_reach_the_run(stack, triggered):
    with stack.connect() as db:
        recorded = db.execute(
            "SELECT cv_folds, (settings ->> 'cv_folds')::int, (settings ->> 'cv_chunks')::int"
            " FROM experiments WHERE dag_run_id = %s",
            (triggered,),
        ).fetchone()
    assert recorded == (3, 3, 2), "the params changed in the form reached the experiments table"
    chunks = [ti for ti in stack.api().task_instances(triggered) if ti["task_id"] == "cross_validate_chunk"]
    assert sorted(ti["map_index"] for ti in chunks) == [0, 1], "the CV ran as two mapped chunks"


def test_the_grid_lists_every_task_of_the_run(stack, run_page, triggered):
    page = run_page
    open_run(page, triggered)
    page.locator("[data-node-id='after_crossvalidation.promote_model']").wait_for()
    page.screenshot(path=SCREENSHOTS / "03-grid.png")
    rows = set(page.locator("[data-node-id]").evaluate_all("rows => rows.map(row => row.dataset.nodeId)"))
    assert rows - GROUPS == set(task_ids(stack, triggered))


def test_the_graph_draws_every_task(stack, run_page, triggered):
    page = run_page
    open_run(page, triggered)
    page.get_by_role("button", name="Show Graph").click()
    nodes = page.locator(".react-flow__node")
    nodes.first.wait_for()
    page.screenshot(path=SCREENSHOTS / "04-graph.png")
    drawn = set(nodes.evaluate_all("nodes => nodes.map(node => node.dataset.id)"))
    assert set(task_ids(stack, triggered)) <= drawn


def gantt_bars(page, run_id: str) -> dict[str, list[str]]:
    """The bars drawn right of the Gantt chart's time axis for the run: per task, where each of its
    segments (time queued, time running) links to."""
    axis = page.get_by_text("00:00:00", exact=True).first.bounding_box()
    return page.locator(f"[data-task-id] a[href*='/runs/{run_id}/tasks/']").evaluate_all(
        """(links, left) => {
            const bars = {};
            for (const link of links) {
                const box = link.getBoundingClientRect();
                if (box.x < left || box.width <= 0 || box.height <= 0) continue;
                const task = link.closest('[data-task-id]').dataset.taskId;
                (bars[task] = bars[task] || []).push(new URL(link.href).pathname);
            }
            return bars;
        }""",
        axis["x"] - 1,
    )


def drawn_bars(page, run_id: str, tasks: set[str], timeout: float = 30) -> dict[str, list[str]]:
    """The Gantt chart's bars once every one of ``tasks`` that will have a bar has one (the chart draws
    them as the run's data arrives), or what it drew by the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        bars = gantt_bars(page, run_id)
        if set(bars) >= tasks - GROUPS or time.monotonic() > deadline:
            return bars
        page.wait_for_timeout(200)


def test_the_gantt_chart_draws_a_bar_per_task_instance(stack, run_page, triggered):
    page = run_page
    open_run(page, triggered)
    page.get_by_role("button", name="Show Gantt").click()
    page.locator("[data-task-id='after_crossvalidation.promote_model']").last.wait_for()
    instances = task_ids(stack, triggered)
    bars = drawn_bars(page, quote(triggered, safe=":+"), set(instances) | GROUPS)
    page.screenshot(path=SCREENSHOTS / "gantt.png")
    assert set(bars) - GROUPS == set(instances), "a bar for each task instance"
    # The two mapped CV chunks share one bar, which opens the list of both.
    assert len(instances) == len(set(instances)) + 1
    assert {path.rsplit("/tasks/", 1)[1] for path in bars["cross_validate_chunk"]} == {
        "cross_validate_chunk/mapped"
    }


def experiment_rows(stack, run_id: str) -> tuple:
    with stack.connect() as db:
        return db.execute(
            "SELECT count(*), e.best_params ->> 'pca__n_components', e.cv_mean_score"
            " FROM experiments e JOIN cv_results USING (experiment_id) WHERE e.dag_run_id = %s"
            " GROUP BY e.experiment_id",
            (run_id,),
        ).fetchone()


def test_the_experiment_tab_shows_the_candidates_winner_and_pictures(stack, page, triggered):
    page.goto(f"/dags/ml_pipeline/runs/{quote(triggered, safe='')}")
    page.get_by_role("link", name="Experiment", exact=True).click()
    frame = page.frame_locator("iframe")
    frame.locator("#cv-heatmap").wait_for()
    candidates, best_pca, cv_mean = experiment_rows(stack, triggered)
    assert frame.locator("tr.candidate").count() == candidates
    winner = frame.locator("#winner").inner_text().split()
    assert winner[winner.index("components") + 1] == best_pca and f"{cv_mean:.4f}" in winner
    for image in ("cv-heatmap", "roc", "confusion"):
        assert frame.locator(f"#{image}").evaluate("img => img.complete && img.naturalWidth") > 0, image
    assert "first model of breast_cancer" in frame.locator("#decision").inner_text()
    page.screenshot(path=SCREENSHOTS / "05-experiment-tab.png")


def champion(stack) -> tuple:
    with stack.connect() as db:
        (version,) = db.execute("SELECT version FROM models WHERE status = 'champion'").fetchone()
        last = db.execute(
            "SELECT to_version, promoted_by FROM promotions ORDER BY promotion_id DESC"
        ).fetchone()
    return version, last


def served_version(stack, expected: int, within: float = 5.0) -> int:
    """The version the scoring service answers with, once it is ``expected`` (or ``within`` s pass)."""
    row = dict(zip(FEATURES, load_breast_cancer().data[0].tolist(), strict=True))
    deadline = time.monotonic() + within
    while True:
        version = stack.score("breast_cancer", {"dataframe_records": [row]})["predictions"][0][
            "model_version"
        ]
        if version == expected or time.monotonic() > deadline:
            return version
        time.sleep(0.1)


def test_a_roll_back_through_the_models_page_changes_the_champion(stack, page, triggered):
    api = stack.api()
    assert served_version(stack, 1) == 1, "make up serves the first run's champion"
    second, _ = api.start_run(date(2026, 11, 2), {"force_promote": True, "cv_folds": 3})
    assert api.watch_run(second, timeout=600) == "success"
    first_version = 1  # the run triggered through the form
    assert champion(stack)[0] == 2, "the forced run's model is the champion"
    assert served_version(stack, 2) == 2, "the run's promotion reached the scoring service"
    page.goto(f"/mlviews/run/ml_pipeline/{quote(second, safe='')}")  # its Experiment tab, whole
    with stack.connect() as db:
        (checked,) = db.execute("SELECT count(*) FROM drift WHERE dag_run_id = %s", (second,)).fetchone()
    assert page.locator("#drift-table tbody tr").count() == checked == 31  # 30 features, the classes
    assert page.locator("#drift").evaluate("img => img.complete && img.naturalWidth") > 0
    assert "promoted by force_promote" in page.locator("#decision").inner_text()
    page.screenshot(path=SCREENSHOTS / "experiment.png", full_page=True)

    page.goto("/")
    page.get_by_role("link", name="Models").click()
    frame = page.frame_locator("iframe")
    versions = frame.locator("section[data-dataset='breast_cancer'] tr.version")
    versions.first.wait_for()
    assert versions.evaluate_all("rows => rows.map(r => [r.dataset.version, r.dataset.status])") == [
        ["2", "champion"], ["1", "archived"]
    ]  # fmt: skip
    assert frame.locator("img.scores-chart").evaluate("img => img.complete && img.naturalWidth") > 0
    page.screenshot(path=SCREENSHOTS / "06-models-page.png")
    button = frame.locator(f"button.make-champion[data-version='{first_version}']")
    button.click()
    assert button.inner_text() == f"Confirm: version {first_version} live", "one click changes nothing"
    assert champion(stack)[0] == 2
    button.click()
    message = frame.locator("#message")
    message.wait_for()
    assert message.inner_text().startswith(f"Version {first_version} is the champion"), message.inner_text()
    assert champion(stack) == (first_version, (first_version, "admin"))
    rolled_back = time.monotonic()
    assert served_version(stack, first_version) == first_version, "the roll back, without a restart"
    assert time.monotonic() - rolled_back < 2.0


def test_the_models_page_shows_the_newest_scores(stack, page, triggered):
    api = stack.api()
    api.dag_id = "ml_scoring"
    scoring = api.trigger({"logical_date": "2026-12-01T00:00:00+00:00", "conf": {}})["dag_run_id"]
    assert api.watch_run(scoring, timeout=300) == "success"
    with stack.connect() as db:
        scored = dict(db.execute("SELECT predicted_class, count(*) FROM predictions GROUP BY 1").fetchall())
    page.goto("/mlviews/models")
    section = page.locator("section[data-dataset='breast_cancer']")
    summary = section.locator("p.predicted").inner_text()
    for predicted, rows in scored.items():
        assert f"{rows:,} predicted {predicted} by version 1" in summary
    assert section.locator("table.prediction-rows tbody tr").count() == min(20, sum(scored.values()))
    page.screenshot(path=SCREENSHOTS / "models.png", full_page=True)


def test_a_visitor_who_has_not_logged_in_gets_nothing(stack, browser):
    visitor = new_page(browser, stack)
    for method, path in (
        ("GET", "/mlviews/models"),
        ("GET", "/mlviews/run/ml_pipeline/any"),
        ("POST", "/mlviews/models/ml_pipeline/champion"),
    ):
        answer = visitor.request.fetch(path, method=method, data={"version": 1})
        assert answer.status == 401, path
        assert "breast_cancer" not in answer.text()
    visitor.close()
