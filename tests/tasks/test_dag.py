"""The DAG as the scheduler sees it: it parses, and its tasks are wired in the documented shape."""

import subprocess
import sys

import pytest

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.db import SCHEMA, SQL_DIR, sql
from samples import ROOT

DAGS = ROOT / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["ml_pipeline"]


def test_dag_folder_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == ["ml_pipeline", "ml_pipeline_wine", "ml_scoring", "ml_scoring_wine"]
    assert sorted(path.name for path in DAGS.glob("*.py")) == [
        "ml_pipeline_dag.py", "ml_pipeline_declarations.py", "ml_scoring_dag.py"
    ]  # fmt: skip


def test_each_declared_dataset_has_its_own_dag_and_trigger_form(dagbag):
    default, wine = dagbag.dags["ml_pipeline"], dagbag.dags["ml_pipeline_wine"]
    assert default.params.dump()["dataset"] == "breast_cancer"
    assert wine.params.dump()["dataset"] == "wine"
    assert default.params.get_param("dataset").schema["enum"] == ["breast_cancer", "wine"]
    assert (default.is_paused_upon_creation, wine.is_paused_upon_creation) == (False, True)
    assert [task.task_id for task in wine.tasks] == [task.task_id for task in default.tasks]


def upstream(dag, task_id):
    return set(dag.get_task(task_id).upstream_task_ids)


def test_tasks_are_wired_in_the_documented_shape(dag):
    assert upstream(dag, "create_tables.create_pipeline_tables") == set()
    assert upstream(dag, "create_tables.create_batch_table") == set()
    assert upstream(dag, "wait_for_batch_file") == set()
    tables = {"create_tables.create_pipeline_tables", "create_tables.create_batch_table"}
    # The batch goes to the database first: later tasks read it there, on whichever worker they run.
    assert upstream(dag, "fetch_batch") == {"wait_for_batch_file", *tables}
    assert upstream(dag, "check_drift") == {"fetch_batch", *tables}
    # The tuning setting is decided while the batch is fetched: the grid's tasks, or straight to the
    # pick (the grid's tasks then show as skipped), which then reads no rows: no batch to wait for.
    assert upstream(dag, "choose_tuning") == tables
    assert upstream(dag, "split_batch") == {"fetch_batch", "choose_tuning"}
    assert upstream(dag, "cross_validate_chunk") == {"split_batch"}
    assert upstream(dag, "pick_best_model") == {"cross_validate_chunk", "choose_tuning"}
    assert dag.get_task("pick_best_model").trigger_rule == "none_failed_min_one_success"
    # One read of the rows scores the pick on the test split and refits it; the results saved after.
    assert upstream(dag, "after_crossvalidation.refit_final_model") == {"fetch_batch", "pick_best_model"}
    saved = "after_crossvalidation.save_results"
    assert upstream(dag, saved) == {"fetch_batch", "after_crossvalidation.refit_final_model"}
    assert upstream(dag, "after_crossvalidation.store_best_params") == {saved}
    # The model is registered (in promote_model) once the results are saved.
    assert upstream(dag, "after_crossvalidation.promote_model") == {
        "after_crossvalidation.refit_final_model",
        "check_drift",
        saved,
    }
    assert upstream(dag, "after_crossvalidation.announce_champion") == {"after_crossvalidation.promote_model"}
    refit = "after_crossvalidation.refit_final_model"
    assert upstream(dag, "after_crossvalidation.plot_experiment") == {refit}


def test_the_cross_validation_is_mapped_over_the_chunks_split_batch_plans(dag):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    chunk = dag.get_task("cross_validate_chunk")
    assert isinstance(chunk, MappedOperator)
    assert [task.task_id for task in chunk.iter_mapped_dependencies()] == ["split_batch"]
    assert dag.params.get_param("cv_chunks").value == 1  # one CV task unless asked for more


def test_after_the_refit_the_plots_results_and_promotion_run_in_parallel(dag):
    group = dag.task_group.children["after_crossvalidation"]
    assert set(group.children) == {
        "after_crossvalidation.store_best_params",
        "after_crossvalidation.refit_final_model",
        "after_crossvalidation.save_results",
        "after_crossvalidation.promote_model",
        "after_crossvalidation.announce_champion",
        "after_crossvalidation.plot_experiment",
    }
    plot, save, store, promote = (
        dag.get_task(f"after_crossvalidation.{name}")
        for name in ("plot_experiment", "save_results", "store_best_params", "promote_model")
    )
    for other in (save, store, promote):
        assert other.task_id not in plot.get_flat_relative_ids(upstream=False)
        assert plot.task_id not in other.get_flat_relative_ids(upstream=False)
    assert store.task_id not in promote.get_flat_relative_ids(upstream=False)


EXTRA_DECLARATION = """
label = "outcome"
classes = ["no", "yes"]
features = ["a", "b", "c"]
schedule = "0 6 * * 1-5"

[source]
kind = "synthetic"
"""


@pytest.fixture(scope="module")
def drawn_dags(tmp_path_factory):
    """Every DAG of dags/, for the shipped datasets and one more declared here, as the API server
    holds them: serialised and read back."""
    import shutil

    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    from samples import DATASETS_DIR

    declarations = tmp_path_factory.mktemp("datasets")
    for shipped in DATASETS_DIR.glob("*.toml"):
        shutil.copy(shipped, declarations)
    (declarations / "renewals.toml").write_text(EXTRA_DECLARATION)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ML_PIPELINE_DATASETS_DIR", str(declarations))
        bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return {
        dag_id: DagSerialization.from_dict(DagSerialization.to_dict(dag)) for dag_id, dag in bag.dags.items()
    }


def test_the_ui_can_draw_every_dag_graph_grid_and_gantt(drawn_dags):
    """What /ui/structure/structure_data and /ui/grid/structure compute; a group that an outside task
    feeds back into makes both fail (AirflowDagCycleException), and the views stay empty."""
    from airflow.api_fastapi.core_api.services.ui.task_group import (
        get_task_group_children_getter,
        task_group_to_dict,
        task_group_to_dict_grid,
    )
    from airflow.utils.dag_edges import dag_edges

    assert sorted(drawn_dags) == [
        "ml_pipeline", "ml_pipeline_renewals", "ml_pipeline_wine",
        "ml_scoring", "ml_scoring_renewals", "ml_scoring_wine",
    ]  # fmt: skip
    for dag_id, dag in drawn_dags.items():
        groups = dag.task_group.get_task_group_dict()
        graph = [task_group_to_dict(child, group_dict=groups) for child in dag.task_group.topological_sort()]
        grid = [
            task_group_to_dict_grid(child, group_dict=groups)
            for child in get_task_group_children_getter()(dag.task_group, groups)
        ]

        def leaves(nodes):
            for node in nodes:
                if node.get("children"):
                    yield from leaves(node["children"])
                elif node.get("type") != "join":  # the dots drawn where a group's edges meet
                    yield node["id"]

        assert sorted(leaves(graph)) == sorted(dag.task_ids), dag_id
        assert sorted(leaves(grid)) == sorted(dag.task_ids), dag_id
        drawn = {node for edge in dag_edges(dag) for node in (edge["source_id"], edge["target_id"])}
        assert set(dag.task_ids) <= drawn or len(dag.task_ids) == 1, dag_id


def test_schedule_and_run_policy(dag):
    assert dag.schedule == "@daily"
    assert dag.timetable.expression == "0 0 * * *"
    assert dag.catchup is False
    assert "ml" in dag.tags
    # A database that is briefly away (restart, failover) is waited out: 3 tries, growing pauses.
    for task in dag.tasks:
        assert task.retries >= 2 and task.retry_exponential_backoff, task.task_id


def test_a_promotion_schedules_the_scoring_dag_through_the_champion_asset(dagbag):
    from airflow.sdk import Asset, AssetOrTimeSchedule

    announce = dagbag.dags["ml_pipeline"].get_task("after_crossvalidation.announce_champion")
    (outlet,) = announce.outlets
    assert isinstance(outlet, Asset) and outlet.name == "breast_cancer_champion"
    wine_announce = dagbag.dags["ml_pipeline_wine"].get_task("after_crossvalidation.announce_champion")
    assert [asset.name for asset in wine_announce.outlets] == ["wine_champion"]
    scoring = dagbag.dags["ml_scoring"]
    assert [task.task_id for task in scoring.tasks] == ["score_rows"]
    assert scoring.params.dump()["dataset"] == "breast_cancer"
    assert dagbag.dags["ml_scoring_wine"].params.dump()["dataset"] == "wine"
    # On the champion's promotion, and daily on the dataset's schedule.
    assert isinstance(scoring.timetable, AssetOrTimeSchedule)
    assert scoring.timetable.asset_condition == outlet
    assert scoring.timetable.timetable.expression == "0 0 * * *"
    assert (scoring.is_paused_upon_creation, dagbag.dags["ml_scoring_wine"].is_paused_upon_creation) == (
        False,
        True,
    )


def test_a_dataset_without_a_time_schedule_is_scored_on_promotion_only():
    from airflow.sdk import Asset

    from ml_pipeline.tasks.assets import champion_asset, scoring_schedule

    assert scoring_schedule("churn", None) == champion_asset("churn")
    assert isinstance(scoring_schedule("churn", "@once"), Asset)
    assert scoring_schedule("churn", "0 6 * * 1-5").timetable.expression == "0 6 * * 1-5"


def test_one_sql_task_creates_every_table_from_sql_files_in_an_order_that_applies(dag):
    (sql_task,) = [t for t in dag.tasks if t.task_type == "SQLExecuteQueryOperator"]
    # The DagBag has read each .sql file into the task's `sql` list, in SCHEMA's order.
    assert sql_task.sql == [sql(f"create_{name}") for name in SCHEMA]
    order = list(SCHEMA)
    for name, referenced in SCHEMA.items():
        assert all(order.index(table) < order.index(name) for table in referenced), name
    # create_batch_rows.sql is the one per-dataset table, composed from the declaration by a Python task.
    assert {f"create_{name}" for name in SCHEMA} | {"create_batch_rows"} == {
        p.stem for p in SQL_DIR.glob("create_*.sql")
    }
    assert sql_task.conn_id == PipelineConfig().conn_id
    # DDL results are of no use downstream; pushing them breaks on servers that return bytes.
    assert not sql_task.do_xcom_push


def test_trigger_form_offers_the_run_settings(dag):
    params = dag.params.dump()
    assert params["cv_folds"] == 5 and params["test_fraction"] == 0.2
    assert params["source"] == "declared" and params["dataset"] == "breast_cancer"


def test_parsing_the_dag_imports_no_heavy_libraries():
    # The scheduler parses the DAG file every few seconds; scikit-learn waits for the tasks that use it.
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "heavy = sorted({'sklearn', 'pandas', 'scipy', 'joblib', 'numpy', 'psycopg'} & set(sys.modules)); "
        "print(','.join(heavy))"
    )
    for dag_file in ("ml_pipeline_dag.py", "ml_scoring_dag.py"):
        result = subprocess.run(
            [sys.executable, "-c", code, str(DAGS / dag_file)], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "", dag_file
