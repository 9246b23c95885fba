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
"""
from __future__ import annotations

import dis
import functools
import sys
import types

import numpy as np

__all__ = ["own_work", "assert_no_loops", "assert_close",
           "assert_inputs_unchanged", "uses_dml"]

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
    for f in _user_functions(func):
        for code in _code_objects(f.__code__):
            assert not _has_loop(code), (
                f"{f.__name__} contains a Python loop (for / while / "
                "comprehension); use array operations instead.")


def assert_close(actual, expected, what: str, rtol=1e-6, atol=1e-8):
    """Compare arrays; the message names the check, not the answer."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (
        f"{what}: wrong shape {actual.shape}, expected {expected.shape}.")
    assert np.all(np.isfinite(actual) == np.isfinite(expected)), (
        f"{what}: NaN or infinite values where there should be none.")
    ok = np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    assert ok, f"{what}: wrong values."


def assert_inputs_unchanged(func, *args, **kwargs):
    """Call ``func`` and fail if it modified any numpy argument in place."""
    copies = [np.copy(a) if isinstance(a, np.ndarray) else None
              for a in args]
    result = func(*args, **kwargs)
    for i, (a, c) in enumerate(zip(args, copies)):
        if c is not None:
            assert np.array_equal(a, c, equal_nan=True), (
                f"argument {i + 1} was modified in place; work on a copy "
                "or build new arrays.")
    return result
