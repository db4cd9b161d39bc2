"""Task processes start with the libraries the tasks use already imported (ml_pipeline/tasks/preload.py,
the LocalExecutor's forkserver), and with none of the project's own code, which a task reads from disk
when it runs."""

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
LIBRARIES = ("numpy", "pyarrow", "psycopg", "sklearn", "scipy", "matplotlib", "joblib")
# Imported by the API server, the command line or the scoring service, never by a task.
NOT_TASKS = ("ml_pipeline/ui/", "ml_pipeline/use/serving/", "ml_pipeline/cli.py", "ml_pipeline/__main__.py")


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def libraries_the_tasks_import() -> set[str]:
    found = set()
    for path in (SRC / "ml_pipeline").rglob("*.py"):
        if str(path.relative_to(SRC)).startswith(NOT_TASKS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            found |= {name for name in names if name.split(".")[0] in LIBRARIES and is_module(name)}
    return found


def modules_after_preload() -> set[str]:
    code = "import json, sys; import ml_pipeline.tasks.preload; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def test_every_library_a_task_imports_is_imported_before_the_task_starts():
    loaded = modules_after_preload()
    wanted = libraries_the_tasks_import()
    assert {"sklearn.pipeline", "scipy.stats", "pyarrow.ipc", "matplotlib.pyplot"} <= wanted
    assert wanted - loaded == set()
    # The SQL hook's lineage imports every provider's asset handlers: the Amazon one costs half a second.
    assert "airflow.providers.amazon.aws.assets.s3" in loaded


def test_the_preload_holds_none_of_the_projects_own_code():
    own = {name for name in modules_after_preload() if name.split(".")[0].startswith("ml_pipeline")}
    assert own == {"ml_pipeline", "ml_pipeline.tasks", "ml_pipeline.tasks.preload"}
