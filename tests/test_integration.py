"""The whole pipeline, for real: Airflow's services with the LocalExecutor on an embedded PostgreSQL.

Drives the same commands as `make up`, `make run`, `make psql` and `make down`, in folders of its
own and on a port of its own, so it leaves a developer's local stack alone.
"""

import json
import re
import shutil
import time
import urllib.parse
import urllib.request

import joblib
import pytest
from sklearn.datasets import load_breast_cancer

from samples import CHURN, DATASETS_DIR, churn_frame
from stack import Stack

pytestmark = pytest.mark.stack  # starts Airflow's services: not in make test-unit

RUN_DATE = "2026-01-10"
BACKFILL_DATES = ("2026-02-01", "2026-02-02", "2026-02-03")
DROP_DATES = ("2026-03-01", "2026-03-02")
WINE_DATE = "2026-02-10"
DATASET_DATE = "2026-04-01"
# A user's own datasets, each one declaration file: CHURN (a drop folder of CSV files with string labels),
# and VISITS, a query on a table in a second database of the embedded server.
VISITS = CHURN.replace(
    'kind = "drop_folder"',
    'kind = "sql"\nconn_id = "crm"\n'
    'query = "SELECT customer_age, monthly_spend, support_calls, outcome FROM visits '
    'WHERE day = %(run_date)s"',
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("stack"))
    datasets = stack.base / "datasets"
    shutil.copytree(DATASETS_DIR, datasets)
    # churn's files arrive in a folder of its own outside the data folder, as on a shared mount.
    stack.churn_folder = stack.base / "shared" / "incoming" / "churn"
    (datasets / "churn.toml").write_text(CHURN + f'folder = "{stack.churn_folder}"\n')
    (datasets / "visits.toml").write_text(VISITS)
    (datasets / "iris.toml").write_text('[source]\nkind = "sklearn"\ntable = "iris"\n')  # its own columns
    crm = {"conn_type": "postgres", "host": str(stack.layout.pgdata), "login": "postgres", "schema": "crm"}
    stack.env.update(ML_PIPELINE_DATASETS_DIR=str(datasets), AIRFLOW_CONN_CRM=json.dumps(crm))
    started = stack("up")
    stack.up_output = started.stdout
    try:
        stack.first_run = stack("run", "--date", RUN_DATE)
        stack.second_run = stack("run", "--date", RUN_DATE)
        stack.other_conf = stack("run", "--date", RUN_DATE, "--conf", '{"cv_folds": 4}', check=False)
        stack.backfill = stack("backfill", "--from", BACKFILL_DATES[0], "--to", BACKFILL_DATES[-1])
        stack.backfill_again = stack("backfill", "--from", BACKFILL_DATES[0], "--to", BACKFILL_DATES[-1])
        stack.wine_backfill = stack("backfill", "--dataset", "wine", "--from", WINE_DATE, "--to", WINE_DATE)
        stack.drop_runs = drop_folder_runs(stack)
        stack.dataset_runs = dataset_runs(stack)
        yield stack
    finally:
        stack("down", check=False)


def drop_folder_runs(stack) -> dict:
    """A good file for one day and a broken one for the next, through the drop-folder source."""
    import pandas as pd

    from samples import breast_cancer_batch

    incoming = stack.base / "data" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    batch = breast_cancer_batch()
    frame = pd.DataFrame(batch.features, columns=list(batch.feature_names)).assign(label=batch.labels)
    frame.to_csv(incoming / f"{DROP_DATES[0]}.csv", index=False)
    frame.head(0).to_csv(incoming / f"{DROP_DATES[1]}.csv", index=False)  # header only
    conf = json.dumps({"source": "drop_folder"})
    return {day: stack("run", "--date", day, "--conf", conf, check=False) for day in DROP_DATES}


def dataset_runs(stack) -> dict:
    """wine with one setting, then the three declared above, each run by its own DAG."""
    stack.churn_folder.mkdir(parents=True)
    churn_frame(300, 5).to_csv(stack.churn_folder / f"{DATASET_DATE}.csv", index=False)
    with stack.connect("postgres") as server:
        server.autocommit = True
        server.execute("CREATE DATABASE crm")
    with stack.connect("crm") as crm:
        crm.execute(
            "CREATE TABLE visits (day date, customer_age integer, monthly_spend numeric(8, 2), "
            "support_calls smallint, outcome text)"
        )
        with crm.cursor().copy("COPY visits FROM STDIN") as copy:
            for row in churn_frame(300, 5).itertuples(index=False):
                copy.write_row([DATASET_DATE, row[1], row[2], row[3], row[0]])
    return {
        name: stack("run", "--date", DATASET_DATE, "--dataset", name, check=False)
        for name in ("wine", "churn", "visits", "iris")
    }


def test_up_prints_a_login_that_works(stack):
    line = next(line for line in stack.up_output.splitlines() if "login:" in line)
    assert f"http://localhost:{stack.port}" in line
    user, password = line.split("login:")[1].split(" / ")
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.port}/auth/token",
        data=json.dumps({"username": user.strip(), "password": password.strip()}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["access_token"]


def test_run_prints_every_task_and_a_summary(stack):
    output = stack.first_run.stdout
    for task in (
        "fetch_batch",
        "split_batch",
        "cross_validate_chunk[0]",
        "pick_best_model",
        "after_crossvalidation.save_results",
        "after_crossvalidation.store_best_params",
        "after_crossvalidation.refit_final_model",
    ):
        assert f"started   {task}" in output and f"success   {task}" in output
    for label in ("best params", "CV accuracy", "test         accuracy", "model"):
        assert label in output
    assert "Re-running" in stack.second_run.stdout


def test_another_conf_for_a_date_that_has_a_run_is_refused_not_dropped(stack):
    assert stack.other_conf.returncode == 2
    lines = stack.other_conf.stdout.splitlines()
    assert any(line.startswith(f"The run of {RUN_DATE} already exists (") for line in lines)
    assert "Traceback" not in stack.other_conf.stdout + stack.other_conf.stderr
    assert 'which a re-run keeps. To run that date with {"cv_folds": 4}, delete that run first' in (
        stack.other_conf.stdout
    )


def test_every_table_holds_sane_rows(stack):
    with stack.connect() as db:
        batches = db.execute(
            "SELECT dataset, batch_date::text, row_count, class_counts FROM batches WHERE batch_date = %s",
            (RUN_DATE,),
        ).fetchall()
        assert batches == [("breast_cancer", RUN_DATE, 569, {"0": 212, "1": 357})]
        assert db.execute(
            "SELECT count(*), count(DISTINCT row_id) FROM batch_rows WHERE batch_date = %s", (RUN_DATE,)
        ).fetchone() == (569, 569)
        experiments = db.execute(
            "SELECT experiment_id, run_date::text, cv_folds, cv_mean_score, test_accuracy, test_roc_auc,"
            " train_rows, test_rows, jsonb_array_length(param_grid -> 'classifier__C'), model_path"
            " FROM experiments WHERE run_date = %s",
            (RUN_DATE,),
        ).fetchall()
        assert len(experiments) == 1, "re-running a run must not add a second experiment"
        experiment_id, run_date, folds, cv_score, accuracy, auc, train, test, c_count, model = experiments[0]
        assert (run_date, folds, train, test, c_count) == (RUN_DATE, 5, 456, 113, 7)
        assert cv_score > 0.95 and accuracy > 0.93 and auc > 0.97
        assert db.execute(
            "SELECT count(*), min(rank_test_score), count(DISTINCT c), max(pca_n_components)"
            " FROM cv_results WHERE experiment_id = %s",
            (experiment_id,),
        ).fetchone() == (29 * 7, 1, 7, 29)
        assert db.execute(
            "SELECT count(*) FROM best_params WHERE experiment_id = %s", (experiment_id,)
        ).fetchone() == (1,)
        assert model.startswith(f"breast_cancer/{RUN_DATE}/model_{RUN_DATE}")


def test_saved_model_loads_and_scores(stack):
    with stack.connect() as db:
        relative_path, sha256 = db.execute(
            "SELECT model_path, model_sha256 FROM experiments WHERE run_date = %s", (RUN_DATE,)
        ).fetchone()
    path = stack.base / "models" / relative_path
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    data = load_breast_cancer()
    assert joblib.load(path).score(data.data, data.target) >= 0.95
    assert not list(path.parent.glob("*.tmp"))


def test_psql_reaches_the_pipeline_tables(stack):
    result = stack("psql", "-At", "-c", "select count(*) from experiments where run_date = '2026-01-10'")
    assert result.stdout.strip() == "1"


def snapshot(stack) -> dict:
    """What a user could inspect after a run, without the times things were written at."""
    with stack.connect() as db:
        tables = {
            "batches": db.execute(
                "SELECT dataset, batch_date, dag_run_id, row_count, data_sha256 FROM batches ORDER BY 1, 2"
            ).fetchall(),
            "batch_rows": db.execute(
                "SELECT batch_date, count(*), sum(mean_radius::numeric), sum(label) FROM batch_rows"
                " GROUP BY 1 ORDER BY 1"
            ).fetchall(),
            "experiments": db.execute(
                "SELECT experiment_id, dag_run_id, best_params, cv_mean_score, test_accuracy, model_path,"
                " model_sha256 FROM experiments ORDER BY 1"
            ).fetchall(),
            "cv_results": db.execute(
                "SELECT experiment_id, count(*), sum(mean_test_score::numeric) FROM cv_results"
                " GROUP BY 1 ORDER BY 1"
            ).fetchall(),
            "best_params": db.execute(
                "SELECT experiment_id, params, c FROM best_params ORDER BY 1"
            ).fetchall(),
        }
    files = sorted(
        (str(path.relative_to(stack.base)), path.stat().st_size)
        for folder in ("data", "models")
        for path in (stack.base / folder).rglob("*")
        if path.is_file()
    )
    return {"tables": tables, "files": files}


def test_clearing_tasks_and_running_them_again_changes_nothing(stack):
    before, api = snapshot(stack), stack.api()
    run_id = next(
        run["dag_run_id"]
        for run in api.request("GET", "/api/v2/dags/ml_pipeline/dagRuns")["dag_runs"]
        if run["logical_date"].startswith(RUN_DATE)
    )
    api.request(
        "POST",
        "/api/v2/dags/ml_pipeline/clearTaskInstances",
        {
            "dag_run_id": run_id,
            "task_ids": [
                "fetch_batch",
                "after_crossvalidation.save_results",
                "after_crossvalidation.refit_final_model",
            ],
            "include_downstream": False,
            "only_failed": False,
            "dry_run": False,
            "reset_dag_runs": True,
        },
    )
    deadline = time.monotonic() + 300
    path = f"/api/v2/dags/ml_pipeline/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    while api.request("GET", path)["state"] != "success":
        assert time.monotonic() < deadline, "the cleared tasks did not run again in time"
        time.sleep(1)
    assert snapshot(stack) == before


def test_a_backfill_gives_one_batch_experiment_and_model_per_day(stack):
    ended = re.findall(r"^backfill__(\d{4}-\d\d-\d\d)\S*: (\w+)$", stack.backfill.stdout, re.M)
    assert ended == [(day, "success") for day in BACKFILL_DATES]
    with stack.connect() as db:
        rows = db.execute(
            "SELECT b.batch_date::text, b.row_count, count(e.*), min(e.model_path), min(e.dag_run_id)"
            " FROM batches b JOIN experiments e ON e.run_date = b.batch_date"
            " WHERE b.batch_date BETWEEN %s AND %s GROUP BY 1, 2 ORDER BY 1",
            (BACKFILL_DATES[0], BACKFILL_DATES[-1]),
        ).fetchall()
    assert [row[:3] for row in rows] == [(day, 569, 1) for day in BACKFILL_DATES]
    assert all(row[4].startswith("backfill__") for row in rows)
    for day, *_, model, _ in rows:
        assert (stack.base / "models" / model).is_file() and model.startswith(f"breast_cancer/{day}")


def test_the_same_backfill_again_keeps_the_days_that_ran(stack):
    again = stack.backfill_again
    assert "AlreadyRunningBackfill" not in again.stdout + again.stderr
    assert again.stdout.count("success   backfill__") == len(BACKFILL_DATES)
    with stack.connect() as db:
        (runs,) = db.execute(
            "SELECT count(*) FROM experiments WHERE run_date BETWEEN %s AND %s", BACKFILL_DATES[::2]
        ).fetchone()
    assert runs == len(BACKFILL_DATES), "no day ran twice"


def test_a_backfill_of_another_dataset_runs_that_dataset_s_dag(stack):
    assert "Backfill of ml_pipeline_wine (wine)" in stack.wine_backfill.stdout
    with stack.connect() as db:
        runs = db.execute(
            "SELECT dataset, dag_run_id FROM experiments WHERE run_date = %s", (WINE_DATE,)
        ).fetchall()
    assert [(dataset, run_id.split("__")[0]) for dataset, run_id in runs] == [("wine", "backfill")]


def test_the_drop_folder_feeds_a_run_and_a_broken_file_stops_one(stack):
    good, broken = (stack.drop_runs[day] for day in DROP_DATES)
    assert good.returncode == 0, good.stdout
    assert broken.returncode == 1 and "failed    fetch_batch" in broken.stdout
    with stack.connect() as db:
        sources = db.execute(
            "SELECT batch_date::text, source, row_count FROM batches"
            " WHERE dataset = 'breast_cancer' AND batch_date >= %s ORDER BY 1",
            (DROP_DATES[0],),
        ).fetchall()
    assert sources == [(DROP_DATES[0], "drop_folder", 569)], "nothing of the broken day was stored"
    rejected = stack.base / "data" / "rejected" / "breast_cancer" / DROP_DATES[1]
    assert (rejected / f"{DROP_DATES[1]}.csv").exists()
    assert "header only" in (rejected / f"{DROP_DATES[1]}.csv.reason.txt").read_text()


def test_every_run_registers_its_model_and_one_champion_is_live(stack):
    with stack.connect() as db:
        models = db.execute(
            "SELECT version, path, status FROM models WHERE dataset = 'breast_cancer' ORDER BY version"
        ).fetchall()
        experiments = db.execute(
            "SELECT count(*) FROM experiments WHERE dataset = 'breast_cancer' AND model_path IS NOT NULL"
        ).fetchone()
        settings = db.execute(
            "SELECT settings ->> 'source' FROM experiments WHERE run_date = %s", (DROP_DATES[0],)
        ).fetchone()
    assert len(models) == experiments[0] and [m[2] for m in models].count("champion") == 1
    assert settings == ("drop_folder",), "the run's params are recorded with its experiment"
    champion_path = next(path for _, path, status in models if status == "champion")
    link = stack.base / "models" / "breast_cancer" / "champion"
    assert link.resolve() == (stack.base / "models" / champion_path).resolve()
    model = stack.base / "models" / models[0][1]
    stem = model.with_suffix("")
    for suffix in (".metadata.json", ".cv_heatmap.png", ".roc.png", ".confusion.png"):
        assert stem.with_name(stem.name + suffix).is_file(), suffix


def test_promote_and_predict_from_the_command_line(stack):
    with stack.connect() as db:
        versions = [
            row[0]
            for row in db.execute("SELECT version FROM models WHERE dataset = 'breast_cancer' ORDER BY 1")
        ]
    rollback = stack("pipeline", "promote", "--version", str(versions[-1]))
    assert f"Champion of breast_cancer: version {versions[-1]}" in rollback.stdout
    with stack.connect() as db:
        assert db.execute(
            "SELECT version FROM models WHERE status = 'champion' AND dataset = 'breast_cancer'"
        ).fetchone() == (versions[-1],)
        assert (
            db.execute("SELECT reason FROM champion_history LIMIT 1")
            .fetchone()[0]
            .startswith("promoted by the promote command")
        )
    rows = stack.base / "data" / "incoming" / f"{DROP_DATES[0]}.csv"
    scored = stack("pipeline", "predict", "--input", str(rows), "--output", str(stack.base / "scored.csv"))
    assert f"Scored 569 rows of {rows} with breast_cancer model version {versions[-1]}" in scored.stdout
    assert (
        (stack.base / "scored.csv")
        .read_text()
        .splitlines()[0]
        .endswith(",probability_0,probability_1,predicted_label")
    )


def test_wine_trains_with_one_setting_changed(stack):
    run = stack.dataset_runs["wine"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ml_pipeline_wine" in run.stdout and "test         accuracy" in run.stdout
    paused = stack.api().request("GET", "/api/v2/dags/ml_pipeline_wine")["is_paused"]
    assert paused, "a run by hand leaves a new dataset's DAG paused, so `make up` starts no run of it"
    with stack.connect() as db:
        experiment = db.execute(
            "SELECT experiment_id, test_accuracy, train_rows + test_rows FROM experiments"
            " WHERE dataset = 'wine' AND run_date = %s",
            (DATASET_DATE,),
        ).fetchone()
        assert experiment[1] > 0.85 and experiment[2] == 178
        assert db.execute(
            "SELECT count(*), max(pca_n_components) FROM cv_results WHERE experiment_id = %s",
            (experiment[0],),
        ).fetchone() == (13 * 7, 13)  # every PCA size up to all 13 features
        assert db.execute(
            "SELECT count(*), count(DISTINCT cultivar) FROM wine_rows WHERE batch_date = %s", (DATASET_DATE,)
        ).fetchone() == (178, 3)
        champions = dict(
            db.execute("SELECT dataset, version FROM models WHERE status = 'champion'").fetchall()
        )
    assert {"breast_cancer", "wine"} <= set(champions), "each dataset has its own champion"
    assert (stack.base / "models" / "wine" / "champion").is_file()


def test_iris_declared_by_its_table_name_alone_trains_on_its_three_classes(stack):
    run = stack.dataset_runs["iris"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ml_pipeline_iris" in run.stdout
    with stack.connect() as db:
        assert db.execute(
            "SELECT count(*), count(DISTINCT target) FROM iris_rows WHERE batch_date = %s", (DATASET_DATE,)
        ).fetchone() == (150, 3)
        [(accuracy, classes, candidates)] = db.execute(
            "SELECT e.test_accuracy, m.classes, (SELECT count(*) FROM cv_results c"
            " WHERE c.experiment_id = e.experiment_id) FROM models m JOIN experiments e USING (experiment_id)"
            " WHERE m.dataset = 'iris'"
        ).fetchall()
    assert accuracy > 0.85 and classes == ["0", "1", "2"]
    assert candidates == 4 * 7, "every PCA size up to its 4 features, for each C"


def test_a_users_absolute_drop_folder_dataset_with_string_labels_runs_end_to_end(stack):
    run = stack.dataset_runs["churn"]
    assert run.returncode == 0, run.stdout + run.stderr
    with stack.connect() as db:
        assert db.execute(
            "SELECT outcome, count(*) > 0 FROM churn_rows GROUP BY 1 ORDER BY 1"
        ).fetchall() == [
            ("churned", True),
            ("stayed", True),
        ]
        assert db.execute("SELECT source FROM batches WHERE dataset = 'churn'").fetchone() == ("drop_folder",)
    rows = stack.churn_folder / f"{DATASET_DATE}.csv"
    scored = stack.base / "churn_scored.csv"
    stack("pipeline", "predict", "--dataset", "churn", "--input", str(rows), "--output", str(scored))
    assert scored.read_text().splitlines()[0] == (
        "Customer Age,Monthly-Spend,SUPPORT CALLS,probability_stayed,probability_churned,predicted_label"
    ), "the file's own headers, a probability per class"
    import csv

    with open(scored, newline="") as stream:
        assert {row["predicted_label"] for row in csv.DictReader(stream)} == {"stayed", "churned"}


def test_a_users_sql_source_reads_a_table_of_another_database(stack):
    run = stack.dataset_runs["visits"]
    assert run.returncode == 0, run.stdout + run.stderr
    with stack.connect() as db:
        assert db.execute("SELECT source, row_count FROM batches WHERE dataset = 'visits'").fetchone() == (
            "sql",
            300,
        )
        assert db.execute("SELECT count(*) FROM visits_rows").fetchone() == (300,)


def test_down_leaves_no_process_behind(stack):
    stack("down")
    assert stack.processes() == []
    assert not (stack.layout.pgdata / "postmaster.pid").exists()
