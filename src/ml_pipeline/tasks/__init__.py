"""The Airflow layer: the DAGs' Python tasks, one module per pipeline stage (``data_in``, ``training``,
``registry``, ``use``), the drop-folder sensor and the DAG names and Assets. Each task reads its settings
and run from the Airflow context, calls the plain functions of the stages, and returns only small values
(paths, ids, scores) for XCom.

The DAG files import these modules when they are parsed, every few seconds: so only the standard library,
Airflow's SDK and the settings are imported at their top, and every task imports what it uses (NumPy,
scikit-learn, psycopg) when it runs. Under the LocalExecutor those libraries are imported already, once,
by the process the tasks are forked from (``preload``), which the DAG files never import.
"""
