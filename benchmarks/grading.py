"""Grading throughput: the sandbox's overhead and --jobs (issue 14).

Grades N copies of one assignment's reference solution (``--students``)
with ``python autograder/grade.py autograde`` in four configurations,
each in a fresh course folder, and reports wall time and notebooks per
minute:

* ``plain``: ``--no-sandbox --jobs 1`` (nbgrader's own kernels, no
  sandbox; the pipeline is otherwise the same);
* ``sandbox``: ``--jobs 1``; the difference per notebook is the
  sandbox's overhead (bwrap set-up, a kernel over IPC, CPU polling);
* ``jobs2``: ``--jobs 2``, and ``--jobs J`` for ``--jobs-max J`` > 2.

The set-up every run pays once (copying the course, ``generate_assignment``,
starting the workers) is measured with an empty class (one unusable entry)
and subtracted, so the per-notebook figures are the marginal cost. A
projection for a class on a bigger machine assumes the measured per-job
throughput and the measured parallel efficiency of --jobs 2.

    python benchmarks/grading.py --students 8
    python benchmarks/grading.py --assignment ex3_losses --students 6
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GRADE = ROOT / "autograder" / "grade.py"


def make_class(folder: Path, assignment: str, n: int) -> Path:
    """``n`` copies of the reference solution (distinct students)."""
    src = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    folder.mkdir(parents=True)
    for i in range(n):
        shutil.copy(src, folder / f"student{i:03d}.ipynb")
    return folder


def timed_run(assignment: str, subs: Path, course: Path, *flags) -> float:
    """Wall seconds of one autograde run (its output is discarded)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(GRADE), "autograde", assignment, str(subs),
         "--course", str(course), "--regrade", *flags],
        capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"autograde failed:\n{proc.stderr[-2000:]}")
    return seconds


def measure(assignment: str, n: int, jobs_max: int, tmp: Path) -> dict:
    """{configuration: (set-up seconds, seconds for n notebooks)}."""
    subs = make_class(tmp / "class", assignment, n)
    empty = tmp / "empty"
    empty.mkdir()
    (empty / "nobody.ipynb").write_text("")
    configs = {"plain": ["--no-sandbox"], "sandbox": []}
    for j in range(2, jobs_max + 1):
        configs[f"jobs{j}"] = ["--jobs", str(j)]
    out = {}
    for name, flags in configs.items():
        base = timed_run(assignment, empty, tmp / f"c-{name}-0", *flags)
        total = timed_run(assignment, subs, tmp / f"c-{name}", *flags)
        out[name] = (base, total)
        print(f"{name:8s} set-up {base:6.1f} s  {n} notebooks "
              f"{total - base:6.1f} s  "
              f"{60 * n / (total - base):5.1f} notebooks/min", flush=True)
    return out


def report(results: dict, n: int, cores: int, students: int) -> dict:
    """Overhead, speed-up and the projection, from ``measure``'s numbers."""
    per = {k: (t - b) / n for k, (b, t) in results.items()}
    speedup = per["sandbox"] / per["jobs2"]
    efficiency = speedup / 2
    per_job_rate = 60 / per["sandbox"]           # notebooks/min per job
    projected = students / (per_job_rate * cores * efficiency)
    return {"seconds_per_notebook": per,
            "sandbox_overhead_s": per["sandbox"] - per["plain"],
            "speedup_jobs2": speedup,
            "projection_minutes": projected,
            "projection": f"{students} students on {cores} cores "
                          f"(--jobs {cores})"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignment", default="ex1_distances")
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--jobs-max", type=int, default=2)
    parser.add_argument("--project-cores", type=int, default=16)
    parser.add_argument("--project-students", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dml-bench-grading-") as tmp:
        results = measure(args.assignment, args.students, args.jobs_max,
                          Path(tmp))
    summary = report(results, args.students, args.project_cores,
                     args.project_students)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
