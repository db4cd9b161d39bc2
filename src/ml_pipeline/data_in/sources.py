"""Where the day's batch comes from: the source its dataset declares, or one a run chooses instead
(``source`` = ``synthetic`` or ``drop_folder``). Every batch is checked by the same rules."""

from __future__ import annotations

import math
import os
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import Dataset, Source
from ml_pipeline.data_in.validation import (
    BatchRejected,
    Checked,
    check_batch,
    check_table_batch,
    columns_of,
    read_batch_path,
)


def sklearn_table(dataset: Dataset) -> pa.Table:
    """A table bundled with scikit-learn, with its own column names and the label as declared."""
    import sklearn.datasets  # here, not at the top: a fetch from a file needs no scikit-learn

    bunch = getattr(sklearn.datasets, f"load_{dataset.source.table}")()
    columns = {name: bunch.data[:, index] for index, name in enumerate(bunch.feature_names)}
    labels = bunch.target if isinstance(dataset.classes[0], int) else bunch.target_names[bunch.target]
    return pa.table({**columns, dataset.label: labels})


def sklearn_batch(dataset: Dataset) -> Batch:
    """A bundled table as the dataset's batch (its columns matched to the declared ones)."""
    return check_table_batch(sklearn_table(dataset), columns_of(dataset), dataset.source.table, 2, 0.5).batch


def synthetic_batch(dataset: Dataset, rows: int, seed: int, shift: float = 0.0) -> Batch:
    """A seeded batch shaped like ``dataset``: its features, its number of classes. With ``shift``,
    the first third of its features are moved by that many of their standard deviations: a batch
    from a drifted distribution."""
    from sklearn.datasets import make_classification

    n_features, n_classes = len(dataset.features), len(dataset.classes)
    informative = max(math.ceil(n_features / 3), math.ceil(math.log2(2 * n_classes)))
    features, labels = make_classification(
        n_samples=rows,
        n_features=n_features,
        n_informative=min(informative, n_features),
        n_redundant=min(informative, n_features - min(informative, n_features)),
        n_classes=n_classes,
        class_sep=1.0,
        random_state=seed,
    )
    if shift:
        shifted = features[:, : shifted_features(n_features)]
        shifted += shift * shifted.std(axis=0)
    return Batch(features, labels.astype(np.int8), dataset.features)


def shifted_features(n_features: int) -> int:
    """How many of the first features ``synthetic_shift`` moves."""
    return max(1, n_features // 3)


def drop_file(dataset: Dataset, config: PipelineConfig, run_date: date, source: Source | None = None) -> Path:
    """The day's file in the drop folder (of ``source``, else the dataset's); BatchRejected if there is
    none, or more than one."""
    expected = dataset.drop_files(config.data_dir, run_date, source)
    found = [path for path in expected if os.path.lexists(path)]
    if len(found) == 1:
        return found[0]
    if not found:
        problem = f"there is no file {expected[0].name} (nor {', '.join(p.name for p in expected[1:])})"
    else:
        problem = f"{len(found)} files for the day: {', '.join(p.name for p in found)}; leave one"
    raise BatchRejected(str(expected[0].parent), [problem])


def query_table(dataset: Dataset, run_date: date, source: Source | None = None) -> pa.Table:
    """The result of the dataset's query (of ``source``, else its batch source) on its Airflow
    connection, with ``run_date`` as a parameter."""
    from airflow.sdk import BaseHook

    source = source or dataset.source
    origin = f"query of dataset {dataset.name} on connection {source.conn_id!r}"
    try:
        connection = BaseHook.get_connection(source.conn_id).get_hook().get_conn()
    except Exception as error:  # a missing connection, an unknown driver, a server that is down
        raise BatchRejected(
            origin,
            [f"cannot connect: {str(error).strip()[:300]}; define the Airflow connection "
             f"{source.conn_id!r} (e.g. AIRFLOW_CONN_{source.conn_id.upper()}) and check that it answers"],
        ) from None  # fmt: skip
    try:
        cursor = connection.cursor()
        cursor.execute(source.query, {"run_date": run_date})
        if cursor.description is None:
            raise BatchRejected(origin, ["the query returns no rows: it must be a SELECT"])
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    except BatchRejected:
        raise
    except Exception as error:  # the driver's own error: a bad query, a missing table, no permission
        raise BatchRejected(origin, [f"the query failed: {str(error).strip()[:300]}"]) from None
    finally:
        connection.close()
    if not rows:
        raise BatchRejected(origin, [f"the query returned no rows for {run_date}"])
    values = list(zip(*rows, strict=True))
    return pa.table({f"{name}": pa.array(column) for name, column in zip(names, values, strict=True)})


def fetch_batch(config: PipelineConfig, run_date: date) -> Checked:
    """The batch for ``run_date`` from the dataset's source (or the run's choice), validated;
    BatchRejected if unusable."""
    dataset = config.declaration()
    kind = dataset.source_kind(config.source)
    columns = columns_of(dataset)
    if kind == "drop_folder":
        return read_batch_path(
            drop_file(dataset, config, run_date), columns, config.cv_folds, config.test_fraction
        )
    if kind == "sql":
        return check_table_batch(
            query_table(dataset, run_date), columns, f"query of dataset {dataset.name}",
            config.cv_folds, config.test_fraction,
        )  # fmt: skip
    if kind == "sklearn":
        return check_table_batch(
            sklearn_table(dataset), columns, dataset.source.table, config.cv_folds, config.test_fraction
        )
    rows = (
        dataset.source.rows if config.source == "declared" and dataset.source.rows else config.synthetic_rows
    )
    batch = synthetic_batch(dataset, rows, config.random_seed, config.synthetic_shift)
    return check_batch(batch, dataset.classes, "synthetic", config.cv_folds, config.test_fraction)
