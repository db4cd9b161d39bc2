"""The compose file's Celery variant, switched on by its one setting (COMPOSE_FILE): Redis and two
workers; a triggered run's CV chunks are spread over both."""

from __future__ import annotations

import pytest
from test_docker_compose import ComposeStack, running, tracked_copy

pytestmark = pytest.mark.docker

CELERY = {"COMPOSE_FILE": "docker-compose.yaml:docker-compose.celery.yaml"}
CHUNKS = 4


@pytest.fixture(scope="module")
def celery_stack(engine, phases, tmp_path_factory):
    folder = tracked_copy(tmp_path_factory.mktemp("compose-celery"))
    with running(ComposeStack(engine, folder, "ml-pipeline-celery-test", **CELERY), phases) as compose:
        yield compose


def test_a_run_spreads_its_cv_chunks_over_both_workers(celery_stack):
    workers = [entry for entry in celery_stack.services_all() if entry["Service"] == "airflow-worker"]
    assert len(workers) == 2 and all(entry["Health"] == "healthy" for entry in workers)
    assert celery_stack.services()["redis"]["Health"] == "healthy"

    api = celery_stack.login()
    api.wait_for_dag()
    run = api.trigger({"logical_date": None, "conf": {"cv_chunks": CHUNKS, "cv_folds": 3}})
    state = api.watch_run(run["dag_run_id"], timeout=900)
    assert state == "success", celery_stack("logs", "--tail", "80").stdout
    chunks = [ti for ti in api.task_instances(run["dag_run_id"]) if ti["task_id"] == "cross_validate_chunk"]
    print("[test-docker] hostnames of the CV chunks:", {ti["map_index"]: ti["hostname"] for ti in chunks})
    assert len(chunks) == CHUNKS
    worker_hosts = {entry["ID"][:12] for entry in workers}
    assert {ti["hostname"] for ti in chunks} == worker_hosts, "both workers ran chunks, and only they"
