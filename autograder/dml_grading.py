"""Helpers for the hidden tests of the graded exercises.

Imported only by hidden-test regions (``### BEGIN HIDDEN TESTS``), so it is
on the kernel's path when the autograder runs (``grade.py`` puts
``autograder/`` on PYTHONPATH) and never in anything students receive.

* :func:`own_work` fails a function that reaches ``dml`` (the course
  library holds the reference of every graded function): statically, by
  walking the names its code uses (nested functions, closures, defaults and
  the user functions it calls, transitively), and at run time, by calling
  it with every ``dml`` module replaced by one that raises.
* :func:`assert_no_loops` fails a function whose bytecode (or that of the
  user functions it calls) has a Python loop or comprehension.
* :func:`assert_close` compares with a message that names the check but
  not the expected numbers (feedback must not give hidden answers away).

**Records: the verdict is not decided here.** Everything above runs in
the student's interpreter, which the student controls, so at grading
none of it is trusted. Each call of :func:`assert_close` also *records*
the student's value (plain float64 data, never pickle), and
:func:`own_work` / :func:`assert_no_loops` record which rule a test asks
for. The grader (``execute.py``, ``verdicts.py``) collects the records
outside the kernel and compares them, in its own process, with the
records of the reference run (the source notebook, with ``dml``). In
the grading sandbox ``dml`` is not importable (a stand-in, ``stub/dml``,
returns placeholders); there ``expected`` is not computed and nothing is
compared here. ``expected`` may be a function of no arguments, called
only where the reference is available. See ``autograder/README.md``.
"""
from __future__ import annotations

import base64
import dis
import functools
import json
import os
import sys
import types

import numpy as np

__all__ = ["own_work", "assert_no_loops", "assert_close", "assert_equal",
           "assert_inputs_unchanged", "uses_dml", "RECORD_MIME"]

RECORD_MIME = "application/x-dml-grading-record+json"
MAX_RECORD_VALUES = 1 << 20      # float64 values in one record (8 MB)
_SINK = None        # a list: records go there (in-process tests) instead


def reference_available() -> bool:
    """False in the grading sandbox, where ``dml`` is a stand-in."""
    try:
        import dml
    except ImportError:
        return False
    return not getattr(dml, "__grading_stub__", False)


def _emit(record: dict) -> None:
    """Hand a record to the grader: to ``_SINK`` when a test collects
    them in-process, else as a display message of its own MIME type when
    the grader asked for records (``DML_GRADING_RECORD=1``)."""
    if _SINK is not None:
        _SINK.append(record)
        return
    if os.environ.get("DML_GRADING_RECORD") != "1":
        return
    from IPython.display import publish_display_data
    publish_display_data({RECORD_MIME: json.dumps(record)})


def encode_value(value) -> dict:
    """A value as plain data: float64 array, shape and little-endian
    bytes in base64. Raises AssertionError for anything else."""
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 (a torch tensor with grad...)
        raise AssertionError(f"not an array of numbers ({exc})") from None
    if array.dtype.kind == "c":
        raise AssertionError("complex values where real ones are expected")
    if array.dtype.kind not in "biuf":
        raise AssertionError(f"not an array of numbers (dtype "
                             f"{array.dtype})")
    if array.size > MAX_RECORD_VALUES:
        raise AssertionError(f"too large: {array.size} values")
    data = np.ascontiguousarray(array, dtype="<f8").tobytes()
    return {"shape": list(array.shape),
            "data": base64.b64encode(data).decode("ascii")}


def _rule(rule: str, func) -> None:
    _emit({"kind": "rule", "rule": rule,
           "name": str(getattr(func, "__name__", func))})

_JUMPS = set(dis.hasjrel) | set(dis.hasjabs)


def _has_loop(code) -> bool:
    """A loop in bytecode: FOR_ITER (for, comprehensions) or a jump back
    (while; every Python version compiles loops to a backward jump)."""
    for ins in dis.get_instructions(code):
        if ins.opname in ("FOR_ITER", "GET_AITER"):
            return True
        if ins.opcode in _JUMPS and isinstance(ins.argval, int) and \
                ins.argval <= ins.offset:
            return True
    return False


def _is_dml_object(value) -> bool:
    """True for a dml module, or a function / class / method from one."""
    if isinstance(value, functools.partial):
        return _is_dml_object(value.func)
    if isinstance(value, types.ModuleType):
        name = value.__name__
        return name == "dml" or name.startswith("dml.")
    owner = getattr(value, "__self__", None)
    if owner is not None and not isinstance(value, type) and \
            _is_dml_object(owner):
        return True
    module = getattr(value, "__module__", None)
    if isinstance(module, str) and (module == "dml" or
                                    module.startswith("dml.")):
        return True
    return False


def _code_objects(code):
    """``code`` and every code object nested in it (lambdas, inner defs)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _user_functions(func, seen=None, module=None):
    """``func`` and the user functions it reaches through globals.

    User functions are those defined where ``func`` was (the notebook's
    ``__main__``); library functions (numpy's, say) are not followed.
    """
    seen = set() if seen is None else seen
    if isinstance(func, functools.partial):
        func = func.func
    if not isinstance(func, types.FunctionType) or id(func) in seen:
        return
    module = func.__module__ if module is None else module
    if func.__module__ != module:
        return
    seen.add(id(func))
    yield func
    names = {n for c in _code_objects(func.__code__) for n in c.co_names}
    values = [func.__globals__[n] for n in names if n in func.__globals__]
    values += [c.cell_contents for c in (func.__closure__ or ())
               if _cell_filled(c)]
    values += list(func.__defaults__ or ())
    values += list((func.__kwdefaults__ or {}).values())
    for value in values:
        if isinstance(value, (types.FunctionType, functools.partial)) and \
                not _is_dml_object(value):
            yield from _user_functions(value, seen, module)


def _cell_filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def uses_dml(func) -> str | None:
    """Why ``func`` reaches dml (a short reason), or None if it does not."""
    if _is_dml_object(func):
        return "the function itself comes from dml"
    for f in _user_functions(func):
        names = {n for c in _code_objects(f.__code__) for n in c.co_names}
        if "dml" in names:
            return f"{f.__name__} imports dml"
        for n in names:
            if n in f.__globals__ and _is_dml_object(f.__globals__[n]):
                return f"{f.__name__} uses {n!r}, which comes from dml"
        extras = [c.cell_contents for c in (f.__closure__ or ())
                  if _cell_filled(c)]
        extras += list(f.__defaults__ or ())
        extras += list((f.__kwdefaults__ or {}).values())
        if any(_is_dml_object(v) for v in extras):
            return f"{f.__name__} holds a dml object"
    return None


class _Unavailable(types.ModuleType):
    """Stands in for a dml module while a student's function runs."""

    def __getattr__(self, name):
        raise ImportError("dml is not available inside the function you "
                          "implement: write it with numpy.")


def _call_without_dml(func, *args, **kwargs):
    saved = {k: v for k, v in sys.modules.items()
             if k == "dml" or k.startswith("dml.")}
    try:
        for k in saved:
            sys.modules[k] = _Unavailable(k)
        return func(*args, **kwargs)
    finally:
        sys.modules.update(saved)


def own_work(func):
    """Fail if ``func`` uses dml; else return a version that runs without it.

    Use the returned function in the hidden tests::

        f = own_work(euclidean_distance)
        assert_close(f(a, b), reference(a, b), "random vectors")
    """
    _rule("own_work", func)
    reason = uses_dml(func)
    assert reason is None, (
        f"{getattr(func, '__name__', func)!s} must be your own code, not "
        f"dml's reference ({reason}); no points for this function.")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return _call_without_dml(func, *args, **kwargs)
    return wrapper


def assert_no_loops(func):
    """Fail if ``func`` (or a user function it calls) has a Python loop."""
    _rule("no_loops", func)
    for f in _user_functions(func):
        for code in _code_objects(f.__code__):
            assert not _has_loop(code), (
                f"{f.__name__} contains a Python loop (for / while / "
                "comprehension); use array operations instead.")


def assert_close(actual, expected, what: str, rtol=1e-6, atol=1e-8):
    """Compare arrays; the message names the check, not the answer.

    Records ``actual`` (and, where the reference is available,
    ``expected`` with the tolerances) for the grader. ``expected`` may
    be a function of no arguments: it is called only where ``dml`` is
    available, so a hidden test can compute its reference lazily.
    """
    what = str(what)
    try:
        value = encode_value(actual)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}.") from None
    record = {"kind": "value", "what": what, "actual": value}
    if not reference_available():
        _emit(record)
        return
    if callable(expected):
        expected = expected()
    record.update(expected=encode_value(expected), rtol=float(rtol),
                  atol=float(atol))
    _emit(record)
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (
        f"{what}: wrong shape {actual.shape}, expected {expected.shape}.")
    assert np.all(np.isfinite(actual) == np.isfinite(expected)), (
        f"{what}: NaN or infinite values where there should be none.")
    ok = np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    assert ok, f"{what}: wrong values."


def assert_equal(actual, expected, what: str):
    """:func:`assert_close` with no tolerance (indices, counts, labels)."""
    assert_close(actual, expected, what, rtol=0.0, atol=0.0)


def assert_inputs_unchanged(func, *args, **kwargs):
    """Call ``func`` and fail if it modified any numpy argument in place.

    Each numpy argument after the call is recorded against its copy from
    before (so the grader checks it too), labelled "argument i after the
    call".
    """
    copies = [np.copy(a) if isinstance(a, np.ndarray) else None
              for a in args]
    result = func(*args, **kwargs)
    for i, (a, c) in enumerate(zip(args, copies)):
        if c is not None:
            assert_close(a, c, f"argument {i + 1} after the call (was it "
                         "modified in place? work on a copy)", rtol=0.0,
                         atol=0.0)
    return result
