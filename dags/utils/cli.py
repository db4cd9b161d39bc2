"""The pipeline's own commands, run against the pipeline database through its Airflow connection.

    python -m utils.cli predict --input rows.csv [--output scored.csv]
    python -m utils.cli promote --version N

The same code runs natively (`make predict`, `make promote`, which set the connection for the
embedded PostgreSQL) and in a container (`docker compose exec airflow-scheduler python -m utils.cli
predict --input data/rows.csv`), where the compose file sets the connection.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from utils.config import PipelineConfig
from utils.db import pipeline_connection


def predict(args, config: PipelineConfig) -> int:
    """Score a CSV with the champion: the rows, the probability of class 1, the predicted class."""
    from utils.model_store import ModelIntegrityError
    from utils.predict import predict_csv
    from utils.registry import champion
    from utils.validation import BatchRejected

    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_name(f"{source.stem}.predictions.csv")
    with pipeline_connection(config) as connection:
        live = champion(connection)
    if live is None:
        print("There is no champion model yet: run the pipeline first.", file=sys.stderr)
        return 2
    model = Path(config.models_dir) / live["path"]
    try:
        rows = predict_csv(source, output, model, live["sha256"])
    except (BatchRejected, ModelIntegrityError, FileNotFoundError) as error:
        print(str(error), file=sys.stderr)
        return 1
    print(f"Scored {rows} rows of {source} with model version {live['version']}: {output}")
    return 0


def promote(args, config: PipelineConfig) -> int:
    """Make a model version the champion by hand (a promotion or a rollback): table and link together."""
    from utils.registry import champion, point_champion, promote_if_better

    with pipeline_connection(config) as connection:
        try:
            decision = promote_if_better(
                connection, args.version, 0.0, force=True, forced_by="the promote command"
            )
        except LookupError as error:
            print(str(error), file=sys.stderr)
            return 2
        live = champion(connection)
    point_champion(Path(config.models_dir), live["path"])
    print(f"Champion: version {live['version']} ({live['path']}). {decision.reason}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m utils.cli", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    scoring = commands.add_parser("predict", help="score a CSV with the champion model")
    scoring.add_argument("--input", required=True)
    scoring.add_argument("--output", help="default: INPUT with .predictions.csv")
    scoring.set_defaults(handler=predict)
    promotion = commands.add_parser("promote", help="make a model version the champion")
    promotion.add_argument("--version", type=int, required=True)
    promotion.set_defaults(handler=promote)
    args = parser.parse_args(argv)
    return args.handler(args, PipelineConfig.from_env())


if __name__ == "__main__":
    sys.exit(main())
