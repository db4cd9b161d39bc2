"""Bad input: every broken batch file is refused with the problem named, and nothing is kept of it."""

from datetime import UTC, date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.data_in.validation import BatchRejected, read_batch_path, reject_file
from samples import BREAST_CANCER, COLUMNS, FEATURE_COLUMNS, synthetic

DAY = date(2026, 3, 1)


def frame_of(batch) -> pd.DataFrame:
    frame = pd.DataFrame(batch.features, columns=list(FEATURE_COLUMNS))
    frame["label"] = batch.labels
    return frame


@pytest.fixture
def good_frame(cancer) -> pd.DataFrame:
    return frame_of(cancer)


def write(tmp_path, frame: pd.DataFrame, **options):
    path = tmp_path / f"{DAY}.csv"
    frame.to_csv(path, index=False, **options)
    return path


def rejected(path, folds=5, test_fraction=0.2) -> str:
    with pytest.raises(BatchRejected) as caught:
        read_batch_path(path, COLUMNS, folds, test_fraction)
    return str(caught.value)


def test_a_good_file_is_read_exactly(tmp_path, good_frame, cancer):
    checked = read_batch_path(write(tmp_path, good_frame), COLUMNS, 5, 0.2)
    np.testing.assert_array_equal(checked.batch.features, cancer.features)
    np.testing.assert_array_equal(checked.batch.labels, cancer.labels)
    assert checked.notes == []


def test_columns_may_come_in_any_order(tmp_path, good_frame, cancer):
    shuffled = good_frame[["label", *reversed(FEATURE_COLUMNS)]]
    checked = read_batch_path(write(tmp_path, shuffled), COLUMNS, 5, 0.2)
    np.testing.assert_array_equal(checked.batch.features, cancer.features)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert "the file is empty" in rejected(path)


def test_header_only(tmp_path, good_frame):
    assert "no data rows: the file has a header only" in rejected(write(tmp_path, good_frame.head(0)))


def test_missing_column(tmp_path, good_frame):
    message = rejected(write(tmp_path, good_frame.drop(columns=["mean_area"])))
    assert "1 missing column(s): mean_area" in message


def test_extra_column(tmp_path, good_frame):
    message = rejected(write(tmp_path, good_frame.assign(patient_name="x")))
    assert "1 unexpected column(s): 'patient_name'" in message


def test_text_in_a_numeric_column(tmp_path, good_frame):
    frame = good_frame.astype({"mean_radius": object})
    frame.loc[[3, 7], "mean_radius"] = ["twelve", "n/a?"]
    message = rejected(write(tmp_path, frame))
    assert "column 'mean_radius': 2 row(s) are not numbers (first at line 5: 'twelve')" in message


def test_nan_and_empty_cells(tmp_path, good_frame):
    frame = good_frame.copy()
    frame.loc[10, "worst_area"] = np.nan
    message = rejected(write(tmp_path, frame))
    assert "column 'worst_area': 1 row(s) are empty or NaN (first at line 12)" in message


def test_infinite_values(tmp_path, good_frame):
    frame = good_frame.copy()
    frame.loc[0, "area_error"] = np.inf
    frame.loc[1, "area_error"] = -np.inf
    message = rejected(write(tmp_path, frame))
    assert "column 'area_error': 2 row(s) are infinite (first at line 2: inf)" in message


def test_a_single_class(tmp_path, good_frame):
    message = rejected(write(tmp_path, good_frame[good_frame.label == 1]))
    assert "only one class: every label is 1" in message


def test_labels_other_than_zero_and_one(tmp_path, good_frame):
    message = rejected(write(tmp_path, good_frame.assign(label=good_frame.label.replace(0, 2))))
    assert (
        "column 'label': 212 row(s) hold a value that is not a class (0, 1) (first at line 2: 2)" in message
    )


def test_too_few_rows_for_the_folds(tmp_path, good_frame):
    few = pd.concat([good_frame[good_frame.label == 0].head(4), good_frame[good_frame.label == 1].head(50)])
    message = rejected(write(tmp_path, few))
    assert (
        "too few rows of class 0: 4; a 5-fold CV with a 0.2 test share needs at least 8 per class" in message
    )


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.csv"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert "not UTF-8 text" in rejected(path)


def test_non_utf8_text(tmp_path, good_frame):
    path = write(tmp_path, good_frame.head(20))
    path.write_bytes(path.read_bytes().replace(b"mean_radius", "mean_radiüs".encode("latin-1")))
    message = rejected(path)
    assert "not UTF-8 text: byte 0xfc" in message and "save the file as UTF-8 CSV" in message


def test_semicolon_separated(tmp_path, good_frame):
    message = rejected(write(tmp_path, good_frame, sep=";"))
    assert "separated by semicolons; save the file with commas" in message


def test_every_problem_is_reported_at_once(tmp_path, good_frame):
    frame = good_frame.drop(columns=["mean_area"]).assign(extra=1)
    frame.loc[0, "worst_area"] = np.inf
    message = rejected(write(tmp_path, frame))
    assert "3 problem(s)" in message


def test_duplicated_rows_are_reported_and_kept(tmp_path, good_frame):
    frame = pd.concat([good_frame, good_frame.head(3)], ignore_index=True)
    checked = read_batch_path(write(tmp_path, frame), COLUMNS, 5, 0.2)
    assert len(checked.batch) == 572
    assert checked.notes == ["3 duplicated row(s), kept (the first at line 571)"]


@pytest.mark.slow
def test_a_hundred_thousand_row_file_is_accepted(tmp_path):
    batch = synthetic(100_000, 3)
    checked = read_batch_path(write(tmp_path, frame_of(batch)), COLUMNS, 5, 0.2)
    assert len(checked.batch) == 100_000
    np.testing.assert_allclose(checked.batch.features, batch.features, rtol=1e-15)


def test_rejected_file_moves_aside_with_its_reasons(tmp_path, good_frame):
    path = write(tmp_path, good_frame.head(0))
    with pytest.raises(BatchRejected) as caught:
        read_batch_path(path, COLUMNS, 5, 0.2)
    moved = reject_file(path, tmp_path / "rejected" / str(DAY), caught.value)
    again = write(tmp_path, good_frame.head(0))
    moved_again = reject_file(again, tmp_path / "rejected" / str(DAY), caught.value)
    assert not path.exists()
    assert moved.name == f"{DAY}.csv" and moved_again.name == f"{DAY}.2.csv"
    assert "header only" in (moved.parent / f"{DAY}.csv.reason.txt").read_text()


def context_for(day: date, params: dict) -> dict:
    from datetime import datetime

    when = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {
        "logical_date": when,
        "dag_run": SimpleNamespace(run_after=when),
        "run_id": "manual__t",
        "params": params,
    }


def test_fetch_task_fails_without_retry_and_keeps_nothing(tmp_path, monkeypatch, good_frame):
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline.tasks import data_in

    monkeypatch.setenv("ML_PIPELINE_DATA_DIR", str(tmp_path / "data"))
    config = PipelineConfig(data_dir=str(tmp_path / "data"))
    incoming = BREAST_CANCER.drop_files(config.data_dir, DAY)[0]
    incoming.parent.mkdir(parents=True)
    frame = good_frame.astype({"mean_radius": object})
    frame.loc[0, "mean_radius"] = "abc"
    frame.to_csv(incoming, index=False)

    with pytest.raises(AirflowFailException) as caught:
        data_in.fetch_batch.function(**context_for(DAY, {"source": "drop_folder"}))
    message = str(caught.value)
    assert "column 'mean_radius': 1 row(s) are not numbers" in message
    assert f"Put a corrected file at {incoming}" in message
    assert not incoming.exists()
    assert (BREAST_CANCER.rejected_dir(config.data_dir, DAY) / f"{DAY}.csv.reason.txt").exists()


def test_a_query_result_is_refused_in_full_naming_its_origin_and_rows_to_score_need_no_label(cancer):
    import pyarrow as pa

    from ml_pipeline.data_in.source_table import SourceTable
    from ml_pipeline.data_in.validation import check_rows

    columns = {name: cancer.features[:, i] for i, name in enumerate(FEATURE_COLUMNS)}
    unlabelled = SourceTable(pa.table(columns), "query of visits")
    scored = check_rows(unlabelled, COLUMNS, 2, 0.5, labelled=False).batch
    np.testing.assert_array_equal(scored.features, cancer.features)
    broken = pa.table({**columns, "mean_radius": pa.array(["x"] * len(cancer))})
    with pytest.raises(BatchRejected) as refused:
        check_rows(SourceTable(broken, "query of visits"), COLUMNS, 5, 0.2)
    lines = str(refused.value).splitlines()
    assert lines[0] == f"Batch query of visits rejected, {len(refused.value.problems)} problem(s):"
    assert lines[1:] == [f"  - {problem}" for problem in refused.value.problems]
    assert len(lines) >= 3, "the missing label and the text column, each on its line"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, -0.0, 1.0, 2.0, 1e-300]), st.integers(0, 2), st.integers(0, 1)),
        min_size=1,
        max_size=60,
    )
)
def test_the_repeated_rows_are_every_row_equal_to_an_earlier_one(rows):
    from ml_pipeline.basics.batch import Batch
    from ml_pipeline.data_in.validation import repeated_rows

    features = np.asfortranarray([[a, float(b)] for a, b, _ in rows])
    batch = Batch(features, np.array([label for *_, label in rows], dtype=np.int8), ("a", "b"))
    seen, expected = set(), []
    for index, (a, b, label) in enumerate(rows):
        key = (a + 0.0, b, label)  # -0.0 equals 0.0
        if key in seen:
            expected.append(index)
        seen.add(key)
    assert repeated_rows(batch).tolist() == expected
