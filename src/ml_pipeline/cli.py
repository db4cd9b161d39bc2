"""The pipeline's own commands, run against the pipeline database through its Airflow connection.

    python -m ml_pipeline predict --input rows.csv [--output scored.csv] [--dataset NAME]
    python -m ml_pipeline promote --version N [--dataset NAME]
    python -m ml_pipeline summary --run-id RUN_ID [--dataset NAME]
    python -m ml_pipeline scores --date YYYY-MM-DD [--dataset NAME]
    python -m ml_pipeline declare NAME --from sample.csv --label COLUMN [--key COLUMN] [--force]
    python -m ml_pipeline serve     the scoring service: every dataset's champion over HTTP

--dataset defaults to the configured dataset (ML_PIPELINE_DATASET, else breast_cancer).

The same code runs natively (`make predict`, `make promote`, which set the connection for the
embedded PostgreSQL) and in a container (`docker compose exec airflow-scheduler python -m ml_pipeline
predict --input data/rows.csv`), where the compose file sets the connection.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import date
from pathlib import Path

from ml_pipeline.basics.config import ConfigError, PipelineConfig
from ml_pipeline.basics.db import pipeline_connection


def predict(args, config: PipelineConfig) -> int:
    """Score a file with the dataset's champion: the rows, the class probabilities, the predicted class."""
    import psycopg

    from ml_pipeline.data_in.validation import BatchRejected
    from ml_pipeline.registry.model_files import ModelIntegrityError
    from ml_pipeline.registry.promotion import champion
    from ml_pipeline.use.predict import OutputRefused, predict_file

    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_name(f"{source.stem}.predictions.csv")
    with pipeline_connection(config) as connection:
        try:
            live = champion(connection, config.dataset)
        except psycopg.errors.UndefinedTable:  # a new database: not even the tables are there
            live = None
    if live is None:
        print(
            f"There is no champion model of dataset {config.dataset} yet: run the pipeline first "
            f"(make run{'' if config.dataset == 'breast_cancer' else ' DATASET=' + config.dataset}).",
            file=sys.stderr,
        )
        return 2
    model = Path(config.models_dir) / live["path"]
    try:
        rows = predict_file(
            source, output, model, live["sha256"], config.datasets_dir, config.declaration().key
        )
    except ModelIntegrityError as error:  # the champion's file changed since it was saved
        print(str(error), file=sys.stderr)
        return 1
    except (BatchRejected, OutputRefused) as error:
        print(str(error), file=sys.stderr)
        return 2
    except OSError as error:  # writing failed all the same: a full disk
        print(f"Cannot write {output}: {error.strerror}.", file=sys.stderr)
        return 2
    print(f"Scored {rows} rows of {source} with {config.dataset} model version {live['version']}: {output}")
    return 0


def promote(args, config: PipelineConfig) -> int:
    """Make a model version the champion by hand (a promotion or a rollback): table and link together."""
    from ml_pipeline.registry.promotion import choose_champion, point_champion

    with pipeline_connection(config) as connection:
        try:
            decision, live = choose_champion(
                connection, config.dataset, args.version, "the promote command", getpass.getuser()
            )
        except LookupError as error:
            print(str(error), file=sys.stderr)
            return 2
    point_champion(Path(config.models_dir), live)
    print(f"Champion of {config.dataset}: version {live['version']} ({live['path']}). {decision.reason}.")
    return 0


def summary(args, config: PipelineConfig) -> int:
    """What a run found: its batch, best parameters, CV and test scores, and its model."""
    import psycopg
    from psycopg.rows import dict_row

    from ml_pipeline.basics.db import sql
    from ml_pipeline.training.model import edge_notes

    with pipeline_connection(config) as connection:
        try:
            cursor = connection.cursor(row_factory=dict_row)
            params = {"dataset": config.dataset, "dag_run_id": args.run_id}
            row = cursor.execute(sql("run_summary"), params).fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
    if row is None:
        print(
            f"Run {args.run_id} recorded no experiment of dataset {config.dataset}: its tasks did not run.",
            file=sys.stderr,
        )
        return 1
    scores = "  ".join(
        f"{name} {row['test_' + name]:.4f}" for name in ("accuracy", "precision", "recall", "f1", "roc_auc")
    )
    model = Path(config.models_dir) / row["model_path"]
    cv = (
        f"{row['cv_mean_score']:.4f} ± {row['cv_std_score']:.4f}"
        if row["tuning"] == "grid"
        else f"none: tuning reused champion version {row['params_from_version']}'s parameters"
    )
    print(
        f"  batch        {row['batch_rows']} rows on {row['run_date']} "
        f"(train {row['train_rows']}, test {row['test_rows']})\n"
        f"  best params  {json.dumps(row['best_params'])}\n"
        f"  CV accuracy  {cv}\n"
        f"  test         {scores}\n"
        f"  model        {model.relative_to(Path.cwd()) if model.is_relative_to(Path.cwd()) else model}\n"
        f"  version      {row['version']}, {row['status']}: {row['status_reason']}"
    )
    if row["tuning"] == "grid":
        for note in edge_notes(row["param_grid"], row["best_params"], row["max_pca_components"]):
            print(f"  grid's edge  {note}")
    return 0


def scores(args, config: PipelineConfig) -> int:
    """A day's scores in the predictions table: rows per predicted class, and by which model."""
    import psycopg

    from ml_pipeline.basics.db import sql

    with pipeline_connection(config) as connection:
        try:
            found = connection.execute(
                sql("scores_summary"), {"dataset": config.dataset, "score_date": args.date}
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            found = []
    if not found:
        print(f"No scores of dataset {config.dataset} for {args.date} in predictions.", file=sys.stderr)
        return 1
    for version, predicted, count, scored_at in found:
        print(f"  {count:>9} rows predicted {predicted!s:<8} by model version {version} {scored_at:%X}")
    return 0


def declare_dataset(args, config: PipelineConfig) -> int:
    """Write datasets/NAME.toml from a sample file of the daily data."""
    from ml_pipeline.basics.datasets import DatasetError
    from ml_pipeline.data_in.declare import declare

    try:
        print(declare(config.datasets_dir, args.name, Path(args.sample), args.label, args.key, args.force))
    except DatasetError as error:
        print(str(error), file=sys.stderr)
        return 2
    return 0


def serve(args, config: PipelineConfig) -> int:
    """The scoring service, until stopped."""
    from ml_pipeline.use.serving.server import serve as serve_champions

    serve_champions(config)
    return 0


def day(text: str) -> date:
    """A date on the command line, YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write it as YYYY-MM-DD") from None


class OneLineParser(argparse.ArgumentParser):
    """A mistake in the command line is told in one line on stderr (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m ml_pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    scoring = commands.add_parser("predict", help="score a CSV with the champion model")
    scoring.add_argument("--input", required=True)
    scoring.add_argument("--output", help="default: INPUT with .predictions.csv")
    scoring.add_argument("--dataset", help="whose champion scores the rows (default: the configured one)")
    scoring.set_defaults(handler=predict)
    promotion = commands.add_parser("promote", help="make a model version the champion")
    promotion.add_argument("--version", type=int, required=True, help="the version, within the dataset")
    promotion.add_argument("--dataset", help="whose model (default: the configured one)")
    promotion.set_defaults(handler=promote)
    report = commands.add_parser("summary", help="what a run found, from the experiment tables")
    report.add_argument("--run-id", required=True)
    report.add_argument("--dataset", help="the run's dataset (default: the configured one)")
    report.set_defaults(handler=summary)
    scored = commands.add_parser("scores", help="a day's scores in the predictions table")
    scored.add_argument("--date", required=True, type=day, help="YYYY-MM-DD")
    scored.add_argument("--dataset", help="whose scores (default: the configured one)")
    scored.set_defaults(handler=scores)
    declaring = commands.add_parser("declare", help="declare a dataset from a sample of its daily file")
    declaring.add_argument("name", help="the dataset's name: lower-case letters, digits and _")
    declaring.add_argument("--from", dest="sample", required=True, help="a CSV, CSV.gz or Parquet sample")
    declaring.add_argument("--label", required=True, help="the column holding the class")
    declaring.add_argument("--key", help="the column naming each row (kept with its scores)")
    declaring.add_argument("--force", action="store_true", help="replace a declaration of that name")
    declaring.set_defaults(handler=declare_dataset)
    serving = commands.add_parser("serve", help="the scoring service (settings: ML_PIPELINE_SERVE_*)")
    serving.set_defaults(handler=serve)
    args = parser.parse_args(argv)
    try:
        config = PipelineConfig.from_env()
        if getattr(args, "dataset", None):
            config = config.with_overrides({"dataset": args.dataset}, origin="--")
        return args.handler(args, config)
    except (ConfigError, ConnectionError) as error:  # a setting, a declaration, the database: said once
        print(str(error), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
