"""nbgrader configuration of the course (nbgrader 0.9).

The course folder (``CourseDirectory.root``) is ``autograder/course/``
unless ``grade.py --course DIR`` says otherwise; it holds nbgrader's usual
layout, built by ``grade.py`` from the repository::

    source/<assignment>/<notebook>.ipynb      copied from solutions/
    release/<assignment>/...                  student versions
    submitted/<student>/<assignment>/...      copied from a submissions dir
    autograded/, feedback/, gradebook.db      nbgrader's own
    results/, logs/, grades.csv               grade.py's (runner.py)

Run nbgrader by hand from the course folder with
``nbgrader <command> --config ../nbgrader_config.py`` (or use grade.py).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from execute import RecoveringExecute          # noqa: E402
from feedback import RedactHiddenTests          # noqa: E402

c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "dml"
c.CourseDirectory.root = os.environ.get(
    "DML_COURSE_DIR", os.path.join(HERE, "course"))
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(
    c.CourseDirectory.root, "gradebook.db")
# Only notebooks are graded: grade.py copies just the .ipynb files of a
# submission, so a fake dml.py next to it cannot shadow the library.

# Students: the text their stub cells get.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading kernels (execute.py, sandbox.py): each in its own bubblewrap
# sandbox (DML_GRADING_SANDBOX=0 turns it off: trusted notebooks only);
# limits enforced by the grader: CPU seconds per cell (a cell over it is
# interrupted, then its sandbox killed; the next cells run), a wall-clock
# deadline per notebook, output bytes per cell; memory per process.
_env = os.environ.get
c.RecoveringExecute.sandbox = _env("DML_GRADING_SANDBOX", "1") != "0"
c.RecoveringExecute.cpu_limit = float(_env("DML_GRADING_TIMEOUT", "30"))
c.RecoveringExecute.deadline = float(_env("DML_GRADING_DEADLINE", "900"))
c.RecoveringExecute.max_cell_output = int(
    _env("DML_GRADING_MAX_OUTPUT", "20000"))
# Verdicts decided by the grader from the hidden tests' records, against
# the reference run's (grade.py reference_run; verdicts.py).
c.RecoveringExecute.reference = _env("DML_GRADING_REFERENCE", "")
c.SandboxKernelManager.memory_mb = int(_env("DML_GRADING_MEM_MB", "4096"))
c.SandboxKernelManager.slot = int(_env("DML_GRADING_SLOT", "0"))
c.Execute.timeout = int(_env("DML_GRADING_TIMEOUT", "30"))
c.Execute.startup_timeout = 180     # kernel start: not the student's time
c.Execute.interrupt_on_timeout = True
c.Execute.allow_errors = True
c.Execute.raise_on_iopub_timeout = False
# A cell that kills its kernel loses its own points only (execute.py).
c.Autograde.autograde_preprocessors = [
    RecoveringExecute,
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 30

# Edited test and read-only cells get their original source back from the
# gradebook (OverwriteCells, nbgrader's checksums flag the change); deleted
# test cells are put back after the cell that preceded them.
c.OverwriteCells.add_missing_cells = True

# Feedback shows each test cell's visible part and score; the hidden
# tests' code and tracebacks are removed (the failure's one-line message
# stays). See RedactHiddenTests.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    RedactHiddenTests,
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
