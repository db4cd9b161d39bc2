"""Each dataset's table, and binary COPY into it: exact values, one batch per date, all or nothing."""

from datetime import date, timedelta

import numpy as np
import pytest

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.datasets import Dataset, Source
from ml_pipeline.data_in.batch_store import copy_payload, load_batches, replace_batch
from ml_pipeline.data_in.batch_table import DeclarationChanged, create_batch_table
from samples import BREAST_CANCER, FEATURE_COLUMNS, WINE

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
    assert replace_batch(db, BREAST_CANCER, batch, DAY, "run-1", "test") == 500
    loaded_features, loaded_labels = stored(db, DAY)
    assert loaded_features.tobytes() == features.tobytes()
    np.testing.assert_array_equal(loaded_labels, labels)


def test_batch_row_records_its_run_and_counts(db, cancer):
    replace_batch(db, BREAST_CANCER, cancer, DAY, "run-1", "breast_cancer")
    row = db.execute(
        "SELECT dataset, dag_run_id, source, row_count, class_counts, data_sha256 FROM batches"
    ).fetchone()
    assert row == ("breast_cancer", "run-1", "breast_cancer", 569, {"0": 212, "1": 357}, cancer.sha256())


def test_reloading_a_date_replaces_its_rows(db, cancer):
    replace_batch(db, BREAST_CANCER, cancer, DAY, "run-1", "breast_cancer")
    replace_batch(db, BREAST_CANCER, cancer.take(np.arange(100)), DAY, "run-2", "breast_cancer")
    replace_batch(db, BREAST_CANCER, cancer, date(2026, 2, 4), "run-3", "breast_cancer")
    counts = db.execute(
        "SELECT batch_date, count(*) FROM batch_rows GROUP BY batch_date ORDER BY 1"
    ).fetchall()
    assert counts == [(DAY, 100), (date(2026, 2, 4), 569)]
    assert db.execute("SELECT dag_run_id FROM batches WHERE batch_date = %s", (DAY,)).fetchone() == ("run-2",)


def test_a_failed_load_keeps_the_previous_batch_whole(db, cancer, monkeypatch):
    from ml_pipeline.data_in import batch_store

    replace_batch(db, BREAST_CANCER, cancer, DAY, "run-1", "breast_cancer")
    whole_payload = batch_store.copy_payload

    def payload_then_failure(*args):
        chunks = whole_payload(*args, rows_per_chunk=100)
        yield from (next(chunks), next(chunks))
        raise OSError("the disk the batch was read from went away")

    monkeypatch.setattr(batch_store, "copy_payload", payload_then_failure)
    with pytest.raises(OSError, match="went away"):
        replace_batch(db, BREAST_CANCER, cancer.take(np.arange(300)), DAY, "run-2", "breast_cancer")
    assert db.execute("SELECT count(*) FROM batch_rows").fetchone() == (569,)
    assert db.execute("SELECT dag_run_id FROM batches").fetchone() == ("run-1",)


def test_columns_must_match_the_table(cancer):
    renamed = Batch(cancer.features, cancer.labels, ("radius", *cancer.feature_names[1:]))
    with pytest.raises(ValueError, match=r"columns \['radius', .* are not dataset breast_cancer's"):
        b"".join(copy_payload(BREAST_CANCER, renamed, DAY))


def declared(name: str, classes: list, features=("size", "weight"), label="outcome", table=None) -> Dataset:
    return Dataset(
        name=name,
        features=tuple(features),
        label=label,
        classes=tuple(classes),
        source=Source(kind="synthetic", folder=f"incoming/{name}"),
        table=table or f"{name}_rows",
        schedule="@daily",
        description=f"{name} for a test",
    )


def test_each_dataset_gets_a_table_of_its_declared_columns(db):
    wine = WINE
    create_batch_table(db, wine)
    columns = db.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'wine_rows' "
        "ORDER BY ordinal_position"
    ).fetchall()
    assert columns == [
        ("batch_date", "date"),
        ("row_id", "integer"),
        *((name, "double precision") for name in wine.features),
        ("cultivar", "smallint"),
    ]
    create_batch_table(db, wine)  # again: nothing to do


def test_string_classes_are_stored_as_declared_and_read_back_as_indices(db):
    churn = declared("churn", ["stayed", "churned", "paused"])
    create_batch_table(db, churn)
    labels = np.array([0, 1, 2, 1, 1, 0, 2] * 3000, dtype=np.int8)  # more than one COPY chunk
    features = np.random.default_rng(1).normal(size=(len(labels), 2))
    assert replace_batch(db, churn, Batch(features, labels, churn.features), DAY, "run-1", "test") == len(
        labels
    )
    stored_rows = db.execute(
        "SELECT outcome, count(*) FROM churn_rows GROUP BY outcome ORDER BY outcome"
    ).fetchall()
    assert stored_rows == [("churned", 9000), ("paused", 6000), ("stayed", 6000)]
    assert db.execute("SELECT class_counts FROM batches WHERE dataset = 'churn'").fetchone() == (
        {"stayed": 6000, "churned": 9000, "paused": 6000},
    )
    window = load_batches(db, churn, DAY, DAY + timedelta(days=1))
    assert window.features.tobytes() == features.tobytes()
    np.testing.assert_array_equal(window.labels, labels)


def test_a_changed_declaration_stops_with_the_difference_and_keeps_the_rows(db, cancer):
    replace_batch(db, BREAST_CANCER, cancer, DAY, "run-1", "breast_cancer")
    changed = declared(
        "breast_cancer", ["malignant", "benign"], features=(*FEATURE_COLUMNS[:-1], "tumour_grade"),
        label="label", table="batch_rows",
    )  # fmt: skip
    with pytest.raises(DeclarationChanged) as caught:
        create_batch_table(db, changed)
    message = str(caught.value)
    assert "declared but not in the table: tumour_grade" in message
    assert "in the table but not declared: worst_fractal_dimension" in message
    assert "label is smallint, declared text" in message
    assert "ALTER TABLE batch_rows RENAME TO batch_rows_old" in message
    assert db.execute("SELECT count(*) FROM batch_rows").fetchone() == (569,)


def test_a_declared_name_cannot_inject_sql(db):
    odd = declared("odd", [0, 1], features=("x",), table="odd_rows")
    sneaky = Dataset(**{**odd.__dict__, "features": ("x double precision); DROP TABLE batches; --",)})
    create_batch_table(db, sneaky)  # the declaration reader refuses such names; the SQL is safe anyway
    assert db.execute("SELECT count(*) FROM batches").fetchone() == (0,)
    column = db.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'odd_rows' AND ordinal_position = 3"
    ).fetchone()
    assert column == sneaky.features


def test_a_window_of_stored_batches_reads_back_exactly(db, cancer, small_synthetic):
    days = [DAY + timedelta(days=offset) for offset in range(3)]
    for day, batch in zip(days, (cancer, small_synthetic, cancer), strict=True):
        replace_batch(db, BREAST_CANCER, batch, day, "run", "test")
    window = load_batches(db, BREAST_CANCER, days[0], days[2])
    assert len(window) == len(cancer) + len(small_synthetic)
    assert window.features.tobytes() == np.vstack([cancer.features, small_synthetic.features]).tobytes()
    np.testing.assert_array_equal(window.labels, np.concatenate([cancer.labels, small_synthetic.labels]))
    assert len(load_batches(db, BREAST_CANCER, days[2] + timedelta(days=1), days[2] + timedelta(days=5))) == 0


@pytest.mark.parametrize(
    "edit", ["DELETE FROM batch_rows WHERE row_id < 10", "UPDATE batches SET row_count = row_count - 1"]
)
def test_rows_that_disagree_with_the_batch_record_are_refused_not_truncated(db, cancer, edit):
    """The read is sized by the batches table's row counts; rows changed by hand behind its back stop
    the read with what to do, instead of training on a part of them."""
    replace_batch(db, BREAST_CANCER, cancer, DAY, "run", "test")
    db.execute(edit)
    db.commit()
    with pytest.raises(RuntimeError, match=r"not the 5\d\d that the batches table records .* re-run"):
        load_batches(db, BREAST_CANCER, DAY, DAY + timedelta(days=1))
    assert db.execute("SELECT count(*) FROM batches").fetchone() == (1,)
