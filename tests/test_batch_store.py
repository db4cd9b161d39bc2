"""Binary COPY into PostgreSQL: exact values, one batch per date, all or nothing."""

from datetime import date

import numpy as np
import psycopg
import pytest

from ml_pipeline.batch import Batch
from ml_pipeline.batch_store import copy_payload, replace_batch
from ml_pipeline.columns import FEATURE_COLUMNS

DAY = date(2026, 2, 3)


def stored(db, day):
    columns = ", ".join(FEATURE_COLUMNS)
    result = db.execute(
        f"SELECT {columns}, label FROM batch_rows WHERE batch_date = %s ORDER BY row_id", (day,)
    ).fetchall()
    values = np.array(result, dtype=np.float64).reshape(-1, len(FEATURE_COLUMNS) + 1)
    return values[:, :-1], values[:, -1].astype(np.int8)


def test_binary_load_round_trips_every_value_exactly(db, rng):
    features = rng.standard_normal((500, 30)) * 10.0 ** rng.integers(-300, 300, size=(500, 30))
    features[0, :4] = [0.0, -0.0, np.finfo(float).tiny, np.finfo(float).max]
    labels = rng.integers(0, 2, 500).astype(np.int8)
    batch = Batch(features, labels, FEATURE_COLUMNS)
    assert replace_batch(db, batch, DAY, "run-1", "test") == 500
    loaded_features, loaded_labels = stored(db, DAY)
    assert loaded_features.tobytes() == features.tobytes()
    np.testing.assert_array_equal(loaded_labels, labels)


def test_batch_row_records_its_run_and_counts(db, cancer):
    replace_batch(db, cancer, DAY, "run-1", "breast_cancer")
    row = db.execute(
        "SELECT dag_run_id, source, row_count, positive_count, data_sha256 FROM batches"
    ).fetchone()
    assert row == ("run-1", "breast_cancer", 569, 357, cancer.sha256())


def test_reloading_a_date_replaces_its_rows(db, cancer):
    replace_batch(db, cancer, DAY, "run-1", "breast_cancer")
    replace_batch(db, cancer.take(np.arange(100)), DAY, "run-2", "breast_cancer")
    replace_batch(db, cancer, date(2026, 2, 4), "run-3", "breast_cancer")
    counts = db.execute(
        "SELECT batch_date, count(*) FROM batch_rows GROUP BY batch_date ORDER BY 1"
    ).fetchall()
    assert counts == [(DAY, 100), (date(2026, 2, 4), 569)]
    assert db.execute("SELECT dag_run_id FROM batches WHERE batch_date = %s", (DAY,)).fetchone() == ("run-2",)


def test_a_failed_load_keeps_the_previous_batch_whole(db, cancer):
    replace_batch(db, cancer, DAY, "run-1", "breast_cancer")
    broken = Batch(cancer.features, np.full(len(cancer), 2, dtype=np.int8), cancer.feature_names)
    with pytest.raises(psycopg.errors.CheckViolation):
        replace_batch(db, broken, DAY, "run-2", "breast_cancer")
    assert db.execute("SELECT count(*) FROM batch_rows").fetchone() == (569,)
    assert db.execute("SELECT dag_run_id FROM batches").fetchone() == ("run-1",)


def test_columns_must_match_the_table(cancer):
    renamed = Batch(cancer.features, cancer.labels, ("radius", *cancer.feature_names[1:]))
    with pytest.raises(ValueError, match=r"missing \['mean_radius'\], unexpected \['radius'\]"):
        b"".join(copy_payload(renamed, DAY))


def listed_columns(statement: str, opening: str) -> list[str]:
    start = statement.index(opening) + len(opening)
    end = statement.index("\n)" if opening.endswith("(") else "FROM", start)
    return [column.strip() for column in statement[start:end].split(",")]


def test_copy_statements_list_the_table_columns_in_payload_order():
    from ml_pipeline.db import sql

    expected = ["batch_date", "row_id", *FEATURE_COLUMNS, "label"]
    assert listed_columns(sql("copy_batch_rows"), "COPY batch_rows (") == expected
    assert listed_columns(sql("copy_batch_window"), "SELECT") == expected


def test_a_window_of_stored_batches_reads_back_exactly(db, cancer, small_synthetic):
    from datetime import timedelta

    from ml_pipeline.batch_store import load_batches

    days = [DAY + timedelta(days=offset) for offset in range(3)]
    for day, batch in zip(days, (cancer, small_synthetic, cancer), strict=True):
        replace_batch(db, batch, day, "run", "test")
    window = load_batches(db, days[0], days[2])
    assert len(window) == len(cancer) + len(small_synthetic)
    assert window.features.tobytes() == np.vstack([cancer.features, small_synthetic.features]).tobytes()
    np.testing.assert_array_equal(window.labels, np.concatenate([cancer.labels, small_synthetic.labels]))
    assert len(load_batches(db, days[2] + timedelta(days=1), days[2] + timedelta(days=5))) == 0


def test_the_training_window_puts_earlier_days_before_today(db, cancer, small_synthetic):
    from datetime import timedelta

    from ml_pipeline.batch_store import with_earlier_days

    today = DAY + timedelta(days=3)
    replace_batch(db, cancer, DAY, "run", "test")  # outside a 3-day window
    replace_batch(db, small_synthetic, today - timedelta(days=2), "run", "test")
    replace_batch(db, cancer, today, "run", "test")  # today's own, stored by save_batch meanwhile

    window = with_earlier_days(db, cancer, today, days=3)
    assert len(window) == len(small_synthetic) + len(cancer)
    assert window.features.tobytes() == np.vstack([small_synthetic.features, cancer.features]).tobytes()
    assert len(with_earlier_days(db, cancer, today, days=1)) == len(cancer)
