"""nbgrader's Execute, made to survive a kernel that dies.

nbgrader already survives a slow cell (``c.Execute.timeout``: the kernel
is interrupted, the cell gets an error, execution goes on) and an
exception (``allow_errors``). A cell that kills its kernel (``os._exit``,
a segfault, the out-of-memory killer) would end the notebook: nbgrader
gives up and the student gets nothing for any cell.

:class:`RecoveringExecute` records a "kernel died" error in that cell
only, starts a fresh kernel, replays the earlier non-test code cells
(setup and solutions, skipping any that killed a kernel before) so the
functions are defined again, and carries on with the next cell. The dead
cell loses its points; the others are graded as usual.
"""
from __future__ import annotations

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Integer


class RecoveringExecute(Execute):
    """Execute that restarts a dead kernel and goes on (module docstring)."""

    max_restarts = Integer(
        3, help="Kernel restarts per notebook before giving up."
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._killers = set()
        self._restarts = 0
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._killers.add(index)
            cell.outputs.append(NotebookNode(
                output_type="error", ename="DeadKernelError",
                evalue="the kernel died while running this cell",
                traceback=["DeadKernelError: the kernel died while running "
                           "this cell (a crash, os._exit, or too much "
                           "memory); it gets no points."]))
            self._restarts += 1
            if self._restarts > self.max_restarts:
                raise
            self.log.warning("Kernel died in cell %d; restarting", index)
            self._restart_and_replay(index)
            return cell, self.resources

    def _restart_and_replay(self, index: int) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        run_sync(self.km.restart_kernel)(now=True)
        self.kc = None
        self.start_new_kernel_client()
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
                run_sync(self.km.restart_kernel)(now=True)
                self.kc = None
                self.start_new_kernel_client()
