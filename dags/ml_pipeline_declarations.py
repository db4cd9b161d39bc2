"""
### The dataset declarations, checked each time Airflow parses the DAG folder

Each `datasets/<name>.toml` that can be used becomes two DAGs (`ml_pipeline_dag.py`,
`ml_scoring_dag.py`). One that cannot makes none; this file then fails to import with the problems of
each such declaration, so that the UI's "DAG Import Errors" name the file and what to fix there, while
every other dataset's DAGs load as before.
"""

from __future__ import annotations

from ml_pipeline.basics.config import ConfigError, PipelineConfig
from ml_pipeline.basics.datasets import DatasetError, load_all

CONFIG = PipelineConfig.from_env(check_dataset=False)
_, PROBLEMS = load_all(CONFIG.datasets_dir)
try:
    CONFIG.validate(check_dataset=True)
except ConfigError as error:  # the default dataset (ML_PIPELINE_DATASET) is not declared
    PROBLEMS.append(str(error))
if PROBLEMS:
    raise DatasetError("\n".join(PROBLEMS))
