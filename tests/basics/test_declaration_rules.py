"""Limits a declaration used to meet only late (a table PostgreSQL refuses, labels that overflow, a header
that can never match), now refused when it is read; and any TOML at all is a declaration or its named
problems."""

import json
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.datasets import DatasetError, load, load_all
from ml_pipeline.basics.declaration_rules import MOST_FEATURES

SOURCE = '[source]\nkind = "drop_folder"\n'


def refusal(tmp_path, text: str) -> str:
    (tmp_path / "mine.toml").write_text(text)
    with pytest.raises(DatasetError) as refused:
        load(tmp_path, "mine")
    return str(refused.value).removeprefix(f"{tmp_path / 'mine.toml'} cannot be used: ")


def declaration(features: int, classes: int = 2) -> str:
    names = json.dumps([f"f{index}" for index in range(features)])
    return f'features = {names}\nlabel = "y"\nclasses = {list(range(classes))}\n{SOURCE}'


def test_as_many_classes_as_a_label_code_holds_and_no_more(tmp_path):
    (tmp_path / "mine.toml").write_text(declaration(2, classes=127))
    assert len(load(tmp_path, "mine").classes) == 127
    assert refusal(tmp_path, declaration(2, classes=128)) == "128 classes: at most 127."


@pytest.mark.slow
def test_the_most_features_fit_a_batch_row_in_postgresql_and_one_more_is_refused(tmp_path, db):
    from ml_pipeline.data_in.batch_store import replace_batch
    from ml_pipeline.data_in.batch_table import create_batch_table

    (tmp_path / "wide.toml").write_text(declaration(MOST_FEATURES))
    wide = load(tmp_path, "wide")
    create_batch_table(db, wide)
    rows = np.random.default_rng(0).normal(size=(20, MOST_FEATURES)) * 1e300
    replace_batch(
        db, wide, Batch(rows, np.arange(20, dtype=np.int8) % 2, wide.features), date(2026, 3, 4), "r", "x"
    )
    stored = db.execute(f"SELECT count(*) FROM {wide.table}").fetchone()[0]
    assert stored == 20, "PostgreSQL holds a row of the widest batch"
    assert refusal(tmp_path, declaration(MOST_FEATURES + 1)) == (
        f"{MOST_FEATURES + 1:,} features: at most {MOST_FEATURES:,}, for a batch row to fit in one "
        "PostgreSQL page; declare fewer."
    )


@pytest.mark.parametrize(("column", "folded"), [("a__b", "a_b"), ("a_", "a"), ("x_1__", "x_1")])
def test_a_column_whose_folded_name_differs_is_refused_with_the_name_a_header_matches(
    tmp_path, column, folded
):
    text = f'features = ["{column}", "c"]\nlabel = "y"\nclasses = [0, 1]\n{SOURCE}'
    assert (
        refusal(tmp_path, text)
        == f"column {column!r} is not a plain SQL column name; write it as {folded!r}."
    )


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("pg_class", "table 'pg_class' is a PostgreSQL catalog name; choose another, or leave table out"),
        (
            "experiments",
            "table 'experiments' is one of the pipeline's own tables; choose another, or leave table out",
        ),
        (
            "promotions",
            "table 'promotions' is one of the pipeline's own tables; choose another, or leave table out",
        ),
    ],
)
def test_a_batch_table_named_like_the_catalog_s_or_the_pipeline_s_own_is_refused(tmp_path, table, problem):
    assert refusal(tmp_path, f'table = "{table}"\n' + declaration(2)) == problem + "."


def test_two_declarations_naming_one_table_are_both_refused_and_the_others_load(tmp_path):
    for name in ("first", "second"):
        (tmp_path / f"{name}.toml").write_text('table = "shared_rows"\n' + declaration(2))
    (tmp_path / "third.toml").write_text(declaration(3))
    usable, problems = load_all(tmp_path)
    assert [dataset.name for dataset in usable] == ["third"]
    assert problems == [
        f"first.toml and second.toml in {tmp_path} name the same batch table 'shared_rows': each dataset "
        'needs its own (e.g. table = "first_rows")'
    ]


def toml_value(value) -> str:
    """``value`` written as TOML (JSON's strings, numbers and arrays are TOML's too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not np.isfinite(value):
        return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)


KEYS = ["features", "label", "classes", "table", "schedule", "key", "description", "typo"]
SOURCE_KEYS = ["kind", "folder", "table", "conn_id", "query", "rows"]
NAMES = st.sampled_from(["a", "b", "y", "A b", "a__b", "row_id", "pg_x", "experiments", "", "x" * 70, "é"])
SCALARS = st.one_of(NAMES, st.integers(-(2**40), 2**40), st.floats(), st.booleans(), st.text(max_size=8))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=6))
KINDS = st.sampled_from(["drop_folder", "sql", "sklearn", "synthetic", "s3"])


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8),
    st.dictionaries(st.sampled_from(SOURCE_KEYS), st.one_of(KINDS, VALUES), max_size=6),
)
def test_any_declaration_loads_or_is_refused_by_name(tmp_path_factory, top, source):
    folder = tmp_path_factory.mktemp("declarations")
    lines = [f"{key} = {toml_value(value)}" for key, value in top.items()]
    lines += ["[source]", *(f"{key} = {toml_value(value)}" for key, value in source.items())]
    (folder / "mine.toml").write_text("\n".join(lines) + "\n")
    try:
        dataset = load(folder, "mine")
    except DatasetError as error:
        assert str(error).startswith(f"{folder / 'mine.toml'} ")
        return
    assert dataset.features and dataset.label not in dataset.features
    assert 2 <= len(dataset.classes) <= 127
    assert load_all(folder)[0] == [dataset]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_as_a_declaration_are_refused_by_name_or_loaded(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("declarations")
    (folder / "mine.toml").write_bytes(data)
    try:
        load(folder, "mine")
    except DatasetError as error:
        assert str(error).startswith(f"{folder / 'mine.toml'} ")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('table = "rows_x\\n"\n', "table 'rows_x\\n' must be a plain SQL table name"),
        ('key = "f0_"\n', "key 'f0_' must name the column that identifies a row to score (a plain SQL column "
                          "name, neither a feature nor the label)"),
        ('key = "row_id"\n', "key 'row_id' must name the column that identifies a row to score (a plain SQL "
                             "column name, neither a feature nor the label)"),
    ],
)  # fmt: skip
def test_names_that_load_but_could_never_match_a_file_are_refused(tmp_path, line, problem):
    assert refusal(tmp_path, line + declaration(2)) == problem + "."


def test_a_source_is_held_to_what_it_can_do(tmp_path):
    base = 'features = ["a"]\nlabel = "y"\nclasses = [0, 1]\n'
    assert refusal(tmp_path, base + '[source]\nkind = "synthetic"\nrows = 9223372036854775807\n') == (
        "[source] rows must be an integer from 100 to 5,000,000."
    )
    assert refusal(tmp_path, base + '[source]\nkind = "drop_folder"\nfolder = "a\\u0000b"\n').startswith(
        "[source] folder 'a\\x00b' must be a path inside the data folder"
    )
    query = "SELECT a, y FROM t WHERE day = %(run_date)s AND name LIKE 'x%' "
    sql = base + f'[source]\nkind = "sql"\nconn_id = "crm"\nquery = "{query}"\n'
    assert (
        refusal(tmp_path, sql)
        == "[source] query may have no parameter but %(run_date)s; write a literal % as %%."
    )
    assert refusal(tmp_path, 'features = ["a"]\nlabel = "y"\nclasses = ["", "x"]\n' + SOURCE) == (
        'a class cannot be empty text (""): an empty label cell is no class.'
    )


def test_a_declaration_nested_too_deeply_is_named_and_the_others_load(tmp_path):
    (tmp_path / "deep.toml").write_text("features = " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "fine.toml").write_text(declaration(2))
    usable, problems = load_all(tmp_path)
    assert [dataset.name for dataset in usable] == ["fine"]
    assert problems == [f"{tmp_path / 'deep.toml'} nests its values too deeply to be a declaration."]
