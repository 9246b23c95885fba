"""The graded exercises: their shape, their student versions, their tests.

* every assignment defines the functions the course promises, with the
  promised signatures, each in its own solution cell, graded by test
  cells that name it, with hidden tests and a hand-graded answer;
* book/exercises/ holds exactly what ``nbgrader generate_assignment``
  makes of solutions/ (regenerated here into a temporary folder), is not
  executed by the book, and nothing of a solution, hidden test or model
  answer reaches book/ or the built HTML;
* the tests are run in-process against the reference solution (every cell
  passes) and against typical mistakes and cheats (the cells aimed at
  that mistake fail) -- without nbgrader, so this is fast; the pipeline
  itself is tested end to end in test_autograder_e2e.py.
"""
from __future__ import annotations

import ast
import contextlib
import copy
import functools
import html
import json
import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "book" / "exercises"
sys.path.insert(0, str(ROOT / "autograder"))

import grade  # noqa: E402  (autograder/grade.py)

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS",
                    re.S)
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)

# Each assignment's promised functions and typical mistakes live in
# tests/exercise_cases/<assignment>.py (FUNCTIONS, MISTAKES).
CASES = {p.stem: runpy.run_path(str(p))
         for p in sorted((ROOT / "tests" / "exercise_cases").glob("ex*.py"))}
REQUIRED = {a: c["FUNCTIONS"] for a, c in CASES.items()}


def joined(nb: dict) -> dict:
    """A copy of a notebook with every cell source as one string."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if isinstance(cell["source"], list):
            cell["source"] = "".join(cell["source"])
    return nb


def load(path: Path) -> dict:
    """A notebook with every cell source as one string."""
    return joined(json.loads(path.read_text()))


def nbg(cell) -> dict:
    return cell["metadata"].get("nbgrader", {})


def source_nb(assignment: str) -> dict:
    return load(SOLUTIONS / assignment / f"{assignment}.ipynb")


def code_cells(nb, **flags):
    return [c for c in nb["cells"] if c["cell_type"] == "code"
            and all(bool(nbg(c).get(k)) == v for k, v in flags.items())]


def solution_cells(nb):
    return code_cells(nb, solution=True)


def grade_cells(nb):
    return code_cells(nb, grade=True, solution=False)


def test_every_chapter_has_its_assignment():
    assert grade.assignments() == sorted(REQUIRED)


@pytest.mark.parametrize("assignment", sorted(REQUIRED))
def test_assignment_defines_the_promised_functions(assignment):
    nb = source_nb(assignment)
    defined = {}
    for cell in solution_cells(nb):
        funcs = [n for n in ast.parse(cell["source"]).body
                 if isinstance(n, ast.FunctionDef)]
        assert len(funcs) == 1, "one function per solution cell"
        f = funcs[0]
        assert nbg(cell)["grade_id"] == f.name
        defined[f.name] = ast.unparse(f.args)
    assert defined == REQUIRED[assignment]


@pytest.mark.parametrize("assignment", sorted(REQUIRED))
def test_each_function_is_graded_by_tests_that_name_it(assignment):
    nb = source_nb(assignment)
    tests = grade_cells(nb)
    for name in REQUIRED[assignment]:
        mine = [c for c in tests if re.search(rf"\b{name}\(", c["source"])]
        assert mine, f"no test cell calls {name}"
        assert all(nbg(c)["points"] > 0 and nbg(c)["locked"]
                   for c in mine)
        assert any("### BEGIN HIDDEN TESTS" in c["source"] for c in mine)
        # every cell that grades the function also checks it is the
        # student's own (not dml's reference)
        for c in mine:
            assert f"own_work({name})" in c["source"] or \
                f"own_work({name})" in HIDDEN.search(c["source"]).group(0)
    answers = [c for c in nb["cells"] if c["cell_type"] == "markdown"
               and nbg(c).get("grade") and nbg(c).get("solution")]
    assert 1 <= len(answers) <= 2, "one or two hand-graded answers"


@pytest.mark.parametrize("assignment", sorted(REQUIRED))
def test_graded_notebooks_have_no_unguarded_widgets(assignment):
    for cell in code_cells(source_nb(assignment)):
        if re.search(r"ipywidgets|interact\(|@interact", cell["source"]):
            assert "NBGRADER_EXECUTION" in cell["source"]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("exercises")
    course = tmp_path_factory.mktemp("course")
    grade.release(out, course=course)
    return out


@pytest.mark.parametrize("assignment", sorted(REQUIRED))
def test_book_exercises_match_a_fresh_generate_assignment(assignment,
                                                          regenerated):
    fresh = load(regenerated / f"{assignment}.ipynb")
    stored = load(EXERCISES / f"{assignment}.ipynb")
    key = lambda nb: [(c["cell_type"], c["source"], nbg(c))  # noqa: E731
                      for c in nb["cells"]]
    assert key(stored) == key(fresh), (
        "book/exercises is out of date: run "
        "`python autograder/grade.py release`")


@pytest.mark.parametrize("assignment", sorted(REQUIRED))
def test_book_exercises_are_not_executed_and_keep_their_stubs(assignment):
    nb = load(EXERCISES / f"{assignment}.ipynb")
    assert nb["metadata"]["mystnb"] == {"execution_mode": "off"}
    for cell in solution_cells(nb):
        assert "raise NotImplementedError()" in cell["source"]
    for cell in grade_cells(nb):
        assert "raises-exception" in cell["metadata"].get("tags", [])
        assert "HIDDEN" not in cell["source"]


def _secrets():
    """Text that must never reach students: solutions, hidden tests,
    model answers (lines long enough to be specific, and not also part of
    what students legitimately see, e.g. a visible test)."""
    found, public = set(), set()
    for path in SOLUTIONS.rglob("*.ipynb"):
        for cell in load(path)["cells"]:
            src = cell["source"]
            for block in SOLUTION.findall(src) + HIDDEN.findall(src):
                for line in block.splitlines():
                    line = line.strip()
                    if len(line) >= 25 and not line.startswith("#"):
                        found.add(line)
            rest = HIDDEN.sub("", SOLUTION.sub("", src))
            public.update(line.strip() for line in rest.splitlines())
    return found - public


def _book_texts():
    files = [p for p in (ROOT / "book").rglob("*")
             if p.is_file() and p.suffix in {".ipynb", ".md", ".py", ".txt",
                                             ".bib", ".yml", ".json"}]
    html = ROOT / "_build" / "html" / "book" / "exercises"
    if html.is_dir():   # present after a book build (scripts/book.sh)
        files += list(html.rglob("*.html"))
    return files


def test_no_solution_hidden_test_or_answer_reaches_the_book():
    secrets = _secrets()
    assert len(secrets) > 50
    markers = ["### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS",
               "dml_grading"]
    for path in _book_texts():
        text = path.read_text(errors="replace")
        if path.suffix == ".ipynb":  # compare cell sources, not JSON
            text = "\n".join(c["source"] for c in load(path)["cells"])
        elif path.suffix == ".html":  # the text, without highlighting tags
            text = html.unescape(re.sub(r"<[^>]+>", "", text))
        for m in markers:
            assert m not in text, f"{m!r} in {path}"
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path} contains solution text: {leaked[:3]}"


# ---------------------------------------------------------------------------
# the tests themselves, run in-process (no kernel, no nbgrader), with the
# grader's verdicts: the reference run (real dml) records the expected
# values; a submission runs with the sandbox's stand-in for dml and its
# records are compared outside it (autograder/verdicts.py)
# ---------------------------------------------------------------------------
STUB = str(ROOT / "autograder" / "stub")


@contextlib.contextmanager
def sandbox_dml():
    """``dml`` as in the grading sandbox: the stand-in (stub/dml)."""
    saved = {k: v for k, v in sys.modules.items()
             if k == "dml" or k.startswith("dml.")}
    meta = list(sys.meta_path)
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, STUB)
    try:
        import dml
        assert getattr(dml, "__grading_stub__", False)
        yield
    finally:
        for k in [k for k in sys.modules
                  if k == "dml" or k.startswith("dml.")]:
            del sys.modules[k]
        sys.modules.update(saved)
        sys.meta_path[:] = meta
        sys.path.remove(STUB)


def run_cells(nb, replace=None, reference=False):
    """Execute setup + solution cells (some replaced), then every test
    cell; return {test cell id: (error or None, records)}."""
    import dml_grading
    replace = replace or {}
    ns = {"__name__": "__main__"}
    results = {}
    context = contextlib.nullcontext() if reference else sandbox_dml()
    with context:
        for cell in code_cells(nb):
            meta = nbg(cell)
            gid = meta.get("grade_id")
            src = replace.get(gid, cell["source"])
            dml_grading._SINK = sink = []
            try:
                exec(compile(src, f"<{gid}>", "exec"), ns)
                error = None
            except BaseException as exc:  # noqa: BLE001 (SystemExit too)
                error = exc
            finally:
                dml_grading._SINK = None
            if meta.get("grade") and not meta.get("solution"):
                results[gid] = (error, [json.loads(json.dumps(r))
                                        for r in sink])
    return results


@functools.lru_cache(maxsize=None)
def reference_records(assignment: str) -> dict:
    """{test cell id: parsed records} of the reference run; every test
    cell passes there in-process too."""
    import verdicts
    out = {}
    for gid, (error, recs) in run_cells(source_nb(assignment),
                                        reference=True).items():
        assert error is None, (gid, error)
        out[gid] = [verdicts.parse_record(json.dumps(r), trusted=True)
                    for r in recs]
    return out


def verdicts_of(assignment, replace=None) -> dict:
    """{test cell id: (grader's reason or None, in-kernel error)} of a
    submission: the source notebook with ``replace``d solution cells."""
    import verdicts
    nb = source_nb(assignment)
    cells = [dict(c, source=replace.get(nbg(c).get("grade_id"), c["source"])
                  if replace else c["source"]) for c in code_cells(nb)]
    ref = reference_records(assignment)
    out = {}
    for gid, (error, recs) in run_cells(nb, replace).items():
        mine = [verdicts.parse_record(json.dumps(r)) for r in recs]
        out[gid] = (verdicts.cell_verdict(ref[gid], mine, cells), error)
    return out


def failing(nb_or_assignment, replace=None):
    """Test cells the grader fails, on its own verdict alone (what the
    kernel raised is not trusted)."""
    return {k for k, (why, _) in verdicts_of(nb_or_assignment,
                                               replace).items()
            if why is not None}


@pytest.mark.parametrize("assignment", sorted(REQUIRED))
def test_reference_solution_passes_every_test_cell(assignment):
    assert failing(assignment) == set()


@pytest.mark.parametrize("assignment", sorted(REQUIRED))
def test_the_unchanged_student_version_passes_no_test_cell(assignment):
    """A blank submission earns nothing: every graded cell fails when the
    solution cells still raise NotImplementedError (hidden tests run)."""
    nb = source_nb(assignment)
    blank = {nbg(c)["grade_id"]: re.sub(
        r"### BEGIN SOLUTION\n.*?### END SOLUTION",
        "raise NotImplementedError()", c["source"], flags=re.S)
        for c in solution_cells(nb)}
    assert failing(assignment, blank) == {
        nbg(c)["grade_id"] for c in grade_cells(nb)}


MISTAKES = {
    # (assignment, label): (replacements by solution cell id,
    #                       test cells that must fail)
    (a, label): (replace, set(expected))
    for a, c in CASES.items()
    for label, (replace, expected) in c["MISTAKES"].items()}


@pytest.mark.parametrize("key", sorted(MISTAKES), ids=" / ".join)
def test_a_common_mistake_loses_exactly_the_points_aimed_at_it(key):
    assignment, _ = key
    replace, expected = MISTAKES[key]
    assert failing(assignment, replace) == expected


def _cheat(cell_source: str, how: str) -> str:
    """The reference solution, plus a route to dml."""
    body = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n?", "", cell_source)
    name = re.search(r"def (\w+)\(", body).group(1)
    first = re.search(r"\n(\s+)\S", body)
    indent = first.group(1)
    if how == "alias":
        route = "import dml.distances as helper\n"
        line = f"{indent}helper  # reaches the library\n"
    else:
        route = ""
        line = f"{indent}import dml as np_  # an import in the body\n"
    head, sep, rest = body.partition(f"def {name}(")
    sig, colon, rest = rest.partition(":\n")
    return route + head + sep + sig + colon + line + rest


@pytest.mark.parametrize("assignment", sorted(REQUIRED))
@pytest.mark.parametrize("how", ["alias", "import"])
def test_a_function_that_reaches_dml_gets_no_points(assignment, how):
    nb = source_nb(assignment)
    for cell in solution_cells(nb):
        name = nbg(cell)["grade_id"]
        cheat = _cheat(cell["source"], how)
        graded = {nbg(c)["grade_id"] for c in grade_cells(nb)
                  if re.search(rf"\b{name}\(", c["source"])}
        results = verdicts_of(assignment, {name: cheat})
        failed = {k for k, (why, _) in results.items() if why is not None}
        assert graded <= failed, (name, graded - failed)
