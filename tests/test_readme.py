"""What the README and docs/ tell a user to run: every SQL query they show runs on the pipeline's tables,
every declaration they show as a file loads, and every page they link to is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ml_pipeline.basics.datasets import load
from ml_pipeline.registry.promotion import promote_if_better
from views_sample import DAY, add_run

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README = "\n".join(page.read_text() for page in PAGES)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def statements() -> list[str]:
    found = [part.strip() for block in blocks("sql") for part in block.split(";")]
    return [statement for statement in found if re.sub(r"--[^\n]*", "", statement).strip()]


def test_the_readme_shows_queries_and_declarations():
    assert len(statements()) >= 8 and any("# datasets/" in block for block in blocks("toml"))


def test_the_readme_is_short_and_every_link_and_picture_is_there():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if not target.startswith("http"):
                assert (page.parent / target).is_file(), f"{page.name} links to {target}, which is not there"


@pytest.mark.parametrize("statement", statements(), ids=lambda statement: statement.split("\n")[-1][:60])
def test_each_query_of_the_readme_runs(db, statement):
    version = add_run(db, "breast_cancer", "scheduled__2026-11-30", 0.95)
    promote_if_better(db, "breast_cancer", version, 0.0)
    db.execute(
        "INSERT INTO batches VALUES ('breast_cancer', %s, 'scheduled__2026-11-30', 'sklearn', 569,"
        ' \'{"0": 212, "1": 357}\', %s)',
        (DAY, "cd" * 32),
    )
    db.execute(
        "INSERT INTO drift (dataset, dag_run_id, run_date, champion_version, champion_date, kind, name, psi,"
        " threshold, drifted) VALUES ('breast_cancer', 'scheduled__2026-11-30', %s, %s, %s, 'class_balance',"
        " 'label', 0.01, 0.25, false)",
        (DAY, version, DAY),
    )
    db.execute(
        "INSERT INTO predictions VALUES ('breast_cancer', %s, '0', '1', %s, %s)", (DAY, [0.2, 0.8], version)
    )
    assert db.execute(statement).fetchall(), "the query finds the run the test stored"


def test_each_declaration_file_the_readme_shows_loads(tmp_path):
    for block in blocks("toml"):
        named = re.match(r"# datasets/(\w+)\.toml\n", block)
        if named:
            (tmp_path / f"{named.group(1)}.toml").write_text(block)
            assert load(tmp_path, named.group(1)).name == named.group(1)
