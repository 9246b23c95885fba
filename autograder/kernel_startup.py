"""Limits applied inside a grading kernel that runs without the sandbox.

Only for ``grade.py autograde --no-sandbox`` (trusted notebooks): in the
sandbox the same limits are set from outside (sandbox.py, execute.py),
where the student's code cannot undo them. ``grade.py`` copies this file
into the startup folder of a private IPYTHONDIR that only the grading
kernels see, so IPython runs it at kernel start. It

* caps the kernel's address space (RLIMIT_AS, soft and hard, so student
  code cannot raise it again) at DML_GRADING_MEM_MB megabytes: a memory
  bomb raises MemoryError in its own cell instead of taking the grading
  machine down;
* caps what one cell may print at DML_GRADING_MAX_OUTPUT characters
  (stdout and stderr together); the rest is dropped with a notice, so a
  huge print neither floods the grader nor the feedback.

The per-cell time limit is nbgrader's own (``c.Execute.timeout``).
"""
import os
import resource
import sys


def _limit_memory():
    mb = int(os.environ.get("DML_GRADING_MEM_MB", "0") or 0)
    if mb > 0:
        limit = mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class _CappedStream:
    """A text stream that forwards at most ``budget[0]`` characters."""

    def __init__(self, stream, budget):
        self._stream = stream
        self._budget = budget

    def write(self, text):
        left = self._budget[0]
        if left <= 0:
            return len(text)
        if len(text) > left:
            self._stream.write(text[:left])
            self._stream.write("\n... output truncated by the grader ...\n")
            self._budget[0] = 0
        else:
            self._stream.write(text)
            self._budget[0] = left - len(text)
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _limit_output():
    cap = int(os.environ.get("DML_GRADING_MAX_OUTPUT", "0") or 0)
    if cap <= 0:
        return
    budget = [cap]
    sys.stdout = _CappedStream(sys.stdout, budget)
    sys.stderr = _CappedStream(sys.stderr, budget)
    ip = get_ipython()  # noqa: F821 (defined in IPython startup files)

    def reset(*args):
        budget[0] = cap
    ip.events.register("pre_run_cell", reset)


_limit_memory()
_limit_output()
del _limit_memory, _limit_output
