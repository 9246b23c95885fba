"""Grading many students: worker processes, the results store, the CSV.

* **Workers.** ``--jobs N`` starts N worker processes (``grade.py
  _worker``), each grading one student at a time (nbgrader ``autograde``
  and ``generate_feedback``; every kernel in its own sandbox, with its own
  host uid). Workers write the gradebook one at a time: each nbgrader
  Gradebook connection holds ``<course>/gradebook.lock``
  (:func:`lock_gradebook`); kernels run in parallel. Their logs go to
  ``<course>/logs/``, never to the terminal; a worker that dies is
  replaced and its student is ``not graded: <reason>``.
* **Results store.** As soon as a student is graded, the main process
  writes ``<course>/results/<assignment>/<student>.json`` (status and the
  fingerprint of the notebook, the assignment's source and the limits).
  Grading is idempotent: a student whose fingerprint is unchanged is not
  graded again, so a run killed half-way is resumed by running the same
  command; ``--regrade`` grades everyone again.
* **CSV.** Exactly the students of the submissions folder (of this
  shard), sorted, with nbgrader's score columns and ``status``:
  ``graded``, ``hand-grading pending`` or ``not graded: <reason>``.
  ``merge`` joins the CSVs of several shards.
"""
from __future__ import annotations

import csv
import fcntl
import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ["assignment", "student_id", "raw_score",
           "late_submission_penalty", "score", "max_score", "status"]


# -- one writer to the gradebook --------------------------------------------
def lock_gradebook(course: Path) -> None:
    """Make every nbgrader Gradebook of this process hold an exclusive
    lock on ``<course>/gradebook.lock`` while it is open (re-entrant)."""
    from nbgrader import api
    path = Path(course) / "gradebook.lock"
    state = {"fd": None, "depth": 0}
    init, close = api.Gradebook.__init__, api.Gradebook.close

    def locked_init(self, *args, **kwargs):
        if state["depth"] == 0:
            state["fd"] = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(state["fd"], fcntl.LOCK_EX)
        state["depth"] += 1
        self._dml_locked = True
        try:
            init(self, *args, **kwargs)
        except BaseException:
            unlocking_close(self, opened=False)
            raise

    def unlocking_close(self, opened=True):
        if opened:
            close(self)
        if getattr(self, "_dml_locked", False):
            self._dml_locked = False
            state["depth"] -= 1
            if state["depth"] == 0:
                os.close(state["fd"])

    api.Gradebook.__init__, api.Gradebook.close = locked_init, \
        unlocking_close


# -- the results store ------------------------------------------------------
def _result_path(course, assignment, student) -> Path:
    name = urllib.parse.quote(student, safe="") + ".json"
    return Path(course) / "results" / assignment / name


def load_result(course, assignment, student) -> dict | None:
    try:
        return json.loads(_result_path(course, assignment, student)
                          .read_text())
    except (OSError, ValueError):
        return None


def save_result(course, assignment, student, result: dict) -> None:
    """Write atomically: a killed run leaves the old result or the new."""
    path = _result_path(course, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)


# -- workers ----------------------------------------------------------------
class Worker:
    """One ``grade.py _worker`` process: names in, results out (JSON)."""

    def __init__(self, assignment, course, slot, env):
        log_dir = Path(course) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / f"worker-{slot}.log"
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "grade.py"), "_worker", assignment,
             "--course", str(course), "--slot", str(slot)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(self.log, "a"), text=True, env=env,
            start_new_session=True)

    def grade(self, student: str, limit: float) -> dict:
        """Grade one student; kill the worker past ``limit`` seconds."""
        timer = threading.Timer(limit, self.proc.kill)
        timer.start()
        try:
            self.proc.stdin.write(json.dumps(student) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except OSError:
            line = ""
        finally:
            timer.cancel()
        if not line:
            self.proc.kill()
            return {"ok": False, "error": (
                f"the grading worker died (see {self.log})")}
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def run_workers(students, jobs, make_worker, on_result, limit) -> None:
    """Grade ``students`` with ``jobs`` workers; ``on_result(student,
    result)`` is called in the main thread's lock, one at a time."""
    todo = queue.Queue()
    for s in students:
        todo.put(s)
    lock = threading.Lock()

    def loop(slot):
        worker = make_worker(slot)
        try:
            while True:
                try:
                    student = todo.get_nowait()
                except queue.Empty:
                    return
                result = worker.grade(student, limit)
                if worker.proc.poll() is not None:
                    worker = make_worker(slot)
                with lock:
                    on_result(student, result)
        finally:
            worker.close()

    threads = [threading.Thread(target=loop, args=(i,), daemon=True)
               for i in range(max(1, min(jobs, len(students))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def worker_main(assignment: str, course: Path) -> int:
    """The worker loop: read student names, grade, answer (one JSON line
    each). nbgrader's own output goes to stderr (the worker's log)."""
    import grade
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    lock_gradebook(course)
    api = grade.nbgrader_api(course)
    for line in sys.stdin:
        student = json.loads(line)
        t0 = time.perf_counter()
        try:
            result = grade_one(api, assignment, student)
        except Exception as exc:   # noqa: BLE001 (reported, run goes on)
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        result["seconds"] = time.perf_counter() - t0
        out.write(json.dumps(result) + "\n")
        out.flush()
    return 0


def grade_one(api, assignment: str, student: str) -> dict:
    """autograde + generate_feedback for one student, and the score."""
    result = api.autograde(assignment, student, force=True, create=True)
    if not result.get("success"):
        return {"ok": False, "error": _reason(result)}
    fb = api.generate_feedback(assignment, student, force=True)
    if not fb.get("success"):
        return {"ok": False, "error": "feedback failed: "
                + _last_line(fb.get("error", ""))}
    with api.gradebook as gb:
        sub = gb.find_submission(assignment, student)
        return {"ok": True, "score": sub.score, "max_score": sub.max_score,
                "pending": bool(sub.needs_manual_grade)}


def _reason(result: dict) -> str:
    """nbgrader's reason for a failed autograde, in one line: the last
    error line of its log (its ``error`` only says "see the traceback")."""
    lines = [ln for ln in result.get("log", "").splitlines()
             if "ERROR" in ln and "Please see" not in ln]
    return _last_line(lines[-1].split("]", 1)[-1] if lines
                      else result.get("error", ""))


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return (lines[-1] if lines else "unknown error")[:200]


# -- CSV --------------------------------------------------------------------
def csv_rows(gb, assignment: str, subs, course) -> list[dict]:
    """One row per submission (``subs``), status included, sorted."""
    max_score = gb.find_assignment(assignment).max_score
    rows = []
    for sub in sorted(subs, key=lambda s: s.student):
        row = dict.fromkeys(COLUMNS, "")
        row.update(assignment=assignment, student_id=sub.student,
                   max_score=f"{max_score:g}")
        stored = load_result(course, assignment, sub.student) or {}
        reason = sub.problem or stored.get("error") or (
            None if stored.get("ok") else "not graded yet")
        if reason:
            row["status"] = f"not graded: {reason}"
        else:
            s = gb.find_submission(assignment, sub.student)
            penalty = s.late_submission_penalty or 0.0
            row.update(raw_score=f"{s.score:g}",
                       late_submission_penalty=f"{penalty:g}",
                       score=f"{s.score - penalty:g}",
                       status="hand-grading pending"
                       if s.needs_manual_grade else "graded")
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def merge(out: Path, parts: list) -> Path:
    """Join shard CSVs; ValueError (one line) on a foreign file or a
    student graded in two shards."""
    rows, seen = [], {}
    for part in parts:
        with open(part, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != COLUMNS:
                raise ValueError(f"{part} is not a grade.py CSV (columns "
                                 f"{reader.fieldnames}); merge only the "
                                 "CSVs that grade.py autograde wrote")
            for row in reader:
                key = (row["assignment"], row["student_id"])
                if key in seen:
                    raise ValueError(f"{key[1]} ({key[0]}) is in both "
                                     f"{seen[key]} and {part}; each "
                                     "student belongs to one shard")
                seen[key] = part
                rows.append(row)
    rows.sort(key=lambda r: (r["assignment"], r["student_id"]))
    return write_csv(rows, out)
