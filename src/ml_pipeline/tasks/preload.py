"""What every task process starts with already imported: the libraries the tasks import when they run.

A task's own imports cost more than most of its work (scikit-learn and SciPy about 1.5 s, the Amazon
provider's asset handlers, which the SQL hook's lineage loads, half a second), paid again by each of a
run's 15 tasks. The scheduler's LocalExecutor can start its workers from a forkserver that has imported
a list of modules first: ``[scheduler] mp_start_method = forkserver`` and ``mp_forkserver_preload =
ml_pipeline.tasks.preload`` (set by the stack and docker-compose.yaml). Every worker, and every task it
forks, then shares these modules, copy-on-write, instead of importing them.

Only libraries, never the project's own stages: a task imports those from disk when it runs, so that a
change to the package takes effect at the next task, as it would without this module. The DAG files do not
import this module.
"""

# ruff: noqa: F401 - imported to be inherited, not used here
import gc

import airflow.providers.amazon.aws.assets.s3
import airflow.providers.common.sql.operators.sql
import airflow.providers.postgres.hooks.postgres
import airflow.sdk.execution_time.supervisor
import airflow.sdk.execution_time.task_runner
import joblib
import matplotlib.pyplot
import numpy
import psycopg
import pyarrow
import pyarrow.compute
import pyarrow.csv
import pyarrow.parquet
import scipy.optimize
import scipy.special
import scipy.stats
import sklearn.datasets
import sklearn.decomposition
import sklearn.linear_model
import sklearn.metrics
import sklearn.model_selection
import sklearn.pipeline
import sklearn.preprocessing

# Out of the collector's sight: a task's collections would otherwise walk, and so copy, every object above.
gc.freeze()
