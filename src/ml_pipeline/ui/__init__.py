"""The pipeline's views inside the Airflow UI: an Experiment tab on each training run and a Models page.

An Airflow plugin (``plugin.py``, registered as an ``airflow.plugins`` entry point) mounts the FastAPI
app of ``app.py`` on the API server. The pages read the pipeline database only (``queries.py``, SQL
from the package's ``sql/ui_*.sql``) and draw their charts as SVG on the server (``charts.py``), so
they need no file from a worker's disk and nothing from outside the machine.

Part of the Airflow layer: it may import the registry and the shared basics (settings, database,
datasets); nothing in the pipeline's stages imports it.
"""
