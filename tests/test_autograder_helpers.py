"""The autograder's building blocks, without a kernel (fast).

dml_grading (what the hidden tests use to refuse dml's reference and
Python loops), the feedback redaction, the submission collection and its
one-line reasons, shards and their merge, and the sandbox's command line.
"""
from __future__ import annotations

import json
import os
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
    empty_nb = json.dumps(v4.new_notebook())
    (subs / "alice" / "ex1_distances.ipynb").write_text(empty_nb)
    (subs / "alice" / "dml.py").write_text("def pairwise_distances(): 0")
    (subs / "alice" / "dml_grading.py").write_text("own_work = id")
    (subs / "bob.ipynb").write_text(empty_nb)
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


def _nb(*grade_ids):
    nb = v4.new_notebook()
    for gid in grade_ids:
        cell = v4.new_code_cell("pass")
        cell.metadata["nbgrader"] = {"grade_id": gid}
        nb.cells.append(cell)
    return json.dumps(nb)


SIGNATURES = {"ex1": {"setup", "euclidean_distance"},
              "ex3": {"setup", "triplet_loss"}}


@pytest.mark.parametrize("content, reason", [
    ("", "a.ipynb is an empty file"),
    ("  \n", "a.ipynb is an empty file"),
    ("{oops", "a.ipynb is not a notebook (not JSON: "),
    ("[1, 2]", "a.ipynb is not a notebook (no list of cells)"),
    (_nb("setup", "triplet_loss"),
     "a.ipynb is a notebook of another assignment (ex3)"),
])
def test_a_file_that_cannot_be_graded_gets_a_one_line_reason(
        tmp_path, content, reason):
    import submissions
    path = tmp_path / "a.ipynb"
    path.write_text(content)
    got = submissions.notebook_problem(path, "ex1", SIGNATURES)
    assert got.startswith(reason) and "\n" not in got


def test_a_notebook_sharing_only_the_setup_id_is_not_accepted(tmp_path):
    import submissions
    path = tmp_path / "a.ipynb"
    path.write_text(_nb("setup", "euclidean_distance"))
    assert submissions.notebook_problem(path, "ex1", SIGNATURES) is None


def test_every_entry_of_the_folder_is_listed_with_its_problem(tmp_path):
    import submissions
    (tmp_path / "several").mkdir()
    (tmp_path / "several" / "x.ipynb").write_text(_nb("euclidean_distance"))
    (tmp_path / "several" / "y.ipynb").write_text(_nb("euclidean_distance"))
    (tmp_path / "renamed").mkdir()
    (tmp_path / "renamed" / "mine.ipynb").write_text(_nb("setup"))
    (tmp_path / "jo ë.ipynb").write_text(_nb("setup"))
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    subs = {s.student: s for s in submissions.find(
        tmp_path, ["ex1"], "ex1", SIGNATURES)}
    assert sorted(subs) == ["jo ë", "notes.txt", "renamed", "several"]
    assert subs["several"].problem == \
        "several notebooks (x.ipynb, y.ipynb); hand in one"
    assert subs["renamed"].problem is None
    assert subs["renamed"].files["ex1"].name == "mine.ipynb"
    assert subs["jo ë"].problem is None
    assert subs["notes.txt"].problem == "notes.txt is not a notebook (.ipynb)"


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "no submissions folder"),
    (lambda p: p, "is empty: nothing to grade"),
])
def test_an_unusable_submissions_folder_stops_before_grading(tmp_path, make,
                                                              message):
    import submissions
    with pytest.raises(submissions.SubmissionsError, match=message):
        submissions.check_folder(make(tmp_path))


def test_shards_split_the_class_without_overlap():
    import submissions
    subs = [submissions.Submission(name) for name in "edcba"]
    parts = [grade.in_shard(subs, (i, 3)) for i in (1, 2, 3)]
    names = [[s.student for s in p] for p in parts]
    assert names == [["a", "d"], ["b", "e"], ["c"]]
    for bad in ["0/2", "3/2", "1", "a/b"]:
        with pytest.raises(ValueError, match="write i/n"):
            grade.parse_shard(bad)


def test_merge_joins_shards_and_refuses_a_student_twice(tmp_path):
    import runner
    row = dict.fromkeys(runner.COLUMNS, "")
    a = runner.write_csv([{**row, "assignment": "ex1", "student_id": "b"}],
                         tmp_path / "a.csv")
    b = runner.write_csv([{**row, "assignment": "ex1", "student_id": "a"}],
                         tmp_path / "b.csv")
    out = runner.merge(tmp_path / "all.csv", [a, b])
    assert [r["student_id"] for r in grade._read_csv(out)] == ["a", "b"]
    with pytest.raises(ValueError, match="is in both"):
        runner.merge(tmp_path / "x.csv", [a, a])


def test_the_sandbox_mounts_no_course_repository_or_home(tmp_path):
    import sandbox
    cmd = sandbox.command(["python"], str(tmp_path), {}, sandbox.Limits(),
                          uid=61000)
    mounted = {cmd[i + 2] for i, a in enumerate(cmd)
               if a in ("--ro-bind", "--bind")}
    root = str(ROOT)
    assert not any(m in (root, "/root", os.path.expanduser("~"), "/etc")
                   or m.startswith(root + "/autograder") or
                   m.startswith(root + "/solutions") for m in mounted)
    for flag in ["--unshare-pid", "--unshare-net", "--unshare-ipc",
                 "--unshare-uts", "--clearenv", "--die-with-parent"]:
        assert flag in cmd
    # as root: an unprivileged host uid, then its own user namespace
    assert "--reuid=61000" in cmd and "--user" in cmd
    assert "--nproc=64" in cmd and f"--fsize={16 << 20}" in cmd


def test_feedback_replaces_a_message_that_quotes_hidden_code():
    from feedback import QUOTED, safe_message
    secret = "_ref_pairwise(_X, _Y, 'sqeuclidean')"
    assert safe_message(f"oops {secret} here", [secret]) == QUOTED
    assert safe_message("random vectors: wrong values.", [secret]) == \
        "random vectors: wrong values."
    assert len(safe_message("x" * 5000, [secret])) == 300


def _rules_notebook(tmp_path, solution, test_id, test_source):
    nb = v4.new_notebook()
    sol = v4.new_code_cell(solution)
    sol.metadata["nbgrader"] = {"grade_id": "f", "solution": True}
    test = v4.new_code_cell(test_source)
    test.metadata["nbgrader"] = {"grade_id": test_id, "grade": True,
                                 "solution": False}
    nb.cells = [sol, test]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    return path


LOOPY = "def g(X):\n    return [x for x in X]\ndef f(X):\n    return g(X)"


@pytest.mark.parametrize("test_id, visible", [
    ("test_f_is_vectorised", "f(1)"),
    ("test_f_no_loops", "f"),
    ("test_f", "f(1)  # the grader checks: no Python loop"),
])
def test_check_reports_a_loop_where_a_visible_test_forbids_it(
        tmp_path, test_id, visible):
    import rules
    path = _rules_notebook(tmp_path, LOOPY, test_id, visible)
    assert rules.problems(path) == [
        "f has a Python loop (for / while / comprehension; line 2 of its "
        "cell): its test asks for array operations, so it gets no points "
        "for that test"]


def test_check_allows_loops_where_no_visible_test_forbids_them(tmp_path):
    import rules
    path = _rules_notebook(tmp_path, LOOPY, "test_f",
                           "f(1)\n### BEGIN HIDDEN TESTS\nno Python loop")
    assert rules.problems(path) == []


@pytest.mark.parametrize("code", [
    "import dml\ndef f(X):\n    return X",
    "def f(X):\n    from dml.distances import pairwise_distances\n"
    "    return X",
    "import importlib\ndef f(X):\n"
    "    return importlib.import_module('dml.losses')",
])
def test_check_reports_a_function_that_uses_dml(tmp_path, code):
    import rules
    path = _rules_notebook(tmp_path, code, "test_f", "f(1)")
    assert rules.problems(path) == [
        "cell 'f' uses dml: write your functions with numpy (a function "
        "that uses dml gets no points)"]


def test_the_sandbox_starts_on_this_machine():
    # grading refuses to run without it (CI installs bubblewrap); this
    # fails fast, with bwrap's own reason, where the slow tests would
    import sandbox
    sandbox.check_works()


def test_sandbox_binds_the_course_after_its_private_tmp(monkeypatch):
    """A repository, venv or socket folder under /tmp on the host (a CI
    clone there) is bound on top of the sandbox's private /tmp, not
    hidden by it: every bind comes after the tmpfs mounts."""
    import sandbox
    monkeypatch.setattr(sandbox, "readonly_trees",
                        lambda: ["/tmp/clone/.venv", "/tmp/clone/lib"])
    args = sandbox.command(["python"], "/tmp/dmlk-x",
                           {"/tmp/sub.ipynb": f"{sandbox.HOME}/sub.ipynb"},
                           sandbox.Limits(), uid=None)
    last_tmpfs = max(i for i, a in enumerate(args) if a == "--tmpfs")
    binds = [i for i, a in enumerate(args) if a in ("--ro-bind", "--bind")
             and args[i + 1].startswith(("/tmp/", sandbox.HOME))]
    assert binds and min(binds) > last_tmpfs
    dirs = [args[i + 1] for i, a in enumerate(args) if a == "--dir"]
    assert "/tmp/clone" in dirs
    assert args.index("/tmp/clone") > last_tmpfs
