"""Any batch file at all, generated: it is read with exactly the values Python's own csv module finds
in it, or refused with the reader's own error and every problem named; never another exception."""

import csv
import gzip
import io
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_pipeline.basics.declaration_rules import normalise
from ml_pipeline.data_in.table_check import Columns
from ml_pipeline.data_in.validation import BatchRejected, read_batch_path

COLUMNS = Columns(("a", "b"), "y", (0, 1))
NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e50, max_value=1e50).map(repr),
    st.integers(-(10**6), 10**6).map(str),
)
ODD = st.sampled_from(["", "nan", "inf", "-inf", "true", "x", '"1.5"', " 2 ", "1e308", "1,5", '"', "é", "\t"])
CELLS = st.one_of(NUMBERS, NUMBERS, ODD)
LABELS = st.sampled_from(["0", "1", "0", "1", "1.0", " 0 ", "2", "", "yes"])
HEADERS = st.one_of(
    st.permutations(["a", "b", "y"]),
    st.sampled_from([["A ", "b", "Y"], ["a", "a", "y"], ["a", "b"], ["a", "b", "y", "z"], ["a;b;y"], [""]]),
)


def expected_rows(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The features and class indices of a file the reader accepted, as Python's csv module reads it."""
    header, *rows = [row for row in csv.reader(io.StringIO(text.removeprefix("\ufeff"))) if row]
    order = [header.index(next(n for n in header if normalise(n) == name)) for name in ("a", "b")]
    label = next(index for index, name in enumerate(header) if normalise(name) == "y")
    features = np.array([[float(row[index]) for index in order] for row in rows]).reshape(-1, 2)
    return features, np.array([COLUMNS.classes.index(int(float(row[label]))) for row in rows])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=HEADERS,
    rows=st.lists(st.tuples(CELLS, CELLS, LABELS), max_size=30),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    compressed=st.booleans(),
)
def test_any_batch_file_is_read_exactly_or_refused_by_name(tmp_path, header, rows, newline, bom, compressed):
    lines = [",".join(header), *(",".join(row[: len(header)] if len(header) < 3 else row) for row in rows)]
    text = ("\ufeff" if bom else "") + newline.join(lines) + newline
    path = tmp_path / ("day.csv.gz" if compressed else "day.csv")
    path.write_bytes(gzip.compress(text.encode()) if compressed else text.encode())
    try:
        checked = read_batch_path(path, COLUMNS, 2, 0.5)
    except BatchRejected as rejection:
        assert rejection.problems and all(
            isinstance(problem, str) and problem for problem in rejection.problems
        )
        assert str(rejection).startswith(f"Batch {path} rejected, {len(rejection.problems)} problem(s):")
        return
    features, labels = expected_rows(text)
    np.testing.assert_array_equal(checked.batch.features, features)
    np.testing.assert_array_equal(checked.batch.labels, labels)
    assert all(math.isfinite(value) for value in checked.batch.features.ravel())


@pytest.mark.parametrize("rows", [0, 1, 100])
def test_a_file_of_nothing_but_line_breaks_is_refused_whatever_its_length(tmp_path, rows):
    path = tmp_path / "day.csv"
    path.write_text("a,b,y" + "\n" * rows)
    with pytest.raises(BatchRejected) as refused:
        read_batch_path(path, COLUMNS, 2, 0.5)
    assert refused.value.problems == ["no data rows: the file has a header only"]
