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
depend on a kernel. The grader applies the same rules, as the hidden
tests ask for them, with :func:`rule_problem` (verdicts.py): on every
cell a student can write (solution cells and cells they added), since a
function may be redefined anywhere.
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


DYNAMIC = {"exec", "eval", "compile", "__import__", "globals", "vars",
           "getattr", "setattr"}


def student_cells(cells) -> list:
    """The code cells a student can write: all but the test cells (which
    the grader restores from the source)."""
    return [c for c in cells
            if not (_meta(c).get("grade") and not _meta(c).get("solution"))]


def _trees(cells):
    for cell in student_cells(cells):
        try:
            yield ast.parse(cell["source"])
        except SyntaxError:
            continue


def _bindings(cells):
    """({name: [FunctionDef, ...]}, {name: why it is bound otherwise},
    names bound to dml by an import) over the student's cells (module
    level and nested)."""
    defs, other, dml_names = {}, {}, set()
    for tree in _trees(cells):
        for node in _module_level(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defs.setdefault(node.name, []).append(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign,
                                   ast.AugAssign, ast.NamedExpr)):
                targets = node.targets if isinstance(node, ast.Assign) \
                    else [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            other.setdefault(n.id, "an assignment")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                from_dml = isinstance(node, ast.ImportFrom) and \
                    (node.module or "").split(".")[0] == "dml"
                for a in node.names:
                    bound = (a.asname or a.name).split(".")[0]
                    other.setdefault(bound, "an import")
                    if from_dml or a.name.split(".")[0] == "dml":
                        dml_names.add(bound)
    return defs, other, dml_names


def _module_level(tree):
    """The nodes of a cell outside function, lambda and class bodies
    (a def itself is yielded, its body is not walked)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.Lambda, ast.ClassDef)):
            continue
        todo.extend(ast.iter_child_nodes(node))


def _closure(name, defs):
    """The FunctionDefs of ``name`` and of the student's functions they
    name, transitively."""
    todo, seen, out = [name], set(), []
    while todo:
        n = todo.pop()
        if n in seen or n not in defs:
            continue
        seen.add(n)
        for node in defs[n]:
            out.append(node)
            todo += [m.id for m in ast.walk(node)
                     if isinstance(m, ast.Name) and m.id in defs]
    return out


def rule_problem(rule: str, name: str, cells) -> str | None:
    """Why the student's notebook breaks ``rule`` ("own_work" or
    "no_loops") for the graded function ``name``, or None."""
    defs, other, dml_names = _bindings(cells)
    if name not in defs:
        return f"{name} is not defined with def in the notebook."
    if name in other:
        return (f"{name} is also bound by {other[name]}; define it once, "
                "with def, in its solution cell.")
    closure = _closure(name, defs)
    if rule == "own_work":
        for node in closure:
            used = {m.id for m in ast.walk(node) if isinstance(m, ast.Name)}
            if uses_dml(node) or used & dml_names:
                return (f"{name} must be your own code, not dml's "
                        f"reference ({node.name} uses dml); no points.")
        return None
    if rule == "no_loops":
        for node in closure:
            for m in ast.walk(node):
                if isinstance(m, LOOPS):
                    return (f"{node.name} contains a Python loop (for / "
                            "while / comprehension); use array operations "
                            "instead.")
                if isinstance(m, ast.Name) and m.id in DYNAMIC:
                    return (f"{node.name} uses {m.id}(), which the grader "
                            "cannot check for loops; write the array "
                            "operations in the function.")
        return None
    raise ValueError(f"unknown rule {rule!r}")


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
    """The rules this notebook breaks, one message each (the grader's
    rules, as far as they can be known without the hidden tests)."""
    cells = _cells(path)
    functions = _functions(cells)
    out = []
    for cell, tree in _solution_trees(cells):
        names = [n.name for n in tree.body
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if uses_dml(tree) or any(rule_problem("own_work", n, cells)
                                 and "dml" in rule_problem("own_work", n,
                                                           cells)
                                 for n in names):
            out.append(f"cell {_meta(cell).get('grade_id')!r} uses dml: "
                       "write your functions with numpy (a function that "
                       "uses dml gets no points)")
    for name in sorted(loop_free(cells, functions)):
        line = _loop_line(name, functions)
        why = rule_problem("no_loops", name, cells)
        if line is not None:
            out.append(f"{name} has a Python loop (for / while / "
                       f"comprehension; line {line} of its cell): its "
                       "test asks for array operations, so it gets no "
                       "points for that test")
        elif why is not None:
            out.append(f"{why} Its test asks for array operations, so it "
                       "gets no points for that test.")
    return out
