"""The package's shape, as docs/development.md describes it: stages whose imports point one way, no import
cycle (lazy imports inside functions included), no module over 300 lines, no function over 60."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# Each layer may import from the layers after it in this list, and from its own.
LAYERS = ["ml_pipeline_stack", "airflow", "use", "registry", "training", "data_in", "basics"]
AIRFLOW_LAYER = ("ml_pipeline.tasks", "ml_pipeline.ui", "ml_pipeline.cli", "ml_pipeline.__main__")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in SRC.rglob("*.py")}


def layer(module: str) -> str:
    if module.startswith("ml_pipeline_stack"):
        return "ml_pipeline_stack"
    if module.startswith(AIRFLOW_LAYER):
        return "airflow"
    return module.split(".")[1] if module.count(".") else "basics"  # the package's own __init__


def imports(module: str) -> set[str]:
    """The project's modules that ``module`` imports, anywhere in its code."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found |= {name for name in names if name in MODULES and name != module}
    return found


def test_each_stage_imports_only_the_stages_below_it():
    upward = [
        f"{module} imports {imported}"
        for module in MODULES
        for imported in imports(module)
        if LAYERS.index(layer(imported)) < LAYERS.index(layer(module))
    ]
    assert upward == []


def test_no_import_cycle_even_through_imports_inside_functions():
    graph = {
        module: imports(module) - {m for m in MODULES if module.startswith(m + ".")} for module in MODULES
    }
    state: dict[str, str] = {}

    def cycle_from(module, trail):
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return [*trail, module, imported]
            if imported not in state and (found := cycle_from(imported, [*trail, module])):
                return found
        state[module] = "done"
        return None

    cycles = [
        found for module in sorted(MODULES) if module not in state and (found := cycle_from(module, []))
    ]
    assert cycles == []


def test_no_module_over_300_lines_and_no_function_over_60():
    long_modules = {
        name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 300
    }
    long_functions = {
        f"{name}.{node.name}": node.end_lineno - node.lineno + 1
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60
    }
    assert (long_modules, long_functions) == ({}, {})


def test_every_import_of_the_project_resolves_even_inside_a_function():
    """A task imports what it uses when it runs: a wrong name there shows only in a real run, so each
    of the project's imports (in the package, the DAG files and the bench) is resolved here, with every
    name it takes."""
    import importlib

    unresolved = []
    scripts = {
        str(path.relative_to(SRC.parent)): path
        for path in [*SRC.parent.glob("dags/*.py"), *SRC.parent.glob("bench/*.py")]
    }
    for module, path in {**MODULES, **scripts}.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.startswith("ml_pipeline"):
                try:
                    imported = importlib.import_module(node.module)
                except ImportError as error:
                    unresolved.append(f"{module}: {error}")
                    continue
                unresolved += [
                    f"{module}: {node.module} has no {alias.name}"
                    for alias in node.names
                    if not hasattr(imported, alias.name)
                    and importlib.util.find_spec(f"{node.module}.{alias.name}") is None
                ]
    assert unresolved == []
