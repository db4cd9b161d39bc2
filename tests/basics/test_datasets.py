"""Declaring a dataset in one file, and reading its batches from each kind of source."""

import gzip
import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import date
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyarrow import parquet

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import DatasetError, declared, load
from ml_pipeline.data_in.sources import fetch_batch
from ml_pipeline.data_in.validation import BatchRejected
from samples import DATASETS_DIR, ROOT, WINE, churn_frame

DAY = date(2026, 4, 2)
CHURN = """
description = "Customers who left, or stayed."
features = ["customer_age", "monthly_spend", "support_calls"]
label = "outcome"
classes = ["stayed", "churned"]

[source]
kind = "drop_folder"
folder = "incoming/churn"
"""


@pytest.fixture
def datasets(tmp_path):
    folder = tmp_path / "datasets"
    shutil.copytree(DATASETS_DIR, folder)
    (folder / "churn.toml").write_text(CHURN)
    return folder


def config_for(datasets, tmp_path, dataset, **settings) -> PipelineConfig:
    return PipelineConfig(
        dataset=dataset, datasets_dir=str(datasets), data_dir=str(tmp_path / "data"), cv_folds=3, **settings
    )


def test_the_shipped_declarations_load():
    shipped = ROOT / "datasets"
    assert [load(shipped, name).name for name in ("breast_cancer", "wine")] == ["breast_cancer", "wine"]
    assert declared(DATASETS_DIR) == ["breast_cancer", "wine"]
    assert (WINE.label, WINE.classes, len(WINE.features), WINE.table) == (
        "cultivar",
        (0, 1, 2),
        13,
        "wine_rows",
    )
    assert load(DATASETS_DIR, "breast_cancer").table == "batch_rows"


def test_a_bad_declaration_names_every_problem(tmp_path):
    (tmp_path / "bad.toml").write_text(
        """
        features = ["Customer Age", "spend", "spend", "outcome"]
        label = "outcome"
        classes = [0, "yes"]
        colour = "blue"
        [source]
        kind = "sql"
        conn_id = "crm"
        query = "SELECT * FROM visits WHERE day = '2026-01-01'"
        """
    )
    with pytest.raises(DatasetError) as caught:
        load(tmp_path, "bad")
    message = str(caught.value)
    assert "unknown key 'colour'" in message
    assert "column 'Customer Age' is not a plain SQL column name; write it as 'customer_age'" in message
    assert "features named twice: spend" in message
    assert "the label 'outcome' is also listed as a feature" in message
    assert "classes must list two or more labels, all integers or all strings" in message
    assert "query must be a SELECT with %(run_date)s" in message


def test_a_scoring_source_a_key_and_no_time_schedule(tmp_path):
    (tmp_path / "churn.toml").write_text(
        CHURN.replace("[source]", 'key = "customer_id"\nschedule = "none"\n[source]')
        + '[scoring]\nkind = "sql"\nconn_id = "crm"\n'
        + 'query = "SELECT * FROM open_cases WHERE day = %(run_date)s"\n'
    )
    churn = load(tmp_path, "churn")
    assert (churn.key, churn.schedule) == ("customer_id", None)
    assert (churn.scoring_source.kind, churn.scoring_source.conn_id) == ("sql", "crm")
    assert churn.source.kind == "drop_folder"
    # Without [scoring], the rows to score come from the batch's source; a drop folder of its own
    # defaults to to_score/<name>.
    assert load(DATASETS_DIR, "wine").scoring_source == load(DATASETS_DIR, "wine").source
    (tmp_path / "churn.toml").write_text(CHURN + '[scoring]\nkind = "drop_folder"\n')
    assert load(tmp_path, "churn").scoring_source.folder == "to_score/churn"

    (tmp_path / "churn.toml").write_text(
        CHURN.replace("[source]", 'key = "outcome"\n[source]')
        + '[scoring]\nkind = "sklearn"\ntable = "wine"\n'
    )
    with pytest.raises(DatasetError) as caught:
        load(tmp_path, "churn")
    assert "key 'outcome' must name the column that identifies a row to score" in str(caught.value)
    assert '[scoring] kind must be "drop_folder" or "sql"' in str(caught.value)


def test_an_undeclared_dataset_lists_the_declared_ones(tmp_path):
    with pytest.raises(DatasetError, match=r"No dataset 'churn' is declared.*Declared: breast_cancer, wine"):
        load(DATASETS_DIR, "churn")


def test_a_drop_folder_csv_with_string_labels_and_other_headers(datasets, tmp_path):
    config = config_for(datasets, tmp_path, "churn")
    frame = churn_frame()
    (tmp_path / "data" / "incoming" / "churn").mkdir(parents=True)
    frame.to_csv(tmp_path / "data" / "incoming" / "churn" / f"{DAY}.csv", index=False)
    batch = fetch_batch(config, DAY).batch
    assert batch.feature_names == ("customer_age", "monthly_spend", "support_calls")
    np.testing.assert_array_equal(batch.features[:, 2], frame["SUPPORT CALLS"])
    np.testing.assert_array_equal(batch.labels, (frame.Outcome == "churned").astype(int))


def test_a_fetch_from_a_file_imports_no_scikit_learn(datasets, tmp_path):
    """Importing scikit-learn takes longer than reading a day's file; only its own sources need it."""
    folder = tmp_path / "data" / "incoming" / "churn"
    folder.mkdir(parents=True)
    churn_frame().to_csv(folder / f"{DAY}.csv", index=False)
    script = f"""
import sys
from datetime import date
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.data_in.sources import fetch_batch
config = PipelineConfig(dataset="churn", datasets_dir={str(datasets)!r}, data_dir={str(tmp_path / "data")!r},
                        cv_folds=3)
print(len(fetch_batch(config, date.fromisoformat({DAY.isoformat()!r})).batch), "sklearn" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == [str(len(churn_frame())), "False"]


def test_gzip_and_parquet_files_read_the_same(datasets, tmp_path):
    config = config_for(datasets, tmp_path, "churn")
    folder = tmp_path / "data" / "incoming" / "churn"
    folder.mkdir(parents=True)
    frame = churn_frame()
    with gzip.open(folder / f"{DAY}.csv.gz", "wt") as stream:
        frame.to_csv(stream, index=False)
    from_gzip = fetch_batch(config, DAY).batch
    (folder / f"{DAY}.csv.gz").unlink()
    parquet.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"{DAY}.parquet")
    from_parquet = fetch_batch(config, DAY).batch
    assert from_gzip.sha256() == from_parquet.sha256()


def test_a_parquet_file_is_checked_like_a_csv(datasets, tmp_path):
    config = config_for(datasets, tmp_path, "churn")
    folder = tmp_path / "data" / "incoming" / "churn"
    folder.mkdir(parents=True)
    frame = churn_frame().astype({"Monthly-Spend": str})
    frame.loc[6, "Monthly-Spend"] = "n/a"
    frame.loc[9, "Outcome"] = "left"
    frame["Signup"] = pd.Timestamp("2026-01-01")
    parquet.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"{DAY}.parquet")
    with pytest.raises(BatchRejected) as caught:
        fetch_batch(config, DAY)
    message = str(caught.value)
    assert "1 unexpected column(s): 'Signup'" in message
    assert "column 'monthly_spend': 1 row(s) are not numbers (first at row 7: 'n/a')" in message
    assert (
        "column 'outcome': 1 row(s) hold a value that is not a class (stayed, churned) (first at row 10"
        in (message)
    )


def test_two_files_for_one_day_are_refused(datasets, tmp_path):
    config = config_for(datasets, tmp_path, "churn")
    folder = tmp_path / "data" / "incoming" / "churn"
    folder.mkdir(parents=True)
    churn_frame().to_csv(folder / f"{DAY}.csv", index=False)
    churn_frame().to_csv(folder / f"{DAY}.csv.gz", index=False, compression="gzip")
    with pytest.raises(BatchRejected, match=f"2 files for the day: {DAY}.csv, {DAY}.csv.gz; leave one"):
        fetch_batch(config, DAY)


@pytest.fixture
def crm_database(postgres_server, monkeypatch):
    """A second database on the embedded server, holding a table of daily visits."""
    name = "crm_" + uuid.uuid4().hex[:8]
    postgres_server.psql(f'CREATE DATABASE "{name}";')
    host = parse_qs(urlparse(postgres_server.get_uri()).query)["host"][0]
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM",
        json.dumps({"conn_type": "postgres", "host": host, "login": "postgres", "schema": name}),
    )
    import psycopg

    with psycopg.connect(host=host, user="postgres", dbname=name, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE visits (day date, customer_age integer, monthly_spend numeric(8, 2), "
            "support_calls smallint, outcome text)"
        )
        frame = churn_frame(rows=200)
        with connection.cursor().copy("COPY visits FROM STDIN") as copy:
            for index, row in enumerate(frame.itertuples(index=False)):
                day = DAY if index < 150 else date(2026, 4, 3)
                copy.write_row([day, row[1], row[2], row[3], row[0]])
    return frame


def sql_declaration(datasets, query):
    (datasets / "visits.toml").write_text(
        CHURN.replace(
            'kind = "drop_folder"\nfolder = "incoming/churn"',
            f'kind = "sql"\nconn_id = "crm"\nquery = "{query}"',
        )
    )


def test_a_sql_source_reads_the_days_rows_from_another_database(datasets, tmp_path, crm_database):
    sql_declaration(
        datasets,
        "SELECT customer_age, monthly_spend, support_calls, outcome FROM visits WHERE day = %(run_date)s",
    )
    batch = fetch_batch(config_for(datasets, tmp_path, "visits"), DAY).batch
    assert len(batch) == 150
    np.testing.assert_allclose(batch.features[:, 1], crm_database["Monthly-Spend"][:150])
    np.testing.assert_array_equal(batch.labels, (crm_database.Outcome[:150] == "churned").astype(int))


def test_a_failing_query_is_named(datasets, tmp_path, crm_database):
    sql_declaration(datasets, "SELECT * FROM vists WHERE day = %(run_date)s")
    with pytest.raises(BatchRejected, match='the query failed: relation "vists" does not exist'):
        fetch_batch(config_for(datasets, tmp_path, "visits"), DAY)
    sql_declaration(datasets, "SELECT * FROM visits WHERE day = %(run_date)s - 30")
    with pytest.raises(BatchRejected, match="the query returned no rows for 2026-04-02"):
        fetch_batch(config_for(datasets, tmp_path, "visits"), DAY)


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        ("customer_age, monthly_spend, support_calls, outcome, 'stayed' AS outcome",
         "columns 4 and 5 ('outcome' and 'outcome') are the same column once case, spaces and punctuation "
         "are folded; keep one"),
        ("customer_age, 'Infinity'::numeric AS monthly_spend, support_calls, outcome",
         "column 'monthly_spend': 150 row(s) are infinite (first at row 1: inf)"),
    ],
)  # fmt: skip
def test_a_query_s_result_is_checked_like_a_file(datasets, tmp_path, crm_database, columns, problem):
    """Two columns of one name are named, not one kept; a value Arrow cannot hold as it is is named too."""
    sql_declaration(datasets, f"SELECT {columns} FROM visits WHERE day = %(run_date)s")
    with pytest.raises(BatchRejected) as refused:
        fetch_batch(config_for(datasets, tmp_path, "visits"), DAY)
    assert refused.value.problems == [problem]


def test_a_query_past_its_timeout_is_cancelled_on_the_server_and_named(datasets, tmp_path, crm_database):
    sql_declaration(
        datasets,
        "SELECT customer_age, monthly_spend, support_calls, outcome FROM visits, pg_sleep(30) "
        "WHERE day = %(run_date)s",
    )
    config = config_for(datasets, tmp_path, "visits", query_timeout_seconds=0.5)
    with pytest.raises(BatchRejected) as refused:
        fetch_batch(config, DAY)
    assert refused.value.problems == [
        "the query failed: canceling statement due to statement timeout (it ran past "
        "query_timeout_seconds, 0.5 s: make it faster, or raise the setting)"
    ]
    import psycopg

    host = json.loads(os.environ["AIRFLOW_CONN_CRM"])["host"]
    with psycopg.connect(host=host, user="postgres", dbname="postgres") as connection:
        running = connection.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE query LIKE '%%pg_sleep(30)%%' AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert running == 0, "the server goes on with no query once the task has given up"


@pytest.mark.parametrize("table", ["breast_cancer", "wine", "iris", "digits"])
def test_a_bundled_table_is_a_source_by_its_name_alone_with_its_own_columns(tmp_path, table):
    from sklearn import datasets as bundled

    (tmp_path / "mine.toml").write_text(f'[source]\nkind = "sklearn"\ntable = "{table}"\n')
    declaration = load(tmp_path, "mine")
    original = getattr(bundled, f"load_{table}")()
    spelled = [
        name.replace(" (cm)", "_cm").replace(" ", "_").replace("/", "_") for name in original.feature_names
    ]
    assert list(declaration.features) == spelled
    assert declaration.label == "target"
    assert declaration.classes == tuple(range(len(original.target_names)))
    checked = fetch_batch(config_for(tmp_path, tmp_path, "mine"), DAY)
    assert checked.batch.features.shape == original.data.shape
    np.testing.assert_array_equal(checked.batch.features, original.data)
    np.testing.assert_array_equal(checked.batch.labels, original.target)


VALID = 'features = ["a", "b"]\nlabel = "y"\n[source]\nkind = "drop_folder"\n'


@pytest.mark.parametrize(
    ("classes", "problem"),
    [
        ("[1]", 'classes must list two or more labels, all integers or all strings, e.g. classes = [0, 1] or '
                'classes = ["stayed", "churned"]'),
        ('[0, "yes"]', 'classes must list two or more labels, all integers or all strings, e.g. classes = '
                       '[0, 1] or classes = ["stayed", "churned"]'),
        ('["a", "a"]', "classes must differ from each other and have no spaces around them"),
        ('[" a", "b"]', "classes must differ from each other and have no spaces around them"),
        ("[0, 40000]", "integer classes must fit in a smallint (-32768 to 32767)"),
    ],
)  # fmt: skip
def test_each_problem_with_the_classes_is_told_in_full(tmp_path, classes, problem):
    (tmp_path / "mine.toml").write_text(f"classes = {classes}\n{VALID}")
    with pytest.raises(DatasetError) as refused:
        load(tmp_path, "mine")
    assert str(refused.value) == f"{tmp_path / 'mine.toml'} cannot be used: {problem}."


def test_a_file_that_is_not_a_declaration_is_told_what_it_is(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_bytes(b'classes = [0, 1]\ndescription = "caf\xe9"\n' + VALID.encode())
    with pytest.raises(DatasetError) as refused:
        load(tmp_path, "mine")
    assert str(refused.value) == (
        f"{path} is not UTF-8 text (invalid continuation byte at byte 35); save it as UTF-8."
    )
    path.write_text("classes = [0, 1\n")
    with pytest.raises(DatasetError) as refused:
        load(tmp_path, "mine")
    assert str(refused.value).startswith(f"{path} is not valid TOML: ")
    path.write_bytes("\ufeffclasses = [0, 1]\n".encode() + VALID.encode())  # saved with a BOM by an editor
    assert load(tmp_path, "mine").classes == (0, 1)


def test_integer_classes_may_span_a_whole_smallint_and_no_more(tmp_path):
    (tmp_path / "mine.toml").write_text(f"classes = [-32768, 32767]\n{VALID}")
    assert load(tmp_path, "mine").classes == (-32768, 32767)
    for classes in ("[-32769, 0]", "[0, 32768]"):
        (tmp_path / "mine.toml").write_text(f"classes = {classes}\n{VALID}")
        with pytest.raises(DatasetError, match=r"integer classes must fit in a smallint \(-32768 to 32767\)"):
            load(tmp_path, "mine")


def test_a_drop_folder_that_is_a_link_out_of_the_data_folder_is_refused_and_nothing_read(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    churn_frame().to_csv(elsewhere / f"{DAY}.csv", index=False)
    (tmp_path / "churn.toml").write_text(CHURN)
    config = config_for(tmp_path, tmp_path / "project", "churn")
    (tmp_path / "project" / "data" / "incoming").mkdir(parents=True)
    (tmp_path / "project" / "data" / "incoming" / "churn").symlink_to(elsewhere)
    with pytest.raises(BatchRejected) as refused:
        fetch_batch(config, DAY)
    assert refused.value.problems == [
        f"the drop folder leads to {elsewhere}, outside the data folder {tmp_path / 'project' / 'data'} (a "
        "link): declare that folder by its absolute path if it is meant, or replace the link by a folder"
    ]
    assert (elsewhere / f"{DAY}.csv").exists()


def test_an_absolute_drop_folder_is_read_and_a_relative_one_stays_inside_the_data_folder(tmp_path):
    shared = tmp_path / "srv" / "shared" / "incoming"
    shared.mkdir(parents=True)
    churn_frame().to_csv(shared / f"{DAY}.csv", index=False)
    (tmp_path / "churn.toml").write_text(CHURN.replace('folder = "incoming/churn"', f'folder = "{shared}"'))
    config = config_for(tmp_path, tmp_path / "project", "churn")
    assert len(fetch_batch(config, DAY).batch) == len(churn_frame())
    assert not (tmp_path / "project").exists(), "nothing is written in the data folder"
    for folder in ("../incoming", "incoming/../../etc", ""):
        declaration = CHURN.replace('folder = "incoming/churn"', f'folder = "{folder}"')
        (tmp_path / "churn.toml").write_text(declaration)
        with pytest.raises(DatasetError) as refused:
            load(tmp_path, "churn")
        assert str(refused.value) == (
            f"{tmp_path / 'churn.toml'} cannot be used: [source] folder {folder!r} must be a path inside the "
            'data folder, e.g. "incoming/churn", or an absolute one every worker can read, e.g. '
            '"/srv/shared/incoming".'
        )


NAMED = 'features = ["a", "b"]\nlabel = "y"\nclasses = [0, 1]\n'
ROWS_PROBLEM = "[source] rows must be an integer from 100 to 5,000,000"
QUERY_PROBLEM = (
    "query must be a SELECT with %(run_date)s where the run's date goes, e.g. "
    'query = "SELECT * FROM visits WHERE day = %(run_date)s"'
)


@pytest.mark.parametrize(
    ("declaration", "problems"),
    [
        ('[source]\nkind = "sklearn"\ntable = "titanic"\n',
         ["[source] table must be one of scikit-learn's breast_cancer, wine, iris, digits"]),
        ('[source]\nkind = "sql"\nquery = "SELECT * FROM visits"\n',
         ["[source] conn_id must name the Airflow connection to read from", f"[source] {QUERY_PROBLEM}"]),
        ('[source]\nkind = "synthetic"\nrows = 99\n', [ROWS_PROBLEM]),
        ('[source]\nkind = "synthetic"\nrows = 100.0\n', [ROWS_PROBLEM]),
        ('[source]\nkind = "synthetic"\nrows = 50\n'
         '[scoring]\nkind = "sql"\nconn_id = "crm"\nquery = "SELECT 1"\n',
         [ROWS_PROBLEM, f"[scoring] {QUERY_PROBLEM}"]),
        ('schedule = "every day"\n[source]\nkind = "drop_folder"\n',
         ['schedule \'every day\' must be a cron expression (e.g. "0 6 * * *") or one of @hourly, '
          '@daily, @weekly, @monthly, @quarterly, @yearly, @once, in quotes, or "none" for runs only '
          'when triggered']),
    ],
)  # fmt: skip
def test_each_problem_with_a_source_or_schedule_is_told_in_full_in_its_own_section(
    tmp_path, declaration, problems
):
    (tmp_path / "mine.toml").write_text(NAMED + declaration)
    with pytest.raises(DatasetError) as refused:
        load(tmp_path, "mine")
    assert str(refused.value) == f"{tmp_path / 'mine.toml'} cannot be used: {'; '.join(problems)}."


def test_a_declaration_without_label_or_features_and_a_name_not_declared_are_told_in_full(tmp_path):
    for text, problem in (
        ('features = ["a"]\nclasses = [0, 1]\n', 'label must name the label column, e.g. label = "churned"'),
        ('features = []\nlabel = "y"\nclasses = [0, 1]\n',
         'features must be a list of column names, e.g. features = ["age", "income"]'),
    ):  # fmt: skip
        (tmp_path / "mine.toml").write_text(text + '[source]\nkind = "drop_folder"\n')
        with pytest.raises(DatasetError) as refused:
            load(tmp_path, "mine")
        assert str(refused.value) == f"{tmp_path / 'mine.toml'} cannot be used: {problem}."
    (tmp_path / "mine.toml").write_text(NAMED + '[source]\nkind = "synthetic"\nrows = 100\n')
    assert (
        load(tmp_path, "mine").source.rows == 100 and load(tmp_path, "mine").source.folder == "incoming/mine"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError) as refused:
        load(empty, "nope")
    assert str(refused.value) == (
        f"No dataset 'nope' is declared: there is no {empty / 'nope.toml'}. Declared: none. "
        "Add nope.toml there (see README.md, 'Your own data') or choose a declared one."
    )
