"""The day's candidate as refit_final_model makes it: tested on the run's test split, refit on the whole
window, saved in the model store and the database, and kept as it is when the run is cleared."""

import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from ml_pipeline.basics.run import RunKey
from ml_pipeline.data_in.batch_store import replace_batch
from ml_pipeline.data_in.handoff import publish
from ml_pipeline.registry.candidate import judged_candidate
from ml_pipeline.registry.model_files import load_model, metadata_path
from ml_pipeline.training.model import C_PARAM, PCA_PARAM
from ml_pipeline.training.tuning_report import reused_pick
from samples import BREAST_CANCER

RUN = RunKey(date(2026, 4, 5), "manual__2026-04-05")
PARAMS = {PCA_PARAM: 8, C_PARAM: 1.0}


@pytest.fixture
def settings(db, db_config, cancer):
    """The pipeline's settings on the test's own database, which holds the run's batch."""
    settings = db_config
    sha256 = cancer.sha256()
    replace_batch(db, BREAST_CANCER, cancer, RUN.run_date, RUN.run_id, "test", sha256)
    publish(settings, BREAST_CANCER, cancer, RUN.run_date, sha256, RUN.run_id)
    return settings


def test_the_candidate_is_scored_on_the_test_split_then_refit_on_every_row_and_stored(
    db, settings, cancer, fetch_rows
):
    pick = reused_pick(PARAMS, 1, settings.cv_folds, datetime.now(UTC))
    made = judged_candidate(settings, RUN, pick)

    assert made["champion_today"] is None, "no champion to judge yet"
    assert (made["report"]["train_rows"], made["report"]["test_rows"]) == (456, 113)
    assert made["report"]["test_metrics"]["accuracy"] > 0.9
    path = Path(made["model_path"])
    assert path.is_relative_to(settings.models_dir) and path.exists()
    model = load_model(path, made["sha256"])
    assert model.get_params()[PCA_PARAM] == 8 and model.get_params()[C_PARAM] == 1.0
    assert model.named_steps["scaler"].n_samples_seen_ == len(cancer), "refit on train and test rows"
    assert np.mean(model.predict(cancer.features) == cancer.labels) > 0.95
    metadata = json.loads(metadata_path(path).read_text())
    assert metadata["params"] == PARAMS and metadata["data_sha256"] == cancer.sha256()
    assert metadata["dag_run_id"] == RUN.run_id and metadata["model_sha256"] == made["sha256"]
    assert fetch_rows(db, "SELECT sha256 FROM model_files") == [(made["sha256"],)]


def test_a_cleared_refit_keeps_the_model_it_saved_from_the_same_rows(settings, caplog):
    pick = reused_pick(PARAMS, 1, settings.cv_folds, datetime.now(UTC))
    first = judged_candidate(settings, RUN, pick)
    with caplog.at_level(logging.INFO, logger="ml_pipeline.registry.candidate"):
        again = judged_candidate(settings, RUN, pick)
    assert again["sha256"] == first["sha256"] and again["report"] == {
        **first["report"],
        "finished_at": again["report"]["finished_at"],
    }
    assert "this run saved it from the same rows and parameters" in caplog.text
