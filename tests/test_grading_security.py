"""Grading untrusted notebooks: attacks fail, honest work keeps its score.

One run of ``python autograder/grade.py autograde ex1_distances ...
--jobs 2`` (module fixture) grades, next to the reference and the blank
student version, one submission per kind of attack (issue 14): reading
what must stay secret, writing grades or files outside the sandbox,
processes that outlive grading, a fork bomb and a huge file, the network,
killing the grader, a loop that swallows KeyboardInterrupt, flooding the
output, leaking the hidden tests through the feedback -- and submissions
an instructor must be told about (empty, not JSON, another assignment,
several notebooks, a name with a space and a non-ASCII letter).

The network is tested only against listeners this test opens on
127.0.0.1. Forging a pass from inside the kernel (patching numpy or the
test helpers, an input transformer, an exception handler that swallows
failures, dml behind a default argument or a dynamic import, records
sent by hand) earns nothing: verdicts are decided by the grader from the
hidden tests' records (autograder/README.md, "Verdicts").
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))

import feedback  # noqa: E402  (autograder/feedback.py)

pytestmark = pytest.mark.slow      # the sandbox is required, never skipped

A = "ex1_distances"
SOURCE = ROOT / "solutions" / A / f"{A}.ipynb"
BLANK = ROOT / "book" / "exercises" / f"{A}.ipynb"
AUTO_POINTS = 11.0           # ex1's autograded points
CANARY = "DML_TEST_CANARY_7f3a"
MARKER = "DMLGHOST-7f3a"


def _load(path):
    nb = json.loads(Path(path).read_text())
    for c in nb["cells"]:
        if isinstance(c["source"], list):
            c["source"] = "".join(c["source"])
    return nb


def _gid(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def submission(extra=None, code=None, last=None):
    """The reference with ``extra`` code in a new cell after the set-up,
    solution cells replaced by ``code``, and a ``last`` cell appended."""
    nb = _load(SOURCE)
    cells = []
    for cell in nb["cells"]:
        if code and _gid(cell) in code:
            cell["source"] = code[_gid(cell)]
        cells.append(cell)
        if extra and _gid(cell) == "setup":
            cells.append(_cell(extra))
    if last:
        cells.append(_cell(last))
    nb["cells"] = cells
    return nb


def _cell(source):
    return {"cell_type": "code", "metadata": {}, "outputs": [],
            "execution_count": None, "source": source}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WRONG = {"euclidean_distance": "def euclidean_distance(a, b):\n"
                               "    return 0.0",
         "cosine_distance": "def cosine_distance(a, b):\n    return 0.0",
         "pairwise_sq_euclidean": "def pairwise_sq_euclidean(X, Y):\n"
                                  "    return np.zeros((len(X), len(Y)))",
         "mahalanobis_pairwise": "def mahalanobis_pairwise(X, W):\n"
                                 "    return np.zeros((len(X), len(X)))"}


def attacks(course: Path, csv_path: Path, secrets: list, port: int,
            port2: int) -> dict:
    """{student: notebook} for every kind of attack."""
    paths = json.dumps([str(p) for p in secrets])
    blank_sub = course / "submitted" / "blank" / A / f"{A}.ipynb"
    writes = {
        "gradebook": f"import sqlite3\n"
                     f"c = sqlite3.connect({str(course / 'gradebook.db')!r})"
                     f"\nc.execute('update grade set auto_score = 99')\n"
                     f"c.commit()",
        "other": f"open({str(blank_sub)!r}, 'a').write(' ')",
        "source": f"open({str(course / 'source' / A / (A + '.ipynb'))!r},"
                  f" 'a').write(' ')",
        "helpers": f"open({str(ROOT / 'autograder' / 'dml_grading.py')!r},"
                   f" 'a').write('\\nown_work = lambda f: f\\n')",
        "startup": f"open({str(course / 'ipython' / 'profile_default')!r}"
                   f" + '/startup/99-pwn.py', 'w').write('1')",
        "repo": f"open({str(ROOT / ('PWNED-' + MARKER))!r}, 'w').write('1')",
        "csv": f"open({str(csv_path)!r}, 'a').write('pwned')",
        "sockets": "import glob\n"
                   "open(glob.glob('/tmp/dmlk-*')[0] + '/fill', 'w')",
    }
    vandal = "import os\nHITS = []\n" + "".join(
        f"try:\n    {body.replace(chr(10), chr(10) + '    ')}\n"
        f"    HITS.append({name!r})\nexcept Exception:\n    pass\n"
        for name, body in writes.items()) + "print('VANDAL-HITS', HITS)"
    return {
        "attack_spy": submission(extra=(
            "import os, json\nFOUND = []\n"
            f"for p in {paths}:\n"
            "    try:\n"
            "        os.listdir(p) if os.path.isdir(p) else "
            "open(p, 'rb').read(1)\n"
            "        FOUND.append(p)\n"
            "    except OSError:\n"
            "        pass\n"
            "print('SPY-FOUND', json.dumps(FOUND))\n"
            "print('SPY-ENV', json.dumps(dict(os.environ)))")),
        "attack_vandal": submission(extra=vandal),
        "attack_ghost": submission(extra=(
            "import os, subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time\\n"
            f"while True: time.sleep(0.2)  # {MARKER}'],\n"
            "                 start_new_session=True)\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    while True:\n"
            "        time.sleep(0.2)\n"
            f"        open({str(csv_path)!r}, 'a').write('pwned')")),
        "attack_bomb": submission(extra=(
            "import os, time\nN = 0\n"
            "for _ in range(500):\n"
            "    try:\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(10)\n"
            "            os._exit(0)\n"
            "        N += 1\n"
            "    except OSError:\n"
            "        break\n"
            "print('BOMB-FORKED', N)\n"
            "try:\n"
            "    with open('big', 'wb') as f:\n"
            "        for _ in range(2048):\n"
            "            f.write(bytes(1 << 20))\n"
            "    print('BIG-WROTE')\n"
            "except OSError as e:\n"
            "    print('BIG-FAILED', e.errno)\n"
            "if os.path.exists('big'):\n"
            "    os.remove('big')")),
        "attack_net": submission(extra=(
            "import socket\nR = []\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), 2)\n"
            "    R.append('connected')\n"
            "except OSError:\n"
            "    R.append('refused')\n"
            "L = socket.socket()\n"
            "L.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"L.bind(('0.0.0.0', {port2}))\nL.listen()\n"
            "import time\ntime.sleep(3)\nprint('NET', R)")),
        "attack_killer": submission(last=(
            "import os, signal\n"
            "for pid in (os.getppid(), 1, -1):\n"
            "    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n"
            "    except OSError:\n"
            "        pass\n"
            "os.kill(os.getpid(), signal.SIGKILL)")),
        "attack_hang": submission(code={"euclidean_distance": (
            "def euclidean_distance(a, b):\n"
            "    while True:\n"
            "        try:\n"
            "            while True:\n"
            "                pass\n"
            "        except KeyboardInterrupt:\n"
            "            pass")}),
        "attack_flood": submission(extra=(
            "import os, sys\nfrom IPython.display import display, HTML\n"
            "os.write(1, b'x' * (8 << 20))\n"
            "sys.__stdout__.write('y' * (8 << 20))\n"
            "sys.__stdout__.flush()\n"
            "display(HTML('<p>' + 'z' * (8 << 20) + '</p>'))\n"
            "print('w' * (8 << 20))")),
        "attack_leak": submission(code={"euclidean_distance": (
            "import inspect\n"
            "def euclidean_distance(a, b):\n"
            "    code = get_ipython().user_ns['In'][-1]\n"
            "    caller = inspect.currentframe().f_back\n"
            "    print(code, caller.f_locals)\n"
            "    if len(a) == 7:\n"
            "        raise AssertionError(code)\n"
            "    diff = np.asarray(a, float) - np.asarray(b, float)\n"
            "    return float(np.sqrt(diff @ diff))")}),
    }


def forgeries() -> dict:
    """Wrong functions that forge passes from inside the kernel, and
    ``wrong``: the same functions, honestly handed in (the baseline)."""
    return {
        "wrong": submission(code=WRONG),
        "forge_allclose": submission(code=WRONG, extra=(
            "np.allclose = lambda *a, **k: True\n"
            "np.isclose = lambda *a, **k: True")),
        "forge_helpers": submission(code=WRONG, extra=(
            "import sys, types\n"
            "fake = types.ModuleType('dml_grading')\n"
            "fake.own_work = lambda f: f\n"
            "fake.assert_close = lambda *a, **k: None\n"
            "fake.assert_no_loops = lambda *a, **k: None\n"
            "sys.modules['dml_grading'] = fake\n"
            "np.allclose = lambda *a, **k: True\n"
            "np.isclose = lambda *a, **k: True")),
        "forge_default": submission(code={**WRONG, "euclidean_distance": (
            "import dml.distances as _d\n"
            "class _H:\n"
            "    f = staticmethod(_d.pairwise_distances)\n"
            "def euclidean_distance(a, b, h=_H):\n"
            "    return float(h.f(a[None], b[None])[0, 0])")}),
        "forge_transformer": submission(code=WRONG, extra=(
            "def blank(lines):\n"
            "    return [] if any('assert' in l for l in lines) else lines\n"
            "get_ipython().input_transformers_post.append(blank)")),
        "forge_exception_handler": submission(code=WRONG, extra=(
            "get_ipython().set_custom_exc((BaseException,),\n"
            "                             lambda *a, **k: None)")),
        "forge_dynamic_dml": submission(code={**WRONG, "euclidean_distance": (
            "import importlib\n"
            "def euclidean_distance(a, b):\n"
            "    m = importlib.import_module('d' + 'ml.distances')\n"
            "    return float(m.pairwise_distances(a[None], b[None])[0, 0])"
        )}),
        "forge_records": submission(code={**WRONG, "euclidean_distance": (
            "import json\n"
            "from IPython.display import publish_display_data\n"
            "def euclidean_distance(a, b):\n"
            "    # a record with a plausible label, sent by hand\n"
            "    publish_display_data({'application/x-dml-grading-record"
            "+json': json.dumps({'kind': 'value', 'what': 'random vectors',"
            " 'actual': {'shape': [], 'data': 'AAAAAAAA8D8='}})})\n"
            "    return 1.0")}),
    }


MISTAKES = {   # entry -> status in the CSV
    "empty.ipynb": "not graded: empty.ipynb is an empty file",
    "garbage.ipynb": "not graded: garbage.ipynb is not a notebook (not JSON",
    "other_assignment.ipynb": "not graded: other_assignment.ipynb is a "
                              "notebook of another assignment (ex3_losses)",
    "several": "not graded: several notebooks",
}


def _write(folder: Path, name: str, nb) -> None:
    (folder / name).write_text(nb if isinstance(nb, str) else json.dumps(nb))


def _hash(*paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(str(p).encode() + Path(p).read_bytes())
    return h.hexdigest()


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass


class Prober:
    """Tries to connect to 127.0.0.1:port until stopped; counts successes
    (a listening socket opened in a sandbox must not be reachable)."""

    def __init__(self, port):
        self.port, self.reached = port, 0
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop.is_set():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5)
                self.reached += 1
            except OSError:
                pass
            time.sleep(0.2)


def _ghosts() -> list:
    import psutil
    found = []
    for p in psutil.process_iter(["cmdline", "uids"]):
        cmd = " ".join(p.info["cmdline"] or [])
        uid = p.info["uids"].real if p.info["uids"] else -1
        if MARKER in cmd or 61000 <= uid < 61100:
            found.append((p.pid, uid, cmd[:80]))
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("security")
    course, subs = base / "course", base / "subs"
    csv_path = base / "grades.csv"
    subs.mkdir()
    listener = Listener()
    port2 = _free_port()
    secrets = [course / "source" / A / f"{A}.ipynb", course / "gradebook.db",
               course / "submitted" / "blank" / A / f"{A}.ipynb"]
    home = Path(os.path.expanduser("~"))
    # the library holds the reference of every graded function
    secrets += [ROOT / "lib" / "dml" / "distances.py"]
    secrets += [p for p in [SOURCE, ROOT / "README.md", home / ".ssh",
                            home / ".bashrc", home / ".profile",
                            Path("/etc/shadow"), Path("/etc/hostname")]
                if p.exists()]
    _write(subs, "reference.ipynb", _load(SOURCE))
    _write(subs, "blank.ipynb", _load(BLANK))
    _write(subs, "zoë ng.ipynb", _load(SOURCE))
    for name, nb in {**attacks(course, csv_path, secrets, listener.port,
                               port2), **forgeries()}.items():
        _write(subs, f"{name}.ipynb", nb)
    _write(subs, "empty.ipynb", "")
    _write(subs, "garbage.ipynb", "{not json")
    _write(subs, "other_assignment.ipynb",
           _load(ROOT / "solutions" / "ex3_losses" / "ex3_losses.ipynb"))
    (subs / "several").mkdir()
    _write(subs / "several", "a.ipynb", _load(SOURCE))
    _write(subs / "several", "b.ipynb", _load(SOURCE))
    protected = [ROOT / "autograder" / "dml_grading.py",
                 ROOT / "autograder" / "kernel_startup.py", SOURCE]
    before = _hash(*protected)
    source_bytes = SOURCE.read_bytes()
    prober = Prober(port2)
    env = dict(os.environ, **{CANARY: "secret"})
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "autograder" / "grade.py"), "autograde",
         A, str(subs), "--course", str(course), "--csv", str(csv_path),
         "--jobs", "2", "--timeout", "10"],
        capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t0
    time.sleep(3)            # a detached writer would strike now
    prober.stop.set()
    listener.stop.set()
    print(f"\nsecurity run: {seconds:.1f} s\n{proc.stdout}{proc.stderr}")
    rows = {r["student_id"]: r for r in csv.DictReader(open(csv_path))}
    return {"proc": proc, "course": course, "csv": csv_path, "rows": rows,
            "listener": listener, "prober": prober, "subs": subs,
            "unchanged": before == _hash(*protected),
            "source_bytes": source_bytes,
            "secrets": secrets}


def outputs(run, student) -> str:
    """Every output text of a student's autograded notebook."""
    nb = json.loads((run["course"] / "autograded" / student / A /
                     f"{A}.ipynb").read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


def score(run, student) -> float:
    return float(run["rows"][student]["raw_score"])


def test_the_run_ends_normally_and_lists_every_submission(run):
    assert run["proc"].returncode == 0, run["proc"].stderr[-2000:]
    expected = {p.stem if p.suffix == ".ipynb" else p.name
                for p in run["subs"].iterdir()}
    assert set(run["rows"]) == expected


def test_honest_and_blank_scores_are_exact(run):
    assert score(run, "reference") == AUTO_POINTS
    assert score(run, "zoë ng") == AUTO_POINTS
    assert score(run, "blank") == 0.0
    assert run["rows"]["reference"]["status"] == "hand-grading pending"
    assert run["rows"]["blank"]["status"] == "graded"


@pytest.mark.parametrize("entry", sorted(MISTAKES))
def test_an_instructors_mistake_is_listed_not_graded(run, entry):
    student = entry[:-6] if entry.endswith(".ipynb") else entry
    row = run["rows"][student]
    assert row["status"].startswith(MISTAKES[entry]), row["status"]
    assert row["raw_score"] == ""


def test_attacks_that_leave_the_functions_intact_keep_exactly_their_points(
        run):
    for who in ["attack_spy", "attack_vandal", "attack_ghost",
                "attack_bomb", "attack_net", "attack_killer",
                "attack_flood"]:
        assert score(run, who) == AUTO_POINTS, who
        assert run["rows"][who]["status"] == "hand-grading pending", who


def test_a_function_that_never_ends_loses_only_its_own_points(run):
    # euclidean_distance swallows KeyboardInterrupt: its test cell (2
    # points) is stopped by the CPU limit, the sandbox killed, the rest
    # graded as usual
    assert score(run, "attack_hang") == AUTO_POINTS - 2
    assert "TimeLimitError" in outputs(run, "attack_hang")


def test_nothing_secret_is_readable_and_no_variable_is_inherited(run):
    text = outputs(run, "attack_spy")
    assert "SPY-FOUND []" in text
    assert len(run["secrets"]) >= 5
    env = text.split("SPY-ENV ")[1]
    assert CANARY not in env and '\\"HOME\\": \\"/home/student\\"' in env


def test_no_write_reaches_grades_files_or_later_runs(run):
    assert "VANDAL-HITS []" in outputs(run, "attack_vandal")
    assert run["unchanged"], "the grading helpers or the solution changed"
    graded_source = run["course"] / "source" / A / f"{A}.ipynb"
    assert graded_source.read_bytes() == run["source_bytes"]
    assert not (ROOT / f"PWNED-{MARKER}").exists()
    assert not list((run["course"] / "ipython").rglob("99-pwn.py"))
    assert "pwned" not in run["csv"].read_text()


def test_no_process_of_the_run_outlives_it(run):
    assert _ghosts() == []


def test_processes_and_file_size_are_capped(run):
    text = outputs(run, "attack_bomb")
    forked = int(text.split("BOMB-FORKED ")[1].split("\\n")[0])
    assert 0 < forked < 64
    assert "BIG-FAILED 27" in text          # EFBIG: over the 16 MB cap


def test_the_sandbox_has_no_network(run):
    assert "NET ['refused']" in outputs(run, "attack_net")
    assert run["listener"].connections == 0
    assert run["prober"].reached == 0


def test_output_is_capped_and_stays_off_the_terminal(run):
    auto = run["course"] / "autograded" / "attack_flood" / A / f"{A}.ipynb"
    assert auto.stat().st_size < 1_000_000
    assert "truncated by the grader" in auto.read_text()
    terminal = run["proc"].stdout + run["proc"].stderr
    assert len(terminal) < 20_000
    assert "xxxxxxxxxx" not in terminal and "wwwwwwwwww" not in terminal
    big = [p for p in run["course"].rglob("*")
           if p.is_file() and p.stat().st_size > 16 << 20]
    assert big == []


def test_no_feedback_contains_hidden_test_code(run):
    source = _load(SOURCE)
    secrets = [line for c in source["cells"]
               for line in feedback.hidden_lines(c["source"])]
    assert len(secrets) > 10
    pages = list((run["course"] / "feedback").rglob("*.html"))
    assert len(pages) >= 15
    for page in pages:
        text = page.read_text()
        leaked = [s for s in secrets if s in text]
        assert not leaked, (page, leaked[:2])
    leak = (run["course"] / "feedback" / "attack_leak" / A /
            f"{A}.html").read_text()
    assert feedback.QUOTED in leak
    # ... while the instructor's copy shows what the function printed
    assert "_ref_pairwise" in outputs(run, "attack_leak")


def test_a_second_run_grades_nobody_again(run):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "autograder" / "grade.py"), "autograde",
         A, str(run["subs"]), "--course", str(run["course"]),
         "--csv", str(run["csv"]) + ".again", "--jobs", "2",
         "--timeout", "10"],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "0 to grade" in proc.stdout
    again = {r["student_id"]: r for r in
             csv.DictReader(open(str(run["csv"]) + ".again"))}
    assert again == run["rows"]


@pytest.mark.parametrize("who", sorted(set(forgeries()) - {"wrong"}))
def test_forging_a_pass_inside_the_kernel_earns_nothing(run, who):
    """At most the points the wrong functions earn honestly (cells that
    check only shapes or that inputs are kept: 3 of 12); a forgery that
    stops the records loses those too."""
    assert score(run, "wrong") == 3.0
    assert score(run, who) <= score(run, "wrong")
