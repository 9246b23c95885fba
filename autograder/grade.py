"""The grading pipeline of the course, on nbgrader 0.9 and its gradebook.

Two commands (run from the repository root with the course's Python):

    python autograder/grade.py release
        Generate the student version of every assignment in solutions/
        (``nbgrader generate_assignment``) and store it, without outputs,
        as book/exercises/<assignment>.ipynb for the book.

    python autograder/grade.py autograde ASSIGNMENT SUBMISSIONS [--csv F]
        Grade a folder of submissions: SUBMISSIONS/<student>.ipynb or
        SUBMISSIONS/<student>/<notebook>.ipynb. Runs ``autograde`` (each
        notebook in its own kernel, with a per-cell time limit and a memory
        cap) and ``generate_feedback`` for every student, with a progress
        bar, then exports the gradebook to CSV (default grades.csv in the
        course folder). Only .ipynb files of a submission are copied.

Options: --course DIR (default autograder/course; the gradebook and
nbgrader's folders live there), --timeout S (per cell, default 30),
--memory-mb MB (per kernel, default 4096).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "book" / "exercises"
DEFAULT_COURSE = HERE / "course"


def assignments(solutions: Path = SOLUTIONS) -> list[str]:
    """Names of the assignments: the folders of solutions/ with notebooks."""
    return sorted(p.name for p in solutions.iterdir()
                  if p.is_dir() and any(p.glob("*.ipynb")))


def prepare_course(course: Path, timeout: int = 30,
                   memory_mb: int = 4096, max_output: int = 20000) -> dict:
    """Create the course folder, copy solutions/ into source/.

    Returns the environment the grading needs (apply it with
    :func:`grading_env`): the limits reach the grading kernels through
    variables they inherit -- an IPYTHONDIR whose startup file
    (kernel_startup.py) caps memory and output, PYTHONPATH for the hidden
    tests' helpers (dml_grading.py), the per-cell timeout read by
    nbgrader_config.py -- and nbgrader needs ``alembic`` on PATH.
    """
    course = Path(course).resolve()
    course.mkdir(parents=True, exist_ok=True)
    source = course / "source"
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(SOLUTIONS, source,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    startup = course / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "kernel_startup.py", startup / "00-grading-limits.py")
    path = os.environ.get("PYTHONPATH", "")
    return {
        "DML_COURSE_DIR": str(course),
        "IPYTHONDIR": str(course / "ipython"),
        "DML_GRADING_TIMEOUT": str(timeout),
        "DML_GRADING_MEM_MB": str(memory_mb),
        "DML_GRADING_MAX_OUTPUT": str(max_output),
        "PYTHONPATH": os.pathsep.join([str(HERE)] + ([path] if path
                                                     else [])),
        "PATH": str(Path(sys.executable).parent) + os.pathsep
        + os.environ.get("PATH", ""),
        "NBGRADER_EXECUTION": None,
    }


@contextlib.contextmanager
def grading_env(env: dict):
    """Set (None: unset) environment variables, restore them afterwards."""
    def apply(values):
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    saved = {k: os.environ.get(k) for k in env}
    try:
        apply(env)
        yield
    finally:
        apply(saved)


def nbgrader_api(course: Path):
    """An NbGraderAPI configured by nbgrader_config.py for ``course``."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(HERE)).\
        load_config()
    extra = Config()
    extra.CourseDirectory.root = str(Path(course).resolve())
    extra.CourseDirectory.db_url = "sqlite:///" + str(
        Path(course).resolve() / "gradebook.db")
    config.merge(extra)
    return NbGraderAPI(config=config)


def _check(result: dict, what: str) -> None:
    if not result.get("success"):
        raise RuntimeError(f"{what} failed:\n{result.get('error', '')}\n"
                           f"{result.get('log', '')[-4000:]}")


def generate(api, assignment: str) -> None:
    """nbgrader generate_assignment (db entries + release/ version)."""
    from nbgrader.api import Gradebook
    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        gb.update_or_create_assignment(assignment)
    _check(api.generate_assignment(assignment, force=True),
           f"generate_assignment {assignment}")


def student_version(nb: dict) -> dict:
    """A released notebook as the book stores it.

    No outputs; MyST-NB must not execute it (the stubs raise
    NotImplementedError by design): notebook metadata
    ``mystnb.execution_mode = "off"``. Test cells are tagged
    ``raises-exception`` so nbval (the book's test run) accepts the
    NotImplementedError of an unsolved exercise.
    """
    nb = json.loads(json.dumps(nb))
    nb["metadata"]["mystnb"] = {"execution_mode": "off"}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            tags = cell["metadata"].setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
    return nb


def release(out: Path = EXERCISES, course: Path | None = None) -> list:
    """Generate every assignment and write the book's student versions."""
    import tempfile
    tmp = None
    if course is None:
        tmp = tempfile.TemporaryDirectory(prefix="dml-release-")
        course = Path(tmp.name)
    env = prepare_course(course)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with grading_env(env):
        api = nbgrader_api(course)
        for a in assignments():
            generate(api, a)
    for a in assignments():
        for nb_path in sorted((Path(course) / "release" / a).glob("*.ipynb")):
            nb = student_version(json.loads(nb_path.read_text()))
            name = a if nb_path.stem == a else f"{a}_{nb_path.stem}"
            dest = out / f"{name}.ipynb"
            dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False)
                            + "\n")
            written.append(dest)
    if tmp is not None:
        tmp.cleanup()
    return written


def collect(submissions: Path, course: Path, assignment: str,
            notebooks: list[str]) -> list[str]:
    """Copy submissions into submitted/<student>/<assignment>/ (.ipynb only).

    ``<student>.ipynb`` (one-notebook assignments) or ``<student>/*.ipynb``.
    """
    students = []
    for entry in sorted(Path(submissions).iterdir()):
        if entry.suffix == ".ipynb" and entry.is_file():
            student, files = entry.stem, {notebooks[0]: entry}
        elif entry.is_dir():
            student = entry.name
            files = {p.stem: p for p in entry.rglob("*.ipynb")
                     if p.stem in notebooks}
        else:
            continue
        dest = Path(course) / "submitted" / student / assignment
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for stem, path in files.items():
            shutil.copy(path, dest / f"{stem}.ipynb")
        students.append(student)
    return students


def export_csv(api, path: Path) -> Path:
    """The gradebook as CSV (nbgrader's own exporter)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin
    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return Path(path)


def autograde(assignment: str, submissions: Path, course: Path,
              csv_path: Path | None = None, timeout: int = 30,
              memory_mb: int = 4096, progress: bool = True) -> dict:
    """Grade every submission; return {student: seconds} and write CSV."""
    env = prepare_course(course, timeout, memory_mb)
    with grading_env(env):
        return _autograde(assignment, submissions, course, csv_path,
                          progress)


def _autograde(assignment, submissions, course, csv_path, progress):
    from tqdm.auto import tqdm
    api = nbgrader_api(course)
    generate(api, assignment)
    notebooks = sorted(p.stem for p in
                       (Path(course) / "source" / assignment).glob("*.ipynb"))
    students = collect(submissions, course, assignment, notebooks)
    times = {}
    for student in tqdm(students, desc=f"autograde {assignment}",
                        unit="student", disable=not progress):
        t0 = time.perf_counter()
        result = api.autograde(assignment, student, force=True, create=True)
        times[student] = time.perf_counter() - t0
        if not result.get("success"):
            tqdm.write(f"{student}: autograde failed; see the log\n"
                       f"{result.get('error', '')}")
            continue
        _check(api.generate_feedback(assignment, student, force=True),
               f"generate_feedback {assignment} {student}")
    csv_path = Path(csv_path or Path(course) / "grades.csv")
    export_csv(api, csv_path)
    return times


@contextlib.contextmanager
def open_gradebook(course: Path):
    """nbgrader's Gradebook of ``course`` (it runs ``alembic`` on open)."""
    from nbgrader.api import Gradebook
    db_url = "sqlite:///" + str(Path(course).resolve() / "gradebook.db")
    path = str(Path(sys.executable).parent) + os.pathsep + \
        os.environ.get("PATH", "")
    with grading_env({"PATH": path}), Gradebook(db_url, "dml") as gb:
        yield gb


def scores(course: Path, assignment: str) -> dict:
    """{student: (auto score, auto max)} from the gradebook, cell by cell."""
    out = {}
    with open_gradebook(course) as gb:
        for sub in gb.assignment_submissions(assignment):
            grades = [g for nb in sub.notebooks for g in nb.grades
                      if g.cell.cell_type == "code"]
            out[sub.student_id] = (
                sum(g.score for g in grades),
                sum(g.max_score for g in grades))
    return out


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(argv=None) -> int:
    import warnings
    # nbgrader 0.9's gradebook triggers harmless SQLAlchemy session warnings
    warnings.filterwarnings("ignore", message=".*not in session.*")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="write book/exercises/")
    rel.add_argument("--out", type=Path, default=EXERCISES)
    ag = sub.add_parser("autograde", help="grade a folder of submissions")
    ag.add_argument("assignment")
    ag.add_argument("submissions", type=Path)
    ag.add_argument("--course", type=Path, default=DEFAULT_COURSE)
    ag.add_argument("--csv", type=Path, default=None)
    ag.add_argument("--timeout", type=int, default=30)
    ag.add_argument("--memory-mb", type=int, default=4096)
    args = parser.parse_args(argv)
    if args.command == "release":
        for path in release(args.out):
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) \
                else path
            print(f"wrote {shown}")
        return 0
    if args.assignment not in assignments():
        parser.error(f"unknown assignment {args.assignment!r}; choose one "
                     f"of {', '.join(assignments())}.")
    times = autograde(args.assignment, args.submissions, args.course,
                      args.csv, args.timeout, args.memory_mb)
    for student, (got, total) in sorted(scores(args.course,
                                               args.assignment).items()):
        t = times.get(student)
        t = f"{t:5.1f} s" if t is not None else "  -  "
        print(f"{student:20s} {got:6.1f} / {total:5.1f} autograded  {t}")
    print(f"grades: {args.csv or Path(args.course) / 'grades.csv'}; "
          f"feedback: {Path(args.course) / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
