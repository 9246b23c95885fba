"""The grading pipeline of the course, on nbgrader 0.9 and its gradebook.

Commands (run from the repository root with the course's Python):

    python autograder/grade.py release
        Generate the student version of every assignment in solutions/
        (``nbgrader generate_assignment``) and store it, without outputs,
        as book/exercises/<assignment>.ipynb for the book.

    python autograder/grade.py autograde ASSIGNMENT SUBMISSIONS [--csv F]
        Grade a folder of submissions: SUBMISSIONS/<student>.ipynb or
        SUBMISSIONS/<student>/<notebook>.ipynb. Checks every entry first
        (submissions.py), then runs ``autograde`` and ``generate_feedback``
        for every student in worker processes (runner.py), each notebook's
        kernel in a bubblewrap sandbox (sandbox.py) under the grader's
        limits (execute.py), with a progress bar and one line per student,
        and writes a CSV with a status column (default grades.csv in the
        course folder). Only .ipynb files of a submission are copied.
        Idempotent: students graded before with the same notebook, source
        and limits are not graded again (a killed run resumes).

    python autograder/grade.py merge OUT.csv SHARD1.csv SHARD2.csv ...
        Join the CSVs of ``--shard i/n`` runs.

Options of autograde: --course DIR (default autograder/course; the
gradebook and nbgrader's folders live there), --timeout S (CPU seconds per
cell, default 30), --memory-mb MB (per process, default 4096), --deadline
S (wall seconds per notebook, default 900), --jobs N, --shard i/n,
--regrade, --no-sandbox (trusted notebooks only).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "book" / "exercises"
DEFAULT_COURSE = HERE / "course"
sys.path.insert(0, str(HERE))

import submissions as subfolder  # noqa: E402  (autograder/submissions.py)


def assignments(solutions: Path = SOLUTIONS) -> list[str]:
    """Names of the assignments: the folders of solutions/ with notebooks."""
    return sorted(p.name for p in solutions.iterdir()
                  if p.is_dir() and any(p.glob("*.ipynb")))


def prepare_course(course: Path, timeout: int = 30,
                   memory_mb: int = 4096, max_output: int = 20000,
                   sandbox: bool = True, deadline: int = 900) -> dict:
    """Create the course folder, copy solutions/ into source/.

    Returns the environment the grading needs (apply it with
    :func:`grading_env`): nbgrader_config.py reads the limits from the
    DML_GRADING_* variables (per-cell CPU seconds, memory, output,
    per-notebook deadline, whether kernels run in the sandbox); without
    the sandbox, kernels inherit an IPYTHONDIR whose startup file
    (kernel_startup.py) caps memory and output and PYTHONPATH for the
    hidden tests' helpers (dml_grading.py); nbgrader needs ``alembic`` on
    PATH.
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
        "DML_GRADING_SANDBOX": "1" if sandbox else "0",
        "DML_GRADING_DEADLINE": str(deadline),
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


def collect(submissions_dir: Path, course: Path, assignment: str,
            notebooks: list[str]) -> list[str]:
    """Copy submissions into submitted/<student>/<assignment>/ (.ipynb only).

    ``<student>.ipynb`` (one-notebook assignments) or ``<student>/*.ipynb``.
    Returns the students whose submission can be graded (see
    submissions.py for the checks).
    """
    subs = subfolder.find(submissions_dir, notebooks)
    return [s.student for s in _copy(subs, course, assignment)]


def _copy(subs, course: Path, assignment: str) -> list:
    """Copy the gradable submissions into nbgrader's submitted/ folder."""
    kept = []
    for sub in subs:
        if sub.problem:
            continue
        dest = Path(course) / "submitted" / sub.student / assignment
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for stem, path in sub.files.items():
            shutil.copy(path, dest / f"{stem}.ipynb")
        kept.append(sub)
    return kept


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> (i, n), 1 <= i <= n; ValueError (one line) otherwise."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        i = n = 0
    if not 1 <= i <= n:
        raise ValueError(f"--shard {text!r}: write i/n with 1 <= i <= n, "
                         "e.g. --shard 1/4")
    return i, n


def in_shard(subs: list, shard) -> list:
    """The submissions of shard (i, n): every n-th student from the i-th,
    in sorted order, so the shards of one folder never overlap."""
    if shard is None:
        return subs
    i, n = shard
    return [s for k, s in enumerate(sorted(subs, key=lambda s: s.student))
            if k % n == i - 1]


def _signatures(source: Path) -> dict:
    """{assignment: grade ids of its source notebooks}."""
    out = {}
    for folder in sorted(p for p in Path(source).iterdir() if p.is_dir()):
        ids = set()
        for nb in folder.glob("*.ipynb"):
            ids |= subfolder.grade_ids(json.loads(nb.read_text()))
        out[folder.name] = ids
    return out


def _fingerprint(sub, course: Path, assignment: str, env: dict) -> str:
    """What a stored result depends on: the notebook, the assignment's
    source and the limits it was graded under."""
    h = hashlib.sha256(sub.fingerprint().encode())
    for nb in sorted((Path(course) / "source" / assignment).glob("*")):
        if nb.is_file():
            h.update(nb.read_bytes())
    for k in sorted(env):
        if k.startswith("DML_GRADING_"):
            h.update(f"{k}={env[k]}".encode())
    return h.hexdigest()


def autograde(assignment: str, submissions: Path, course: Path,
              csv_path: Path | None = None, timeout: int = 30,
              memory_mb: int = 4096, progress: bool = True, jobs: int = 1,
              shard=None, sandbox: bool = True, regrade: bool = False,
              deadline: int = 900) -> dict:
    """Grade every submission; return {student: seconds} and write CSV.

    Students already graded with the same notebook, source and limits
    are skipped (``regrade`` grades them again). Raises
    submissions.SubmissionsError, sandbox.SandboxError or
    verdicts.ReferenceError_ (one line)
    before grading anything.
    """
    subfolder.check_folder(submissions)
    env = prepare_course(course, timeout, memory_mb, sandbox=sandbox,
                         deadline=deadline)
    if sandbox:
        import sandbox as sb
        sb.check_works()
    with grading_env(env):
        env.update(reference_run(course, assignment, progress))
    with grading_env(env):
        return _autograde(assignment, submissions, course, csv_path,
                          progress, jobs, shard, regrade, env)


def _reference_key(course: Path, assignment: str) -> str:
    """What the reference records depend on: the source notebooks, the
    hidden tests' helpers and the dml library."""
    h = hashlib.sha256()
    files = sorted((Path(course) / "source" / assignment).glob("*.ipynb"))
    files += [HERE / "dml_grading.py"]
    import dml
    files += sorted(Path(dml.__file__).parent.rglob("*.py"))
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _reference_cache() -> Path:
    """Reference runs kept across course folders, by key
    (``$XDG_CACHE_HOME/dml-grading/references``)."""
    base = os.environ.get("XDG_CACHE_HOME") or \
        os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dml-grading" / "references"


def reference_run(course: Path, assignment: str,
                  progress: bool = True) -> dict:
    """Run each source notebook of ``assignment`` (reference solutions,
    real dml; trusted, so outside the sandbox) and keep its hidden tests'
    records in <course>/references/<assignment>/<notebook>.json, the
    expected values of every verdict (verdicts.py). Reused while the
    sources, dml_grading.py and dml are unchanged. Returns the variables
    that point the grading at them. Raises verdicts.ReferenceError_
    (one line) if the reference fails one of its own tests or a test
    cell records nothing."""
    import nbformat
    import verdicts
    from execute import RecoveringExecute
    course = Path(course).resolve()
    key = _reference_key(course, assignment)
    folder = course / "references" / assignment
    stamp = folder / "key"
    source = course / "source" / assignment
    cached = _reference_cache() / key
    if not (stamp.is_file() and stamp.read_text() == key) and \
            (cached / "key").is_file():
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(cached, folder)
    if not (stamp.is_file() and stamp.read_text() == key):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for path in sorted(source.glob("*.ipynb")):
            if progress:
                print(f"{assignment}: reference run of {path.name} (the "
                      "expected values of the hidden tests)", flush=True)
            nb = nbformat.read(str(path), as_version=4)
            with grading_env({"DML_GRADING_RECORD": "1"}):
                RecoveringExecute(
                    sandbox=False, record_to=str(folder / f"{path.stem}.json"),
                    cpu_limit=600, setup_cpu_limit=600, deadline=3600,
                ).preprocess(nb, {"metadata": {"path": str(source),
                                               "name": path.stem}})
        for path in sorted(folder.glob("*.json")):
            verdicts.load_reference(path)      # raises if unusable
        stamp.write_text(key)
        with contextlib.suppress(OSError):    # a cache, nothing more
            tmp = cached.with_name(cached.name + f".{os.getpid()}")
            shutil.copytree(folder, tmp)
            os.replace(tmp, cached)
    return {"DML_GRADING_REFERENCE": str(folder),
            "DML_GRADING_REFERENCE_KEY": key}


def _autograde(assignment, submissions_dir, course, csv_path, progress,
               jobs, shard, regrade, env):
    import runner
    from tqdm.auto import tqdm
    course = Path(course).resolve()
    api = nbgrader_api(course)
    generate(api, assignment)
    notebooks = sorted(p.stem for p in
                       (course / "source" / assignment).glob("*.ipynb"))
    signatures = _signatures(course / "source")
    subs = in_shard(subfolder.find(submissions_dir, notebooks, assignment,
                                   signatures), shard)
    prints = {s.student: _fingerprint(s, course, assignment, env)
              for s in subs if not s.problem}
    todo = [s for s in _copy(subs, course, assignment) if regrade or
            (runner.load_result(course, assignment, s.student) or {})
            .get("fingerprint") != prints[s.student]]
    if progress:
        print(f"{assignment}: {len(subs)} submissions; {len(todo)} to "
              f"grade, {len(prints) - len(todo)} unchanged since graded "
              "(--regrade grades them again)", flush=True)
    bar = tqdm(total=len(todo), desc=f"autograde {assignment}",
               unit="student", disable=not progress)
    times = {}

    def on_result(student, result):
        result["fingerprint"] = prints[student] if result.get("ok") else None
        runner.save_result(course, assignment, student, result)
        times[student] = result.get("seconds", 0.0)
        bar.update()
        if progress:
            bar.write(_line(student, result))

    worker_env = dict(os.environ)
    runner.run_workers(
        [s.student for s in todo], jobs,
        lambda slot: runner.Worker(assignment, course, slot, worker_env),
        on_result, limit=float(env["DML_GRADING_DEADLINE"]) + 600)
    bar.close()
    with open_gradebook(course) as gb:
        rows = runner.csv_rows(gb, assignment, subs, course)
    runner.write_csv(rows, Path(csv_path or course / "grades.csv"))
    return times


def _line(student: str, result: dict) -> str:
    """The one line the instructor sees per student."""
    if not result.get("ok"):
        return f"{student}: not graded: {result.get('error')}"
    pending = ", hand-grading pending" if result.get("pending") else ""
    return (f"{student}: {result['score']:g} / {result['max_score']:g} "
            f"points{pending} ({result.get('seconds', 0):.1f} s)")


@contextlib.contextmanager
def open_gradebook(course: Path):
    """nbgrader's Gradebook of ``course`` (it runs ``alembic`` on open)."""
    from nbgrader.api import Gradebook
    db_url = "sqlite:///" + str(Path(course).resolve() / "gradebook.db")
    path = str(Path(sys.executable).parent) + os.pathsep + \
        os.environ.get("PATH", "")
    with grading_env({"PATH": path}), Gradebook(db_url, "dml") as gb:
        yield gb


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="write book/exercises/")
    rel.add_argument("--out", type=Path, default=EXERCISES)
    ag = sub.add_parser("autograde", help="grade a folder of submissions")
    ag.add_argument("assignment")
    ag.add_argument("submissions", type=Path)
    ag.add_argument("--course", type=Path, default=DEFAULT_COURSE)
    ag.add_argument("--csv", type=Path, default=None)
    ag.add_argument("--timeout", type=int, default=30,
                    help="CPU seconds per cell (default 30)")
    ag.add_argument("--memory-mb", type=int, default=4096)
    ag.add_argument("--deadline", type=int, default=900,
                    help="wall-clock seconds per notebook (default 900)")
    ag.add_argument("--jobs", type=int, default=1,
                    help="notebooks graded at once (default 1)")
    ag.add_argument("--shard", default=None,
                    help="i/n: grade every n-th student from the i-th")
    ag.add_argument("--regrade", action="store_true",
                    help="grade again students already graded")
    ag.add_argument("--no-sandbox", action="store_true",
                    help="no bubblewrap sandbox: trusted notebooks only")
    mg = sub.add_parser("merge", help="join the CSVs of several shards")
    mg.add_argument("out", type=Path)
    mg.add_argument("parts", type=Path, nargs="+")
    wk = sub.add_parser("_worker")       # internal: runner.Worker
    wk.add_argument("assignment")
    wk.add_argument("--course", type=Path, required=True)
    wk.add_argument("--slot", type=int, default=0)
    return parser


def main(argv=None) -> int:
    import warnings
    # nbgrader 0.9's gradebook triggers harmless SQLAlchemy session warnings
    warnings.filterwarnings("ignore", message=".*not in session.*")
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "release":
        for path in release(args.out):
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) \
                else path
            print(f"wrote {shown}")
        return 0
    import runner
    if args.command == "_worker":
        os.environ["DML_GRADING_SLOT"] = str(args.slot)
        return runner.worker_main(args.assignment, args.course.resolve())
    if args.command == "merge":
        missing = [p for p in args.parts if not p.is_file()]
        if missing:
            parser.error(f"no such CSV: {missing[0]}")
        try:
            print(f"merged: {runner.merge(args.out, args.parts)}")
        except ValueError as exc:
            parser.error(str(exc))
        return 0
    return _main_autograde(parser, args)


def _main_autograde(parser, args) -> int:
    """``autograde``: instructor mistakes end in one line (exit 2)."""
    import sandbox
    import verdicts
    if args.assignment not in assignments():
        parser.error(f"unknown assignment {args.assignment!r}; choose one "
                     f"of {', '.join(assignments())}.")
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give at least 1")
    try:
        shard = parse_shard(args.shard)
        autograde(args.assignment, args.submissions, args.course,
                  args.csv, args.timeout, args.memory_mb, jobs=args.jobs,
                  shard=shard, sandbox=not args.no_sandbox,
                  regrade=args.regrade, deadline=args.deadline)
    except (ValueError, sandbox.SandboxError) as exc:
        parser.error(str(exc))
    except verdicts.ReferenceError_ as exc:
        parser.error(f"the assignment's reference run: {exc}")
    print(f"grades: {args.csv or Path(args.course) / 'grades.csv'}; "
          f"feedback: {Path(args.course) / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
