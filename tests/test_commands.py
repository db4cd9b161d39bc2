"""A user's mistake with `python -m ml_pipeline` ends in one line on stderr and exit status 2: a date that
is none, an unknown command or dataset, a misspelt setting, a database that is not defined or down."""

import pytest

from ml_pipeline import cli

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/pipeline"


def exit_status(argv: list[str]) -> int:
    """What the command returns, or exits with (argparse exits on a command line it cannot read)."""
    try:
        return cli.main(argv)
    except SystemExit as exit:
        return exit.code


@pytest.mark.parametrize(
    ("argv", "environment", "told"),
    [
        (["scores", "--date", "yesterday"], {},
         "python -m ml_pipeline scores: argument --date: 'yesterday' is not a date; write it as "
         "YYYY-MM-DD (see --help)"),
        (["retrain"], {},
         "python -m ml_pipeline: argument command: invalid choice: 'retrain' (choose from 'predict', "
         "'promote', 'summary', 'scores', 'declare', 'serve') (see --help)"),
        (["predict", "--input", "rows.csv", "--dataset", "nope"], {},
         "Invalid pipeline settings: dataset is 'nope', which is not declared in {datasets}; choose one of "
         "breast_cancer, wine, or add nope.toml there."),
        (["summary", "--run-id", "x"], {"ML_PIPELINE_CV_FOLD": "3"},
         "Invalid pipeline settings: environment variable ML_PIPELINE_CV_FOLD is not a setting (the "
         "nearest is ML_PIPELINE_CV_FOLDS)."),
        (["summary", "--run-id", "x"], {"AIRFLOW_CONN_ML_PIPELINE_DB": None},
         "The Airflow connection 'ml_pipeline_db' to the pipeline database is not defined: set "
         "AIRFLOW_CONN_ML_PIPELINE_DB, or run the command on the stack (`make predict`, `make promote`; "
         "under compose, `docker compose exec airflow-scheduler python -m ml_pipeline`)."),
        (["promote", "--version", "1"], {"AIRFLOW_CONN_ML_PIPELINE_DB": UNREACHABLE},
         "Cannot reach the pipeline database through Airflow connection 'ml_pipeline_db': connection "
         "failed: connection to server at \"127.0.0.1\", port 1 failed: Connection refused Is the server "
         "running on that host and accepting TCP/IP connections?. Start PostgreSQL (`make up`, or `docker "
         "compose up -d`), or point AIRFLOW_CONN_ML_PIPELINE_DB at a reachable server, then try again."),
    ],
)  # fmt: skip
def test_a_mistake_is_told_in_one_line_with_exit_status_2(monkeypatch, capsys, argv, environment, told):
    from samples import DATASETS_DIR

    monkeypatch.setenv("ML_PIPELINE_DATASETS_DIR", str(DATASETS_DIR))
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert exit_status(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == told.format(datasets=DATASETS_DIR) + "\n"
