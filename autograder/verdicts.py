"""Verdicts decided outside the student's interpreter (issue 14, item 2).

A test cell's points do not depend on whether it raised inside the
student's kernel (the student controls that interpreter: patched numpy,
a fake ``dml_grading``, input transformers...). They depend on

1. **records**: each ``assert_close`` of a hidden test sends the value of
   the student's function as plain data (float64 array, base64; never
   pickle) in a display message of its own MIME type, which the grader
   (``execute.py``) takes out of the cell's outputs;
2. the **reference records** of the same cell, from a run of the source
   notebook (reference solutions, real ``dml``) by the grader: the
   expected values and the tolerances;
3. the **rules** the reference run says the cell asks for (``own_work``,
   ``no_loops``), checked on the *text* of the student's notebook
   (``rules.py``), not on live objects.

:func:`cell_verdict` compares them in the grader's process: the cell
passes only if every reference record has a student record with the same
label, in the same order, of the same shape, finite where the reference
is, and ``allclose`` with the reference's tolerances, no extra record,
and every rule holds. The kernel can only send values; sending the right
ones is computing them.
"""
from __future__ import annotations

import base64
import binascii
import json
import math

import numpy as np

import rules
from dml_grading import MAX_RECORD_VALUES, RECORD_MIME

__all__ = ["RECORD_MIME", "decode_value", "parse_record", "cell_verdict",
           "load_reference", "ReferenceError_"]
MAX_RECORDS_PER_CELL = 400
STOPPED = "no result (the test stopped before this check)."
MAX_WHAT = 300


class ReferenceError_(RuntimeError):
    """The reference run is not usable (a bug of the assignment)."""


def decode_value(value) -> np.ndarray:
    """The array of an encoded value; ValueError if it is not exactly
    one (shape, float64 bytes) pair within the size limit."""
    if not isinstance(value, dict) or set(value) != {"shape", "data"}:
        raise ValueError("malformed value")
    shape = value["shape"]
    if not isinstance(shape, list) or len(shape) > 8 or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n
            for n in shape):
        raise ValueError("malformed shape")
    size = math.prod(shape)
    if size > MAX_RECORD_VALUES or not isinstance(value["data"], str):
        raise ValueError("value too large or malformed")
    try:
        raw = base64.b64decode(value["data"], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("malformed data") from None
    if len(raw) != 8 * size:
        raise ValueError("data and shape disagree")
    return np.frombuffer(raw, dtype="<f8").reshape(shape)


def parse_record(text, trusted: bool = False) -> dict:
    """A record from a kernel message (JSON text); ValueError if it is
    not one. Student records keep only what the verdict reads: the label
    and the value (their rules and tolerances are ignored)."""
    if not isinstance(text, str) or len(text) > 12 * MAX_RECORD_VALUES:
        raise ValueError("record too large")
    record = json.loads(text)
    if not isinstance(record, dict):
        raise ValueError("malformed record")
    kind = record.get("kind")
    if kind == "rule":
        if not isinstance(record.get("rule"), str) or \
                not isinstance(record.get("name"), str):
            raise ValueError("malformed rule")
        return {"kind": "rule", "rule": record["rule"],
                "name": record["name"][:MAX_WHAT]}
    if kind != "value" or not isinstance(record.get("what"), str):
        raise ValueError("malformed record")
    out = {"kind": "value", "what": record["what"][:MAX_WHAT],
           "actual": decode_value(record.get("actual"))}
    if trusted:
        out["expected"] = decode_value(record["expected"])
        out["rtol"] = float(record["rtol"])
        out["atol"] = float(record["atol"])
    return out


def load_reference(path) -> dict:
    """{grade id: parsed records} of a reference run written by
    execute.py (``record_to``); ReferenceError_ when it is missing or a
    test of the reference failed."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as exc:
        raise ReferenceError_(f"no reference records: {exc}") from None
    if data.get("errors"):
        gid, err = sorted(data["errors"].items())[0]
        raise ReferenceError_(f"the reference solution fails {gid}: {err}")
    out = {}
    for gid, records in data["cells"].items():
        parsed = [parse_record(r, trusted=True) for r in records]
        if not any(r["kind"] == "value" for r in parsed):
            raise ReferenceError_(f"test cell {gid} records no value: its "
                                  "verdict would be the student's kernel's")
        out[gid] = parsed
    return out


def compare(actual: np.ndarray, ref: dict) -> str | None:
    """Why ``actual`` is not the reference's value, or None (the
    semantics of ``dml_grading.assert_close``, run here)."""
    what, expected = ref["what"], ref["expected"]
    if actual.shape != expected.shape:
        return (f"{what}: wrong shape {actual.shape}, expected "
                f"{expected.shape}.")
    if not np.array_equal(np.isfinite(actual), np.isfinite(expected)):
        return f"{what}: NaN or infinite values where there should be none."
    if not np.allclose(actual, expected, rtol=ref["rtol"],
                       atol=ref["atol"], equal_nan=True):
        return f"{what}: wrong values."
    return None


def cell_verdict(reference: list, student: list, cells: list) -> str | None:
    """Why the cell fails (one line for the student), or None if it
    passes. ``reference``: the reference run's records of the cell;
    ``student``: the student's records of it (parsed; a malformed one is
    a string, its reason); ``cells``: the student notebook's code cells
    (dicts with ``source`` and ``metadata``), for the rules."""
    values = [r for r in reference if r["kind"] == "value"]
    if not values:
        raise ReferenceError_("a graded test cell records no value")
    for r in reference:            # the rules first: their reason is
        if r["kind"] == "rule":    # the one a student needs to read
            why = rules.rule_problem(r["rule"], r["name"], cells)
            if why:
                return why
    bad = [r for r in student if isinstance(r, str)]
    if bad:
        return f"the grader could not read a result of this test ({bad[0]})."
    mine = [r for r in student if r["kind"] == "value"]
    for i, ref in enumerate(values):
        if i >= len(mine) or mine[i]["what"] != ref["what"]:
            return f"{ref['what']}: {STOPPED}"
        why = compare(mine[i]["actual"], ref)
        if why:
            return why
    if len(mine) > len(values):
        return "more results than the test makes: no points."
    return None
