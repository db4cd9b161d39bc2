"""The seed project's pipeline steps as one plain Python script: the baseline of `make bench`.

It does what the seed's tasks do, in order, without Airflow: the batch as a DataFrame saved to CSV;
read back, split and saved as four CSVs; read back and loaded into PostgreSQL with
``to_sql(if_exists="replace")``; read back and searched with ``GridSearchCV`` (here on the pipeline's
own grid, and with ``n_jobs=-1``, which the seed did not use); the winner refit on the whole batch
and saved with joblib. Usage: seed_steps.py ROWS WORKDIR DATABASE_URL
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn import model_selection
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sqlalchemy import create_engine

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.training.model import build_pipeline, param_grid


def batch_frame(rows: int, seed: int) -> pd.DataFrame:
    names = list(load_breast_cancer().feature_names)
    if rows == 569:
        data = load_breast_cancer()
        features, labels = data.data, data.target
    else:
        features, labels = make_classification(
            n_samples=rows, n_features=30, n_informative=10, n_redundant=10, random_state=seed
        )
    frame = pd.DataFrame(np.column_stack([features, labels]), columns=[*names, "label"])
    return frame


def main(rows: int, workdir: Path, database_url: str) -> None:
    config = PipelineConfig()
    workdir.mkdir(parents=True, exist_ok=True)

    batch_frame(rows, config.random_seed).to_csv(workdir / "df.csv", index=False)

    frame = pd.read_csv(workdir / "df.csv")
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        frame.iloc[:, :-1], frame["label"], test_size=config.test_fraction
    )
    for name, part in (("x_train", x_train), ("x_test", x_test), ("y_train", y_train), ("y_test", y_test)):
        part.to_csv(workdir / f"{name}.csv", index=False)

    frame = pd.read_csv(workdir / "df.csv")
    frame.to_sql("seed_batch", create_engine(database_url), if_exists="replace", index=False)

    x_train, x_test = pd.read_csv(workdir / "x_train.csv"), pd.read_csv(workdir / "x_test.csv")
    y_train, y_test = pd.read_csv(workdir / "y_train.csv"), pd.read_csv(workdir / "y_test.csv")
    search = GridSearchCV(
        build_pipeline(),
        param_grid(config, x_train.shape[1]),
        cv=StratifiedKFold(config.cv_folds, shuffle=True, random_state=config.random_seed),
        n_jobs=-1,
    ).fit(x_train, y_train.values.ravel())
    accuracy = accuracy_score(y_test.values.ravel(), search.best_estimator_.predict(x_test))

    frame = pd.read_csv(workdir / "df.csv")
    best = build_pipeline().set_params(**search.best_params_)
    best.fit(frame.iloc[:, :-1], frame["label"])
    joblib.dump(best, workdir / "model.pkl", compress=1)
    print(f"seed steps: best {search.best_params_}, test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
