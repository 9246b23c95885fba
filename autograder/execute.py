"""nbgrader's Execute, with the grader's own limits, made to survive a kernel
that dies.

Every limit is enforced here, in the trusted grading process, not by code
inside the student's kernel:

* **CPU seconds per cell** (``cpu_limit``, ``--timeout``): the grader
  reads the CPU time of the sandbox's processes (sandbox.cpu_seconds)
  while a cell runs. Over the limit, the kernel is interrupted; if the cell
  has not ended ``interrupt_grace`` seconds later (a loop that swallows
  KeyboardInterrupt), the whole sandbox is killed. CPU time does not grow
  when the machine is busy, so a verdict does not depend on the load.
  Cells that are not graded and hold no solution (the set-up: imports,
  data) get their own, larger budget (``setup_cpu_limit``).
* **Wall-clock backstops**: a cell that sleeps or waits is stopped after
  ``wall_factor`` times its CPU limit; a whole notebook after
  ``deadline`` seconds, after which its sandbox is killed and the cells
  left are not run (they get no points).
* **Output caps**: each cell keeps at most ``max_cell_output`` bytes of
  outputs (streams, display data, results, errors), the notebook at most
  ``max_notebook_output``; the rest is dropped with one notice. This
  covers raw writes to fd 1 (ipykernel forwards them as stream messages)
  and ``display()``; stdout/stderr of the sandbox itself are discarded.

**Verdicts** (verdicts.py): the hidden tests' records (display messages
of type ``dml_grading.RECORD_MIME``) are taken out of the outputs and
kept per cell, outside any cap but their own (``max_records_bytes``).
With ``reference`` (a folder of reference runs' records, one JSON file
per notebook), each graded test cell's records are compared with the
reference's after the notebook has run; a cell that fails gets the
grader's one-line reason as its first output, an error, so nbgrader
gives it no points whatever the kernel printed. With ``record_to`` (the
reference run itself) the records are written there instead.

A cell that kills its kernel (``os._exit``, a segfault, the memory limit,
a limit above) gets an error in that cell only; a fresh sandbox is
started, the earlier non-test code cells (set-up and solutions, skipping
any that killed a kernel before) are replayed so the functions are defined
again, and grading goes on with the next cell.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from queue import Empty
from time import monotonic

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Integer, Unicode

import verdicts

TRUNCATED = "\n... output truncated by the grader ({} bytes per {}) ...\n"


def _error(ename: str, text: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=text,
                        traceback=[f"{ename}: {text}"])


class LimitExceeded(DeadKernelError):
    """The grader stopped the sandbox: a cell or the notebook ran over its
    limit. ``str(self)`` says which, for the student."""


class QuietKernelManager(AsyncKernelManager):
    """A kernel outside the sandbox (the reference run, ``--no-sandbox``):
    over IPC, in a private folder, its stdout and stderr discarded, so
    nothing of it reaches the instructor's terminal."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"
        self._dir = tempfile.mkdtemp(prefix="dmlq-")
        self.ip = os.path.join(self._dir, "k")
        self.connection_file = os.path.join(self._dir, "connection.json")

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        kw["stdin"] = subprocess.DEVNULL
        await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart: bool = False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources


class RecoveringExecute(Execute):
    """Execute in a sandbox, with the grader's limits (module docstring)."""

    max_restarts = Integer(
        3, help="Kernel restarts per notebook before giving up."
    ).tag(config=True)
    sandbox = Bool(True, help="Run kernels in the bubblewrap sandbox.").tag(
        config=True)
    cpu_limit = Float(30, help="CPU seconds per graded or solution cell."
                      ).tag(config=True)
    setup_cpu_limit = Float(
        120, help="CPU seconds per set-up cell (imports, data).").tag(
        config=True)
    wall_factor = Float(
        10, help="Wall-clock backstop per cell, in CPU limits.").tag(
        config=True)
    interrupt_grace = Float(
        3, help="Seconds an interrupted cell has to end before the "
        "sandbox is killed.").tag(config=True)
    deadline = Float(900, help="Wall-clock seconds per notebook.").tag(
        config=True)
    max_cell_output = Integer(20000, help="Output bytes kept per cell.").tag(
        config=True)
    max_notebook_output = Integer(
        500000, help="Output bytes kept per notebook.").tag(config=True)
    poll_interval = Float(0.1).tag(config=True)
    reference = Unicode(
        "", help="Folder of the reference runs' records (<notebook>.json):"
        " the verdicts are decided from them.").tag(config=True)
    record_to = Unicode(
        "", help="Write this run's records here (the reference run)."
    ).tag(config=True)
    max_records_bytes = Integer(
        64 << 20, help="Record bytes kept per notebook.").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.sandbox:
            from sandbox import SandboxKernelManager
            self.kernel_manager_class = SandboxKernelManager
        else:
            self.kernel_manager_class = QuietKernelManager

    def create_kernel_manager(self):
        """The kernel manager, told which notebook it runs (the sandbox
        shows it read-only in the kernel's $HOME)."""
        km = super().create_kernel_manager()
        meta = (self.resources or {}).get("metadata", {})
        path = os.path.join(meta.get("path", ""), meta.get("name", "")
                            + ".ipynb")
        if hasattr(km, "submission") and os.path.isfile(path):
            km.submission = path
        return km

    async def async_start_new_kernel_client(self):
        """Connect; then the sandbox's socket folder takes no new file."""
        kc = await super().async_start_new_kernel_client()
        getattr(self.km, "close_socket_dir", lambda: None)()
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    # -- the notebook -------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        self._killers = set()
        self._restarts = 0
        self._started = monotonic()
        self._notebook_bytes = 0
        self._dead = False
        self._records = {}          # cell index -> [record or reason]
        self._record_bytes = 0
        nb, resources = super().preprocess(nb, resources, km)
        if self.record_to:
            self._write_records(nb)
        elif self.reference:
            self._apply_verdicts(nb, resources)
        return nb, resources

    # -- records and verdicts (module docstring) ----------------------------
    def _take_record(self, msg, cell_index) -> bool:
        """Keep a record message (True), or say it is none (False)."""
        if msg.get("msg_type") not in ("display_data",
                                       "update_display_data"):
            return False
        data = msg.get("content", {}).get("data", {})
        if not isinstance(data, dict) or verdicts.RECORD_MIME not in data:
            return False
        text = data[verdicts.RECORD_MIME]
        kept = self._records.setdefault(cell_index, [])
        self._record_bytes += len(text) if isinstance(text, str) else 0
        if self._record_bytes > self.max_records_bytes or \
                len(kept) >= verdicts.MAX_RECORDS_PER_CELL:
            kept.append("too many results")
            return True
        try:
            kept.append(text if self.record_to else
                        verdicts.parse_record(text))
        except (ValueError, TypeError, KeyError) as exc:
            kept.append(f"malformed result: {exc}"[:200])
        return True

    def _graded_tests(self, nb):
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and \
                    not meta.get("solution"):
                yield index, cell, meta.get("grade_id")

    def _write_records(self, nb) -> None:
        """The reference run: {grade id: [record JSON, ...], "errors":
        {grade id: error}} for verdicts.load_reference."""
        out, errors = {}, {}
        for index, cell, gid in self._graded_tests(nb):
            out[gid] = self._records.get(index, [])
            bad = [o for o in cell.outputs if o.get("output_type") == "error"]
            if bad:
                errors[gid] = f"{bad[0].get('ename')}: {bad[0].get('evalue')}"
        with open(self.record_to, "w") as f:
            json.dump({"cells": out, "errors": errors}, f)

    def _apply_verdicts(self, nb, resources) -> None:
        name = (resources or {}).get("metadata", {}).get("name", "")
        reference = verdicts.load_reference(
            os.path.join(self.reference, f"{name}.json"))
        cells = [{"source": c.source, "metadata": c.metadata}
                 for c in nb.cells if c.cell_type == "code"]
        for index, cell, gid in self._graded_tests(nb):
            if gid not in reference:
                why = "this test has no reference; ask the instructor."
            else:
                why = verdicts.cell_verdict(
                    reference[gid], self._records.get(index, []), cells)
            if why is None:
                continue
            raised = any(o.get("output_type") == "error"
                         for o in cell.outputs)
            if raised and why.endswith(verdicts.STOPPED):
                continue   # the kernel's own error says why (and costs
                #            the points: nbgrader gives an error cell 0)
            cell.outputs.insert(0, _error(
                "AssertionError", f"{why} (checked by the grader)"))

    def _past_deadline(self) -> bool:
        return monotonic() - self._started > self.deadline

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and (self._dead or self._past_deadline()):
            cell.outputs = [_error("NotRun", (
                f"not run: the notebook's time limit ({self.deadline:.0f} s) "
                "was reached or its kernel could not be restarted; no "
                "points for this cell."))]
            return cell, self.resources
        self._cell_bytes = 0
        self._cell_truncated = False
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError as exc:
            return self._after_death(cell, index, exc)

    def _after_death(self, cell, index, exc):
        """Record why the kernel died, start a fresh one unless the
        notebook is out of time or restarts, and go on."""
        self._killers.add(index)
        if isinstance(exc, LimitExceeded):
            cell.outputs.append(_error("TimeLimitError", str(exc)))
        else:
            cell.outputs.append(_error(
                "DeadKernelError", "the kernel died while running this "
                "cell (a crash, os._exit, or too much memory); it gets no "
                "points."))
        self._restarts += 1
        if self._restarts > self.max_restarts or self._past_deadline():
            self._dead = True
            return cell, self.resources
        self.log.warning("Kernel died in cell %d; restarting", index)
        self._restart_and_replay(index)
        return cell, self.resources

    def _restart_and_replay(self, index: int) -> None:
        self._fresh_kernel()
        for i, cell in enumerate(self.nb.cells[:index]):
            if cell.cell_type != "code" or i in self._killers or \
                    utils.is_grade(cell):
                continue
            scratch = NotebookNode(cell_type="code", source=cell.source,
                                   metadata=NotebookNode(), outputs=[],
                                   execution_count=None, id=f"replay-{i}")
            try:
                self.execute_cell(scratch, i, store_history=False)
            except DeadKernelError:
                self._killers.add(i)
                if self._past_deadline():
                    self._dead = True
                    return
                self._fresh_kernel()

    def _fresh_kernel(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        run_sync(self.km.restart_kernel)(now=True)
        self.kc = None
        self.start_new_kernel_client()

    # -- one cell: CPU and wall-clock limits ---------------------------------
    def _cpu_budget(self, cell) -> float:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") or meta.get("solution"):
            return self.cpu_limit
        return max(self.cpu_limit, self.setup_cpu_limit)

    def _sandbox_cpu(self) -> float:
        from sandbox import cpu_seconds
        pid = getattr(self.km, "sandbox_pid", lambda: None)()
        if pid is None:
            proc = getattr(self.km.provisioner, "process", None)
            pid = None if proc is None else proc.pid
        return cpu_seconds(pid)

    def _over(self, cpu0, t0, budget) -> str | None:
        """Why this cell must stop now, or None."""
        if self._past_deadline():
            return (f"the notebook ran over its time limit "
                    f"({self.deadline:.0f} s); no points for this cell and "
                    "the cells after it.")
        if self._sandbox_cpu() - cpu0 > budget:
            return (f"this cell used more than {budget:.0f} CPU seconds "
                    "and was stopped; it gets no points.")
        if monotonic() - t0 > self.wall_factor * budget:
            return (f"this cell ran for more than "
                    f"{self.wall_factor * budget:.0f} s (waiting, not "
                    "computing) and was stopped; it gets no points.")
        return None

    async def _async_poll_for_reply(self, msg_id, cell, timeout,
                                    task_poll_output_msg,
                                    task_poll_kernel_alive):
        """Wait for the cell's reply under the grader's limits; kill the
        sandbox (LimitExceeded) when an interrupt does not end the cell."""
        budget = self._cpu_budget(cell)
        cpu0, t0 = self._sandbox_cpu(), monotonic()
        stopped_at, reason = None, None
        while True:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(
                    timeout=self.poll_interval))
            except Empty:
                if stopped_at is None:
                    reason = self._over(cpu0, t0, budget)
                    if reason is not None:
                        stopped_at = monotonic()
                        if self._past_deadline():
                            return await self._kill(reason,
                                                    task_poll_kernel_alive)
                        await ensure_async(self.km.interrupt_kernel())
                elif monotonic() - stopped_at > self.interrupt_grace:
                    return await self._kill(reason, task_poll_kernel_alive)
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            try:
                await asyncio.wait_for(task_poll_output_msg,
                                       self.iopub_timeout)
            except (asyncio.TimeoutError, Empty):
                self.log.warning("Timeout waiting for IOPub output")
            task_poll_kernel_alive.cancel()
            if reason is not None:
                cell.outputs.append(_error("TimeLimitError", reason))
            return msg

    async def _kill(self, reason, task_poll_kernel_alive):
        task_poll_kernel_alive.cancel()
        await self.km._async_kill_kernel(restart=True)
        raise LimitExceeded(reason)

    def _get_timeout(self, cell):
        return None     # the limits are the grader's (_async_poll_for_reply)

    # -- outputs: caps enforced here ---------------------------------------
    def _room(self) -> int:
        """Output bytes this cell may still add."""
        return min(self.max_cell_output - self._cell_bytes,
                   self.max_notebook_output - self._notebook_bytes)

    def _take(self, msg) -> bool:
        """Count ``msg`` against the caps, cutting a stream's text to the
        room left; False when nothing of it may be kept."""
        content = msg.get("content", {})
        room = self._room()
        if msg.get("msg_type") == "stream" and \
                len(content.get("text", "")) > room > 0:
            content["text"] = content["text"][:room]
            self._over_cap = True
        size = len(json.dumps(content, default=str))
        if size > room:
            self._over_cap = True
            return False
        self._cell_bytes += size
        self._notebook_bytes += size
        return True

    def output(self, outs, msg, display_id, cell_index):
        if self._take_record(msg, cell_index):
            return None
        self._over_cap = False
        kept = None
        if self._take(msg):
            kept = super().output(outs, msg, display_id, cell_index)
        if self._over_cap and not self._cell_truncated:
            self._cell_truncated = True
            which = ("notebook", self.max_notebook_output) \
                if self.max_notebook_output - self._notebook_bytes < \
                self.max_cell_output - self._cell_bytes \
                else ("cell", self.max_cell_output)
            outs.append(NotebookNode(
                output_type="stream", name="stderr",
                text=TRUNCATED.format(which[1], which[0])))
        return kept

    def _update_display_id(self, display_id, msg):
        data = msg.get("content", {}).get("data", {})
        if isinstance(data, dict) and verdicts.RECORD_MIME in data:
            return
        self._over_cap = False
        if self._take(msg):
            super()._update_display_id(display_id, msg)
