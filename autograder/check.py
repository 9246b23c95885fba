"""Check your exercise notebook before you hand it in.

    python autograder/check.py ex1_distances.ipynb [more.ipynb ...]

Runs each notebook from top to bottom in a fresh kernel (nbgrader's
validator, the visible tests only) and prints what failed. Exits with
status 1 when a visible test fails, a cell errors, or a test cell was
edited; 0 when every visible test passes. (``nbgrader validate`` prints
the same report but exits 0 even when tests fail.)

It also applies the grader's rules that are no secret, without running
anything (rules.py): a function of yours that uses ``dml``, and a Python
loop in a function whose test says it must have none, are reported as
problems, since the grader gives them no points.

Passing here does not guarantee full marks: hidden tests run at grading,
and written answers are graded by hand.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
UNANSWERED = "You did not provide a response."


def check(path: Path, timeout: int = 60) -> tuple[list[str], list[str]]:
    """(problems, reminders) for one notebook; no problems = it passes.

    Reminders are written answers still empty: not an error here, but
    they are graded by hand.
    """
    from nbgrader.validator import Validator
    from traitlets.config import Config

    # instructors checking a solution notebook run its hidden tests too,
    # which import dml_grading from this folder
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HERE)] + ([saved] if saved else []))
    config = Config()
    config.Execute.timeout = timeout
    try:
        results = Validator(config=config).validate(str(path))
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    import rules
    problems, reminders = rules.problems(path), []
    for kind, message in [
            ("type_changed", "a cell's type was changed"),
            ("changed", "a test or read-only cell was edited; restore it"),
            ("failed", "a cell failed")]:
        for item in results.get(kind, []):
            head = item["source"].splitlines()[:3]
            if item.get("raw_error", "").strip() == UNANSWERED:
                reminders.append("written answer still empty: "
                                 + " ".join(head)[:70])
                continue
            text = f"{message}:\n    " + "\n    ".join(head)
            if item.get("raw_error"):
                text += "\n" + item["raw_error"].rstrip()[-1500:]
            problems.append(text)
    return problems, reminders


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the visible tests of exercise notebooks; exit 1 "
                    "if any fails.")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=60,
                        help="seconds per cell (default 60)")
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        if not path.is_file():
            print(f"{path}: no such notebook")
            status = 1
            continue
        problems, reminders = check(path, args.timeout)
        for r in reminders:
            print(f"{path}: note: {r}")
        if problems:
            status = 1
            print(f"{path}: {len(problems)} problem(s)")
            for p in problems:
                print("-" * 60 + "\n" + p)
        else:
            print(f"{path}: every visible test passes")
    return status


if __name__ == "__main__":
    sys.exit(main())
