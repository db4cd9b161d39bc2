"""The views' HTTP routes, mounted by the API server under /mlviews (plugin.py).

The API server adds no authentication to a plugin's app: every route asks Airflow's auth manager,
through the API server's own dependencies (the UI's ``_token`` cookie, or a Bearer token). Reading a
page needs read access to the runs of its DAG; changing the champion needs edit access to the DAG,
and a header that a page of another site cannot send (the API server has no CSRF check of its own).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models.dag import DagModel
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import declared
from ml_pipeline.basics.db import pipeline_connection
from ml_pipeline.tasks.assets import scoring_dag_id, training_dag_id
from ml_pipeline.ui import pages, queries

CHANGE_HEADER = "X-ML-Views"

log = logging.getLogger(__name__)
app = FastAPI(title="ml_pipeline views", docs_url=None, redoc_url=None, openapi_url=None)


def training_dags(config: PipelineConfig) -> dict[str, str]:
    """Each declared dataset's training DAG id, and the dataset it trains."""
    return {training_dag_id(name): name for name in declared(config.datasets_dir)}


def allowed(user, dag_id: str, method: str = "GET") -> bool:
    """What the auth manager says of the user and the DAG's runs, as the API server's own routes ask it."""
    details = DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id))
    return get_auth_manager().is_authorized_dag(
        method=method, access_entity=DagAccessEntity.RUN, details=details, user=user
    )


@contextmanager
def opened(config: PipelineConfig) -> Iterator:
    """The pipeline database; a 503 naming the problem and what to do when it cannot be reached."""
    try:
        with pipeline_connection(config) as connection:
            yield connection
    except ConnectionError as error:
        raise HTTPException(503, str(error)) from None


@app.get(
    "/run/{dag_id}/{run_id}",
    response_class=HTMLResponse,
    dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))],
)
def experiment_tab(dag_id: str, run_id: str, request: Request) -> str:
    """The Experiment tab of a training DAG's run."""
    config = PipelineConfig.from_env()
    dataset = training_dags(config).get(dag_id)
    root = request.scope.get("root_path", "")
    if dataset is None:
        return pages.render("not_training.html", dag_id=dag_id, root=root)
    with opened(config) as connection:
        view = queries.run_view(connection, dataset, run_id)
    return pages.render(
        "experiment.html", dag_id=dag_id, run_id=run_id, dataset=dataset, root=root, **view,
        **pages.experiment(view),
    )  # fmt: skip


@app.get("/models", response_class=HTMLResponse)
def models_page(user: GetUserDep, request: Request, dataset: str | None = None) -> str:
    """Every dataset the user may read: its model versions, champion history, daily scores and
    newest predictions, with a button to make a version the champion."""
    config = PipelineConfig.from_env()
    shown = [(dag_id, name) for dag_id, name in training_dags(config).items() if allowed(user, dag_id)]
    if dataset is not None:
        shown = [(dag_id, name) for dag_id, name in shown if name == dataset]
    sections = []
    with opened(config) as connection:
        for dag_id, name in shown:
            scoring = scoring_dag_id(name)
            view = queries.models_view(connection, name, scores=allowed(user, scoring))
            sections.append({
                "dag_id": dag_id, "dataset": name, "scoring_dag_id": scoring,
                "editable": allowed(user, dag_id, "PUT"), **view, **pages.models(view),
            })  # fmt: skip
    root = request.scope.get("root_path", "")
    return pages.render("models.html", sections=sections, root=root, change_header=CHANGE_HEADER)


class ChampionChoice(BaseModel):
    version: int = Field(ge=1, description="The model version to make the champion")


@app.post("/models/{dag_id}/champion", dependencies=[Depends(requires_access_dag("PUT"))])
def make_champion(
    dag_id: str,
    choice: ChampionChoice,
    user: GetUserDep,
    x_ml_views: Annotated[str | None, Header()] = None,
) -> dict:
    """Make a version of the DAG's dataset the champion (a promotion or a rollback), recorded in
    promotions with the user's name."""
    from ml_pipeline.registry.promotion import choose_champion, point_champion

    if x_ml_views != "champion":
        raise HTTPException(
            403, f"A change of champion needs the {CHANGE_HEADER} header the Models page sends."
        )
    config = PipelineConfig.from_env()
    dataset = training_dags(config).get(dag_id)
    if dataset is None:
        raise HTTPException(404, f"{dag_id} trains no declared dataset.")
    name = user.get_name()
    with opened(config) as connection:
        try:
            decision, live = choose_champion(
                connection, dataset, choice.version, f"{name} on the Models page", name
            )
        except LookupError:
            raise HTTPException(404, f"{dataset} has no model version {choice.version}.") from None
    models = Path(config.models_dir)
    if (models / live["path"]).is_file():  # the model store is on this machine: its link follows
        point_champion(models, live)
    log.info("%s made %s model version %d the champion: %s", name, dataset, live["version"], decision.reason)
    return {
        "dataset": dataset,
        "champion": live["version"],
        "promoted": decision.promoted,
        "reason": decision.reason,
    }
