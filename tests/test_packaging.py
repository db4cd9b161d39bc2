"""`pip install .` gives a working package: pyproject.toml declares every distribution the code imports,
and the exact pins it is tested with (requirements*.txt) fall within the declared ranges."""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared(*extras: str) -> dict[str, Requirement]:
    texts = PROJECT["dependencies"] + [
        text for extra in extras for text in PROJECT["optional-dependencies"][extra]
    ]
    return {canonicalize_name(requirement.name): requirement for requirement in map(Requirement, texts)}


def imported(package: str) -> set[str]:
    """The top-level modules the package's code imports, at the top of a file or inside a function."""
    names = set()
    for path in (ROOT / "src" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"ml_pipeline", "ml_pipeline_stack", "__future__"}


def pins(name: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = str(requirement.specifier).removeprefix("==")
    return found


def test_every_distribution_the_code_imports_is_declared():
    distributions = packages_distributions()
    for package, extras in (("ml_pipeline", ()), ("ml_pipeline_stack", ("stack",))):
        needed = {
            module: {canonicalize_name(d) for d in distributions.get(module, [])}
            for module in imported(package)
        }
        assert all(needed.values()), f"{package} imports modules no installed distribution provides: {needed}"
        undeclared = {module for module, names in needed.items() if not names & set(declared(*extras))}
        assert not undeclared, (
            f"{package} imports {sorted(undeclared)}, which pyproject.toml does not declare"
        )


def test_the_tested_pins_are_within_the_declared_ranges():
    tested = pins("requirements.txt") | pins("requirements-dev.txt")
    for name, requirement in declared("celery", "stack").items():
        assert name in tested, f"{name} is declared in pyproject.toml but not pinned in requirements*.txt"
        assert requirement.specifier.contains(tested[name]), (
            f"{name}=={tested[name]} is outside {requirement}"
        )
