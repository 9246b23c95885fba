"""The autograder's building blocks, without a kernel (fast).

dml_grading (what the hidden tests use to refuse dml's reference and
Python loops), the feedback redaction, and the submission collection.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from nbformat import v4

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))

import dml_grading  # noqa: E402
import grade  # noqa: E402
from feedback import RedactHiddenTests  # noqa: E402


def student_namespace(code: str) -> dict:
    """Run ``code`` as a notebook would (module ``__main__``)."""
    ns = {"__name__": "__main__", "np": np}
    exec(compile(code, "<cell>", "exec"), ns)
    return ns


HONEST = """
def helper(a):
    return np.sqrt(a @ a)
def euclidean_distance(a, b):
    return float(helper(np.asarray(a) - np.asarray(b)))
"""

CHEATS = {
    "alias at top level": """
from dml.distances import pairwise_distances as pd
def euclidean_distance(a, b):
    return float(pd(a[None], b[None])[0, 0])
""",
    "module under another name": """
import dml as numpy2
def euclidean_distance(a, b):
    return float(numpy2.pairwise_distances(a[None], b[None])[0, 0])
""",
    "import inside the function": """
def euclidean_distance(a, b):
    from dml import pairwise_distances
    return float(pairwise_distances(a[None], b[None])[0, 0])
""",
    "through a helper function": """
import dml.distances
def _norm(v):
    return float(dml.distances.pairwise_distances(v[None], 0 * v[None]))
def euclidean_distance(a, b):
    return _norm(a - b)
""",
    "as a default argument": """
from dml import distances as _d
def euclidean_distance(a, b, _f=_d.pairwise_distances):
    return float(_f(a[None], b[None])[0, 0])
""",
    "in a closure": """
def make():
    from dml.distances import pairwise_distances as f
    def euclidean_distance(a, b):
        return float(f(a[None], b[None])[0, 0])
    return euclidean_distance
euclidean_distance = make()
""",
    "the reference itself, renamed": """
import functools
from dml.distances import pairwise_distances
euclidean_distance = functools.partial(pairwise_distances,
                                       metric="euclidean")
""",
}


def test_own_work_accepts_an_honest_function():
    f = student_namespace(HONEST)["euclidean_distance"]
    checked = dml_grading.own_work(f)
    assert checked(np.array([3.0, 0]), np.array([0, 4.0])) == 5.0


@pytest.mark.parametrize("how", sorted(CHEATS))
def test_own_work_refuses_a_function_that_reaches_dml(how):
    f = student_namespace(CHEATS[how])["euclidean_distance"]
    with pytest.raises(AssertionError, match="must be your own code"):
        dml_grading.own_work(f)


def test_a_dynamic_import_of_dml_fails_at_run_time():
    code = """
import importlib
def euclidean_distance(a, b):
    lib = importlib.import_module("dml")
    return float(lib.pairwise_distances(a[None], b[None])[0, 0])
"""
    f = student_namespace(code)["euclidean_distance"]
    checked = dml_grading.own_work(f)        # nothing visible statically
    with pytest.raises(ImportError, match="dml is not available"):
        checked(np.ones(2), np.zeros(2))
    import dml                                # ... and dml is back after
    assert not isinstance(sys.modules["dml"], dml_grading._Unavailable)
    assert dml.pairwise_distances(np.ones((1, 2))).shape == (1, 1)


@pytest.mark.parametrize("code", [
    "def f(X):\n    return [x for x in X]",
    "def f(X):\n    s = 0\n    for x in X:\n        s += x\n    return s",
    "def f(X):\n    i = 0\n    while i < 3:\n        i += 1\n    return i",
    "def g(X):\n    return sum(x for x in X)\ndef f(X):\n    return g(X)",
])
def test_assert_no_loops_finds_loops_and_comprehensions(code):
    f = student_namespace(code)["f"]
    with pytest.raises(AssertionError, match="Python loop"):
        dml_grading.assert_no_loops(f)


def test_assert_no_loops_accepts_array_code():
    f = student_namespace(
        "def f(X):\n    return (X[:, None] - X[None]).sum(-1)")["f"]
    dml_grading.assert_no_loops(f)


def test_library_functions_are_not_searched_for_loops():
    # numpy's own Python code has loops; the student's does not
    f = student_namespace(
        "from numpy.linalg import norm\n"
        "from numpy import einsum\n"
        "def f(X):\n    return norm(X, axis=1) + einsum('ij->i', X)")["f"]
    dml_grading.assert_no_loops(f)
    assert dml_grading.uses_dml(f) is None


def test_assert_close_names_the_check_but_not_the_answer():
    with pytest.raises(AssertionError) as err:
        dml_grading.assert_close(1.0, 0.123456, "random vectors")
    assert "random vectors" in str(err.value)
    assert "0.123" not in str(err.value)


def test_assert_inputs_unchanged_catches_in_place_edits():
    def bad(X):
        X *= 2
        return X
    with pytest.raises(AssertionError, match="modified in place"):
        dml_grading.assert_inputs_unchanged(bad, np.ones(3))
    dml_grading.assert_inputs_unchanged(lambda X: X * 2, np.ones(3))


def _feedback_cell(source, failing_line):
    cell = v4.new_code_cell(source)
    cell.outputs = [v4.new_output(
        "error", ename="AssertionError", evalue="random vectors: wrong",
        traceback=["\x1b[0;31m----------\x1b[0m",
                   f"Cell In[3], line {failing_line}\n"
                   f"\x1b[0;32m----> {failing_line}\x1b[0m secret_line()\n",
                   "AssertionError: random vectors: wrong"])]
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "t",
                                 "solution": False, "points": 1,
                                 "locked": True, "schema_version": 3}
    return cell


SOURCE = ("assert f(1) == 1\n"
          "### BEGIN HIDDEN TESTS\n"
          "secret_line()\n"
          "### END HIDDEN TESTS")


def test_feedback_hides_hidden_code_and_its_traceback():
    cell = _feedback_cell(SOURCE, failing_line=3)
    out, _ = RedactHiddenTests().preprocess_cell(cell, {}, 0)
    assert "secret_line" not in out.source
    assert "HIDDEN" not in out.source
    assert out.outputs[0]["traceback"] == [
        "AssertionError: random vectors: wrong"]


def test_feedback_keeps_the_failing_visible_line():
    cell = _feedback_cell(SOURCE, failing_line=1)
    out, _ = RedactHiddenTests().preprocess_cell(cell, {}, 0)
    assert out.outputs[0]["traceback"][0] == \
        "failed at line 1: assert f(1) == 1"
    assert "secret_line" not in json.dumps(out.outputs)


def test_only_notebooks_of_a_submission_are_collected(tmp_path):
    subs = tmp_path / "subs"
    (subs / "alice").mkdir(parents=True)
    (subs / "alice" / "ex1_distances.ipynb").write_text("{}")
    (subs / "alice" / "dml.py").write_text("def pairwise_distances(): 0")
    (subs / "alice" / "dml_grading.py").write_text("own_work = id")
    (subs / "bob.ipynb").write_text("{}")
    course = tmp_path / "course"
    students = grade.collect(subs, course, "ex1_distances",
                             ["ex1_distances"])
    assert students == ["alice", "bob"]
    for who in students:
        folder = course / "submitted" / who / "ex1_distances"
        assert sorted(p.name for p in folder.iterdir()) == \
            ["ex1_distances.ipynb"]


def test_grading_env_restores_the_environment(monkeypatch):
    import os
    monkeypatch.setenv("DML_GRADING_TIMEOUT", "7")
    monkeypatch.delenv("DML_GRADING_MEM_MB", raising=False)
    with grade.grading_env({"DML_GRADING_TIMEOUT": "3",
                            "DML_GRADING_MEM_MB": "100"}):
        assert os.environ["DML_GRADING_TIMEOUT"] == "3"
    assert os.environ["DML_GRADING_TIMEOUT"] == "7"
    assert "DML_GRADING_MEM_MB" not in os.environ


def test_student_version_is_not_executed_by_the_book():
    nb = v4.new_notebook()
    test = v4.new_code_cell("assert f() == 1")
    test.metadata["nbgrader"] = {"grade": True, "solution": False}
    nb.cells = [test]
    out = grade.student_version(json.loads(json.dumps(nb)))
    assert out["metadata"]["mystnb"] == {"execution_mode": "off"}
    assert out["cells"][0]["metadata"]["tags"] == ["raises-exception"]
