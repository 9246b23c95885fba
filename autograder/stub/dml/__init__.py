"""A stand-in for the course library inside the grading sandbox.

The real ``dml`` holds the reference of every graded function, so it is
not mounted in the sandbox: a student's function cannot call it, find it
in ``sys.modules`` or reach it through a stack frame, because it is not
in the process at all. Hidden tests still import it by name; here every
``dml`` module exists, every name in it is a :class:`Reference`, and
calling one gives :data:`PENDING`, a placeholder that stands for a value
the grader computes outside the sandbox (``verdicts.py``). Arithmetic,
indexing and numpy functions on a placeholder give the placeholder;
anything that needs its actual value (``bool``, ``len``, iteration,
``float``, conversion to an array) raises :class:`ReferenceUnavailable`,
which in a hidden test means: compute that reference lazily, as
``assert_close(actual, lambda: reference(...), what)``.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

__grading_stub__ = True


class ReferenceUnavailable(RuntimeError):
    """A hidden test needed a reference value inside the sandbox."""


def _refuse(self, *args, **kwargs):
    raise ReferenceUnavailable(
        "the reference is computed by the grader, outside the sandbox; "
        "a hidden test may use it only as assert_close's expected value")


class Pending:
    """The value of a reference call, not known inside the sandbox."""

    __slots__ = ()

    def __repr__(self):
        return "<reference value, computed by the grader>"

    def _same(self, *args, **kwargs):
        return self

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    __call__ = __getitem__ = _same
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _same
    __matmul__ = __rmatmul__ = __pow__ = __rpow__ = __mod__ = _same
    __neg__ = __pos__ = __abs__ = __invert__ = _same
    __lt__ = __le__ = __gt__ = __ge__ = __and__ = __or__ = __xor__ = _same
    __rand__ = __ror__ = __rxor__ = _same

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return self

    def __array_function__(self, func, types, args, kwargs):
        return self

    __bool__ = __iter__ = __len__ = __float__ = __int__ = _refuse
    __index__ = __array__ = __complex__ = _refuse


PENDING = Pending()


class Reference:
    """A name from ``dml``: a function, a class, a constant."""

    def __init__(self, qualname: str):
        self._qualname = qualname

    def __repr__(self):
        return f"<dml reference {self._qualname} (grader only)>"

    def __call__(self, *args, **kwargs):
        return PENDING

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Reference(f"{self._qualname}.{name}")


class _StubModule(types.ModuleType):
    __grading_stub__ = True

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Reference(f"{self.__name__}.{name}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves every ``dml.<anything>`` as a stub module."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("dml."):
            return importlib.machinery.ModuleSpec(fullname, self,
                                                  is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        return None


__path__ = []           # a package: ``import dml.losses`` works

if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return Reference(f"dml.{name}")
