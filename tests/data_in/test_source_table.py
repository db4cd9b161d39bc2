"""One check for every source: the same rows are refused for the same reasons whether they come as a
CSV file, a Parquet file or a table (a query's result, a bundled or synthetic table), only placed
differently (a file's line, a table's row); and what the check does not take stays for the caller."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet
import pytest

from ml_pipeline.data_in.source_table import SourceTable
from ml_pipeline.data_in.validation import BatchRejected, check_rows, file_table, read_batch_path
from samples import COLUMNS, FEATURE_COLUMNS


@pytest.fixture
def defective(cancer) -> pd.DataFrame:
    """The breast cancer rows with text, an empty cell, an infinity and a label that is no class."""
    frame = pd.DataFrame(cancer.features, columns=list(FEATURE_COLUMNS)).assign(label=cancer.labels)
    frame["mean_area"] = frame["mean_area"].astype(str)
    frame.loc[5, "mean_area"] = "abc"
    frame.loc[9, "mean_texture"] = np.nan
    frame.loc[20, "mean_perimeter"] = np.inf
    frame.loc[30, "label"] = 2
    return frame


def problems_of(call) -> tuple[str, list[str]]:
    with pytest.raises(BatchRejected) as caught:
        call()
    return caught.value.source, caught.value.problems


def expected(place: str, offset: int) -> list[str]:
    """The problems of ``defective``, its row ``k`` (from 0) named ``place`` ``k + offset``."""
    return [
        f"column 'mean_texture': 1 row(s) are empty or NaN (first at {place} {9 + offset})",
        f"column 'mean_perimeter': 1 row(s) are infinite (first at {place} {20 + offset}: inf)",
        f"column 'mean_area': 1 row(s) are not numbers (first at {place} {5 + offset}: 'abc')",
        "column 'label': 1 row(s) hold a value that is not a class (0, 1) "
        f"(first at {place} {30 + offset}: '2')",
    ]


def test_a_csv_file_a_parquet_file_and_a_table_are_refused_for_the_same_reasons(tmp_path, defective):
    csv, parquet = tmp_path / "day.csv", tmp_path / "day.parquet"
    defective.to_csv(csv, index=False)
    defective.to_parquet(parquet)
    table = SourceTable(pa.Table.from_pandas(defective, preserve_index=False), "query of dataset visits")
    assert problems_of(lambda: read_batch_path(csv, COLUMNS, 5, 0.2)) == (str(csv), expected("line", 2))
    from_parquet = problems_of(lambda: read_batch_path(parquet, COLUMNS, 5, 0.2))
    assert from_parquet == (str(parquet), expected("row", 1))
    assert problems_of(lambda: check_rows(table, COLUMNS, 5, 0.2)) == (table.origin, expected("row", 1))


def test_a_table_in_many_blocks_is_read_whole_and_its_problems_placed_in_it(cancer):
    """A table of 40 blocks of 569 rows, checked a run of blocks per core: every value in its place,
    and a problem in a late block named at its row in the whole table."""
    frame = pd.DataFrame(cancer.features, columns=list(FEATURE_COLUMNS)).assign(label=cancer.labels)
    blocks = [pa.RecordBatch.from_pandas(frame, preserve_index=False) for _ in range(40)]
    checked = check_rows(SourceTable(pa.Table.from_batches(blocks), "bundled"), COLUMNS, 5, 0.2)
    np.testing.assert_array_equal(checked.batch.features, np.tile(cancer.features, (40, 1)))
    np.testing.assert_array_equal(checked.batch.labels, np.tile(cancer.labels, 40))
    late = frame.assign(mean_radius=frame.mean_radius.where(frame.index != 100, -np.inf))
    blocks[37] = pa.RecordBatch.from_pandas(late, preserve_index=False)
    rows = SourceTable(pa.Table.from_batches(blocks), "bundled")
    assert problems_of(lambda: check_rows(rows, COLUMNS, 5, 0.2))[1] == [
        f"column 'mean_radius': 1 row(s) are infinite (first at row {37 * len(frame) + 101}: -inf)"
    ]


def test_a_key_column_stays_for_the_caller_with_the_names_as_written(tmp_path, cancer):
    frame = pd.DataFrame(cancer.features, columns=list(FEATURE_COLUMNS))
    frame.insert(0, "Customer ID", [f"c{index}" for index in range(len(frame))])
    frame.columns = ["Customer ID", "Mean Radius", *frame.columns[2:]]
    path = tmp_path / "score.csv"
    frame.to_csv(path, index=False)
    columns = replace(COLUMNS, key="customer_id")
    rows = file_table(path, columns)
    checked = check_rows(rows, columns, 2, 0.5, labelled=False)
    np.testing.assert_array_equal(checked.batch.features, cancer.features)
    assert rows.names[:2] == ["Customer ID", "Mean Radius"]
    assert rows.table.column_names == ["customer_id"]
    assert rows.table.column("customer_id").to_pylist() == [f"c{index}" for index in range(len(frame))]


@pytest.mark.parametrize(
    ("labels", "problems"),
    [
        (lambda codes: pa.array(codes.astype(bool)),
         ["column 'label' holds bool values: labels must be numbers or text"]),
        (lambda codes: pa.array([str(c).encode() for c in codes], pa.binary()),
         ["column 'label' holds binary values: labels must be numbers or text"]),
        (lambda codes: pa.array([{"class": int(c)} for c in codes]),
         ["column 'label' holds struct<class: int64> values: labels must be numbers or text"]),
        (lambda codes: pa.nulls(len(codes)),
         ["column 'label': 569 row(s) are empty (first at row 1)",
          "only one class: every label is missing; the model needs rows of at least two of 0, 1"]),
        (lambda codes: pa.array(np.where(codes == 1, 2**64 - 1, 0).astype(np.uint64)),
         ["column 'label': 357 row(s) hold a value that is not a class (0, 1) (first at row 20: "
          "'18446744073709551615')",
          "only one class: every label is 0; the model needs rows of at least two of 0, 1"]),
    ],
)  # fmt: skip
def test_a_label_column_of_any_type_is_read_or_refused_by_name(tmp_path, cancer, labels, problems):
    columns = {name: cancer.features[:, i] for i, name in enumerate(FEATURE_COLUMNS)}
    path = tmp_path / "day.parquet"
    pa.parquet.write_table(pa.table({**columns, "label": labels(cancer.labels)}), path)
    assert problems_of(lambda: read_batch_path(path, COLUMNS, 5, 0.2)) == (str(path), problems)


def test_categories_and_integers_beyond_a_double_s_precision_are_read(tmp_path, cancer):
    columns = {name: cancer.features[:, i] for i, name in enumerate(FEATURE_COLUMNS)}
    columns["mean_radius"] = pa.array(np.full(len(cancer), 2**62 + 1, dtype=np.int64))
    labels = pa.array(cancer.labels.astype(str)).dictionary_encode()
    path = tmp_path / "day.parquet"
    pa.parquet.write_table(pa.table({**columns, "label": labels}), path)
    checked = read_batch_path(path, COLUMNS, 5, 0.2)
    assert (checked.batch.features[:, 0] == float(2**62)).all()
    np.testing.assert_array_equal(checked.batch.labels, cancer.labels)


def test_a_feature_of_categories_is_read_as_its_numbers(cancer):
    columns = {name: cancer.features[:, i] for i, name in enumerate(FEATURE_COLUMNS)}
    columns["mean_radius"] = pa.array(np.round(cancer.features[:, 0])).dictionary_encode()
    rows = SourceTable(pa.table({**columns, "label": cancer.labels}), "query of dataset visits")
    checked = check_rows(rows, COLUMNS, 5, 0.2)
    np.testing.assert_array_equal(checked.batch.features[:, 0], np.round(cancer.features[:, 0]))
