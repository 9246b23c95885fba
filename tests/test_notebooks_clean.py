"""Chapters and solutions are stored without outputs or execution counts.

Outputs in the repository would go stale (the build re-executes anyway)
and would hide a chapter that no longer runs.
"""
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for folder in ("book", "solutions")
                   for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts
                   and "_build" not in p.parts)


def test_there_are_chapters_to_check():
    assert any(p.parts[-3:-1] == ("book", "chapters") for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS,
                         ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"cell {i} has stored outputs"
            assert cell.get("execution_count") is None, \
                f"cell {i} has an execution count"
