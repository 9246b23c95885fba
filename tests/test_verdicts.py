"""Verdicts decided outside the student's kernel (autograder/verdicts.py).

Records are plain data that the grader parses strictly and compares in
its own process with the reference run's; rules are read from the
notebook's text; inside the sandbox ``dml`` is a stand-in that computes
nothing. (The whole pipeline, with forgeries, is graded in
test_grading_security.py; every assignment's hidden tests under these
verdicts in test_exercises.py.)
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))

import dml_grading  # noqa: E402
import rules  # noqa: E402
import verdicts  # noqa: E402


def _records(fn):
    """The records ``fn()`` makes, as the grader receives them (JSON)."""
    dml_grading._SINK = sink = []
    try:
        fn()
    finally:
        dml_grading._SINK = None
    return [json.dumps(r) for r in sink]


def _reference(values, rule=None):
    def make():
        for what, x in values:
            dml_grading.assert_close(x, x, what, rtol=1e-6, atol=1e-9)
        if rule:
            dml_grading._rule(rule[0], type("f", (), {"__name__": rule[1]}))
    return [verdicts.parse_record(t, trusted=True) for t in _records(make)]


def _student(values):
    return [verdicts.parse_record(t) for t in _records(lambda: [
        dml_grading.assert_close(x, x, what) for what, x in values])]


CELLS = [{"source": "import numpy as np\ndef f(x):\n    return 2 * x\n",
          "metadata": {"nbgrader": {"solution": True, "grade": False,
                                    "grade_id": "f"}}}]


def test_a_value_travels_as_float64_data_and_back():
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    (rec,) = [verdicts.parse_record(t) for t in
              _records(lambda: dml_grading.assert_close(x, x, "x"))]
    assert rec["what"] == "x"
    np.testing.assert_array_equal(rec["actual"], x.astype(np.float64))


@pytest.mark.parametrize("value, why", [
    ({"shape": [2], "data": "AAAA"}, "disagree"),
    ({"shape": [-1], "data": ""}, "shape"),
    ({"shape": [2 ** 40], "data": ""}, "large"),
    ({"shape": [1], "data": "not base64!"}, "malformed data"),
    ({"shape": [1], "data": "", "pickle": "x"}, "malformed value"),
    ("cos(x)", "malformed value"),
])
def test_a_malformed_value_is_refused(value, why):
    with pytest.raises(ValueError, match=why):
        verdicts.decode_value(value)


def test_a_record_never_unpickles_anything():
    import pickle
    evil = base64.b64encode(pickle.dumps(object)).decode()
    text = json.dumps({"kind": "value", "what": "x",
                       "actual": {"shape": [], "data": evil}})
    with pytest.raises(ValueError):
        verdicts.parse_record(text)


def test_student_tolerances_and_expected_values_are_ignored():
    text = json.dumps({"kind": "value", "what": "x", "actual": {
        "shape": [], "data": base64.b64encode(np.float64(5).tobytes())
        .decode()}, "expected": "anything", "rtol": 1e9, "atol": 1e9})
    rec = verdicts.parse_record(text)
    assert set(rec) == {"kind", "what", "actual"}
    ref = _reference([("x", 1.0)])
    assert verdicts.cell_verdict(ref, [rec], CELLS) == "x: wrong values."


@pytest.mark.parametrize("student, why", [
    ([("a", [1.0, 2.0]), ("b", 3.0)], None),
    ([("a", [1.0, 2.0 + 1e-9]), ("b", 3.0)], None),
    ([("a", [1.0, 2.1]), ("b", 3.0)], "a: wrong values."),
    ([("a", [1.0, 2.0, 0.0]), ("b", 3.0)], "a: wrong shape (3,)"),
    ([("a", [1.0, np.nan]), ("b", 3.0)], "a: NaN or infinite"),
    ([("a", [1.0, 2.0])], "b: no result"),
    ([("b", 3.0), ("a", [1.0, 2.0])], "a: no result"),
    ([("a", [1.0, 2.0]), ("b", 3.0), ("c", 0.0)], "more results"),
    ([], "a: no result"),
])
def test_a_cell_passes_only_when_every_record_matches_in_order(student,
                                                                why):
    ref = _reference([("a", np.array([1.0, 2.0])), ("b", 3.0)])
    got = verdicts.cell_verdict(ref, _student(student), CELLS)
    assert (got is None) if why is None else got.startswith(why)


def test_an_unreadable_record_fails_the_cell():
    ref = _reference([("a", 1.0)])
    assert "could not read" in verdicts.cell_verdict(
        ref, ["malformed result: x"] + _student([("a", 1.0)]), CELLS)


def test_a_reference_cell_without_values_is_an_error_of_the_assignment():
    ref = _reference([], rule=("own_work", "f"))
    with pytest.raises(verdicts.ReferenceError_, match="records no value"):
        verdicts.cell_verdict(ref, [], CELLS)


@pytest.mark.parametrize("code, rule, why", [
    ("def f(x):\n    return 2 * x", "no_loops", None),
    ("def f(x):\n    return [2 * v for v in x]", "no_loops", "loop"),
    ("def g(x):\n    for v in x:\n        pass\n"
     "def f(x):\n    return g(x)", "no_loops", "g contains a Python loop"),
    ("def f(x):\n    return eval('[2 * v for v in x]')", "no_loops",
     "eval"),
    ("def f(x):\n    return x\nf = lambda x: [v for v in x]", "no_loops",
     "also bound by an assignment"),
    ("import dml.losses as np2\ndef f(x):\n    return np2.f(x)",
     "own_work", "uses dml"),
    ("import dml\ndef f(x, h=dml):\n    return x", "own_work", "uses dml"),
    ("def f(x):\n    return x", "own_work", None),
    ("g = 1", "own_work", "not defined with def"),
])
def test_rules_are_read_from_every_cell_a_student_writes(code, rule, why):
    cells = CELLS[:1] + [{"source": code, "metadata": {}}]
    if "def f" not in code and "f =" not in code:
        cells = [{"source": code, "metadata": {}}]
    got = rules.rule_problem(rule, "f", cells)
    assert (got is None) if why is None else why in got


def test_a_rule_the_reference_asks_for_decides_the_cell():
    ref = _reference([("a", 1.0)], rule=("no_loops", "f"))
    loopy = [{"source": "def f(x):\n    while False:\n        pass\n"
                        "    return x", "metadata": {}}]
    assert "loop" in verdicts.cell_verdict(ref, _student([("a", 1.0)]),
                                           loopy)
    assert verdicts.cell_verdict(ref, _student([("a", 1.0)]), CELLS) is None


STUB_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import dml
from dml.losses import triplet_loss
from dml import LMNN
assert dml.__grading_stub__
r = triplet_loss(np.ones(3), np.zeros(3), 0.2)
# arithmetic, numpy and chains of calls stay placeholders
assert np.linalg.norm(r + 1)[0] is r
assert LMNN(k=3).fit(np.ones((4, 2)), [0, 0, 1, 1]).transform(1) is r
for use in (bool, len, float, np.asarray, list):
    try:
        use(r)
    except dml.ReferenceUnavailable:
        continue
    raise SystemExit(f"{use} worked on a placeholder")
print("ok")
"""


def test_the_sandbox_stand_in_for_dml_computes_nothing(tmp_path):
    script = tmp_path / "stub.py"
    script.write_text(STUB_SCRIPT)
    proc = subprocess.run(
        [sys.executable, "-S", str(script), str(ROOT / "autograder" / "stub")],
        capture_output=True, text=True,
        env={"PYTHONPATH": ":".join(p for p in sys.path if "site-packages"
                                    in p)})
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_dml_grading_knows_when_the_reference_is_there():
    assert dml_grading.reference_available()
