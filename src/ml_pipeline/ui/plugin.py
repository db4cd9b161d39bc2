"""The Airflow plugin: the views' app on the API server, a tab on each DAG run, a page in the menu."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/mlviews"


class AppsOnDemand:
    """``fastapi_apps``, read on the plugin class by the API server only: the app and what it imports
    (FastAPI, the auth manager's dependencies, Jinja) are not loaded by a task or the scheduler, which
    load plugins too."""

    def __get__(self, instance, owner) -> list[dict]:
        from ml_pipeline.ui.app import app

        return [{"app": app, "url_prefix": URL_PREFIX, "name": "ml_pipeline views"}]


class MlViewsPlugin(AirflowPlugin):
    name = "ml_pipeline_views"
    fastapi_apps = AppsOnDemand()

    external_views = [
        {
            "name": "Experiment",
            "href": "mlviews/run/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "ml-experiment",
        },
        {
            "name": "Models",
            "href": "mlviews/models",
            "destination": "nav",
            "url_route": "ml-models",
            "nav_top_level": True,
        },
    ]
