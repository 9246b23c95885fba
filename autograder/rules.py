"""The grader's rules that are no secret, checked on a notebook's text.

Used by check.py, so that a student sees before handing in what would
cost points at grading (dml_grading.py enforces the same rules there, on
the live functions):

* no graded function of the student's may use ``dml`` (an import of it,
  or the string ``"dml"`` handed to ``importlib``/``__import__``);
* a function must have no Python loop (``for``, ``while``,
  comprehensions), itself or in the helpers of its notebook it calls,
  when a visible test announces it: the test cell's id ends in
  ``_is_vectorised`` or ``_no_loops``, or its visible code says
  "no Python loop". Hidden tests may enforce the rule only where it is
  announced this way.

Only the notebook's text is read (nothing runs), so the answer does not
depend on a kernel.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp,
         ast.DictComp, ast.GeneratorExp)
BEGIN = "### BEGIN HIDDEN TESTS"


def _cells(path: Path) -> list[dict]:
    nb = json.loads(Path(path).read_text())
    for c in nb["cells"]:
        if isinstance(c.get("source"), list):
            c["source"] = "".join(c["source"])
    return [c for c in nb["cells"] if c.get("cell_type") == "code"]


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _solution_trees(cells):
    """(cell, syntax tree) of each solution cell that parses (the run
    reports the others)."""
    for cell in cells:
        if not _meta(cell).get("solution"):
            continue
        try:
            yield cell, ast.parse(cell["source"])
        except SyntaxError:
            continue


def _functions(cells) -> dict:
    """{name: FunctionDef} of the functions defined in the notebook's
    solution cells (the student's code)."""
    out = {}
    for _, tree in _solution_trees(cells):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.setdefault(node.name, node)
    return out


def uses_dml(tree: ast.AST) -> bool:
    """An import of dml, or "dml" handed to a dynamic import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
                a.name.split(".")[0] == "dml" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and \
                (node.module or "").split(".")[0] == "dml":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and re.fullmatch(r"dml(\.\w+)*", node.value):
            return True
    return False


def loop_free(cells, functions: dict) -> set:
    """Names of the student's functions that a visible test announces as
    loop-free."""
    out = set()
    for cell in cells:
        meta = _meta(cell)
        if not meta.get("grade") or meta.get("solution"):
            continue
        visible = cell["source"].split(BEGIN)[0]
        gid = meta.get("grade_id", "")
        if gid.endswith(("_is_vectorised", "_no_loops")) or \
                "no python loop" in visible.lower():
            out |= {n for n in functions
                    if re.search(rf"\b{n}\b", visible)}
    return out


def _loop_line(name, functions, seen=None) -> int | None:
    """Line of the first loop in ``name`` or a notebook helper it calls."""
    seen = set() if seen is None else seen
    if name in seen or name not in functions:
        return None
    seen.add(name)
    for node in ast.walk(functions[name]):
        if isinstance(node, LOOPS):
            return node.lineno
    for node in ast.walk(functions[name]):
        if isinstance(node, ast.Name) and node.id in functions:
            line = _loop_line(node.id, functions, seen)
            if line is not None:
                return line
    return None


def problems(path: Path) -> list[str]:
    """The rules this notebook breaks, one message each."""
    cells = _cells(path)
    functions = _functions(cells)
    out = []
    for cell, tree in _solution_trees(cells):
        if uses_dml(tree):
            out.append(f"cell {_meta(cell).get('grade_id')!r} uses dml: "
                       "write your functions with numpy (a function that "
                       "uses dml gets no points)")
    for name in sorted(loop_free(cells, functions)):
        line = _loop_line(name, functions)
        if line is not None:
            out.append(f"{name} has a Python loop (for / while / "
                       f"comprehension; line {line} of its cell): its "
                       "test asks for array operations, so it gets no "
                       "points for that test")
    return out
