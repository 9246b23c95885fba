"""nbgrader configuration of the course (nbgrader 0.9).

The course folder (``CourseDirectory.root``) is ``autograder/course/``
unless ``grade.py --course DIR`` says otherwise; it holds nbgrader's usual
layout, built by ``grade.py`` from the repository::

    source/<assignment>/<notebook>.ipynb      copied from solutions/
    release/<assignment>/...                  student versions
    submitted/<student>/<assignment>/...      copied from a submissions dir
    autograded/, feedback/, gradebook.db      nbgrader's own

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

# Grading kernels: a per-cell wall-clock limit (a stuck cell is
# interrupted, gets an error and loses its points; the next cells run).
c.Execute.timeout = int(os.environ.get("DML_GRADING_TIMEOUT", "30"))
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
