"""The sandbox every grading kernel runs in (bubblewrap), and its manager.

A student's notebook is untrusted code. Its kernel runs under ``bwrap``
(Debian package ``bubblewrap``) with

* its own pid, network, ipc and uts namespaces, and its own user
  namespace in which it is uid 1000 with no capabilities; when the grader
  runs as root the kernel's processes belong to an unprivileged host uid
  (``61000 + slot``), so the process limit is enforced (root is exempt
  from RLIMIT_NPROC);
* a root filesystem that holds only the system (``/usr``), Python and
  the venv, read-only; not the ``dml`` package, which holds the reference
  of every graded function: in its place a stand-in (``stub/dml``, see
  verdicts.py) that hidden tests can import but that computes nothing;
  the hidden tests' helpers (``dml_grading.py``) and the stand-in
  read-only in ``/opt/dml-grading``; a private,
  size-capped tmpfs as ``$HOME`` and working directory, holding a copy of
  the submission; no course folder, repository, ``/root`` or host
  ``$HOME``; of ``/etc`` only what Python needs plus a one-user passwd;
* a minimal environment (``--clearenv``, then a few variables);
* limits on processes, file size, open files, address space and CPU time
  (``prlimit``, set before the kernel starts, hard = soft);
* the kernel's ZeroMQ sockets on the IPC transport, in a socket directory
  bound into the sandbox (there is no network), which also silences the
  "Kernel is running over TCP without encryption" warning; once the
  kernel is up, the sandbox can create no file there;
* its stdout and stderr never reach the instructor's terminal.

Killing the ``bwrap`` process kills the whole sandbox: its pid 1 dies
with it (``--die-with-parent``), and when a pid namespace's first process
dies the kernel kills every process left in it, ``setsid`` or not.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import zmq
from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer, Unicode

HERE = Path(__file__).resolve().parent
HOME = "/home/student"
HELPERS = "/opt/dml-grading"
SANDBOX_UID = 1000
HOST_UID_BASE = 61000
MAX_MESSAGE = 64 << 20     # bytes of one message from a kernel
MISSING = ("bubblewrap (bwrap) is not installed: install it with "
           "`apt-get install bubblewrap` (scripts/test.sh does so as root), "
           "or grade trusted notebooks only with --no-sandbox.")


class SandboxError(RuntimeError):
    """The sandbox cannot be used on this machine (one-line reason)."""


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use; all hard limits (the kernel cannot raise
    them). ``cpu_s`` bounds the whole kernel process (RLIMIT_CPU); the
    per-cell CPU limit is the grader's (execute.py)."""
    memory_mb: int = 4096      # address space of each process
    processes: int = 64        # processes and threads of the sandbox uid
    file_mb: int = 16          # largest file a process may write
    disk_mb: int = 64          # the private writable $HOME (tmpfs)
    open_files: int = 256
    cpu_s: int = 3600          # CPU seconds of one kernel process


def bwrap() -> str:
    """Path of the bwrap executable, or SandboxError saying how to get it."""
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxError(MISSING)
    return path


def host_uid(slot: int = 0) -> int | None:
    """The unprivileged host uid of a sandbox when grading as root (one
    per parallel job), or None when the grader is not root."""
    return HOST_UID_BASE + slot if os.geteuid() == 0 else None


def _real(path) -> str:
    return os.path.realpath(str(path))


def readonly_trees() -> list[str]:
    """Folders the kernel reads: Python and the venv. Not the ``dml``
    package (it holds the references): the stand-in ``stub/dml`` is bound
    in its place (see ``_bound_files``)."""
    trees = [_real(sys.base_prefix), _real(sys.prefix)]
    out = []
    for t in sorted(set(trees)):
        if not t.startswith("/usr/") and not any(
                t.startswith(o + "/") for o in out):
            out.append(t)
    return out


def _dirs_for(paths) -> list[str]:
    """``--dir`` arguments (mode 0755) for every ancestor of ``paths`` that
    bwrap would otherwise create as root-only (0700)."""
    args, seen = [], set()
    for p in paths:
        parts = Path(p).parts
        for i in range(2, len(parts)):
            d = str(Path(*parts[:i]))
            if d not in seen and d not in ("/usr", "/tmp", HOME):
                seen.add(d)
                args += ["--perms", "0755", "--dir", d]
    return args


def _system_args() -> list[str]:
    """The read-only system: /usr, the merged-/usr links, a few of /etc."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        p = Path("/" + name)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    for name in ("ld.so.cache", "localtime", "nsswitch.conf", "fonts",
                 "alternatives"):
        if Path("/etc", name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


def environment() -> dict:
    """The kernel's whole environment (nothing is inherited)."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": HOME, "USER": "student", "LANG": "C.UTF-8",
        "PYTHONPATH": HELPERS, "IPYTHONDIR": f"{HOME}/.ipython",
        "MPLBACKEND": "agg", "MPLCONFIGDIR": f"{HOME}/.matplotlib",
        "PYTHONDONTWRITEBYTECODE": "1",
        # hidden tests send their records to the grader (dml_grading)
        "DML_GRADING_RECORD": "1",
        # one thread per kernel: CPU seconds then measure the work, and
        # --jobs N kernels share N cores without oversubscription
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    if os.environ.get("NBGRADER_EXECUTION"):
        env["NBGRADER_EXECUTION"] = os.environ["NBGRADER_EXECUTION"]
    return env


def command(kernel_cmd: list, ipc_dir: str, files: dict, limits: Limits,
            uid: int | None) -> list[str]:
    """The full command line that runs ``kernel_cmd`` in a sandbox.

    ``files`` maps host files to paths inside (read-only binds: the
    passwd file, the grading helpers, the submission); ``ipc_dir`` is
    bound read-write at the same path (the kernel's sockets and its
    connection file live there); ``uid`` is the host uid the kernel runs
    as when the grader is root (None: bwrap maps the caller's uid).
    """
    trees = readonly_trees()
    args = [bwrap(), "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--hostname", "sandbox", "--die-with-parent",
            "--new-session", "--clearenv"]
    for k, v in environment().items():
        args += ["--setenv", k, v]
    args += _dirs_for([HOME]) + _system_args()
    args += ["--dev", "/dev", "--proc", "/proc",
             "--size", str(limits.disk_mb << 20), "--perms", "1777",
             "--tmpfs", HOME,
             "--size", str(limits.disk_mb << 20), "--perms", "1777",
             "--tmpfs", "/tmp",
             "--size", str(limits.disk_mb << 20), "--perms", "1777",
             "--tmpfs", "/dev/shm"]
    # after the private /tmp: a course, venv or socket folder that lives
    # under /tmp on the host (a CI clone there) is bound on top, not hidden
    args += _dirs_for(trees + [ipc_dir] + list(files.values()))
    for t in trees:
        args += ["--ro-bind", t, t]
    args += ["--bind", ipc_dir, ipc_dir, "--chdir", HOME]
    for src, dest in files.items():
        args += ["--ro-bind", str(src), dest]
    if uid is None:   # not root: bwrap makes the user namespace
        args[1:1] = ["--unshare-user", "--uid", str(SANDBOX_UID),
                     "--gid", str(SANDBOX_UID), "--disable-userns"]
        inner = []
    else:             # root: drop to ``uid``, then a user namespace
        inner = ["setpriv", f"--reuid={uid}", f"--regid={uid}",
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                 "--no-new-privs", "--", "unshare", "--user",
                 f"--map-user={SANDBOX_UID}", f"--map-group={SANDBOX_UID}",
                 "--"]
    mb = 1 << 20
    inner += ["prlimit", f"--nproc={limits.processes}",
              f"--fsize={limits.file_mb * mb}",
              f"--nofile={limits.open_files}",
              f"--as={limits.memory_mb * mb}", f"--cpu={limits.cpu_s}",
              "--core=0", "--"]
    return args + inner + list(kernel_cmd)


PASSWD = (f"student:x:{SANDBOX_UID}:{SANDBOX_UID}:student:{HOME}:/bin/false"
          "\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = f"student:x:{SANDBOX_UID}:\nnogroup:x:65534:\n"


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in the sandbox, over IPC.

    nbclient (inside nbgrader's Execute) creates one per notebook and
    restarts it after a crash; every start is a fresh sandbox with an
    empty private $HOME.
    """

    memory_mb = Integer(4096, help="address space per process, MB").tag(
        config=True)
    processes = Integer(64, help="processes per sandbox").tag(config=True)
    file_mb = Integer(16, help="largest file, MB").tag(config=True)
    disk_mb = Integer(64, help="private writable $HOME, MB").tag(
        config=True)
    slot = Integer(0, help="parallel job number (host uid offset)").tag(
        config=True)
    submission = Unicode("", help="notebook copied into $HOME").tag(
        config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"
        # a message bigger than this drops the connection instead of
        # filling the grader's memory
        self.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        self._dir = tempfile.mkdtemp(prefix="dmlk-", dir="/tmp")
        self._uid = host_uid(self.slot)
        self.ip = os.path.join(self._dir, "k")
        self.connection_file = os.path.join(self._dir, "connection.json")
        self._write_identity_files()

    @property
    def limits(self) -> Limits:
        return Limits(memory_mb=self.memory_mb, processes=self.processes,
                      file_mb=self.file_mb, disk_mb=self.disk_mb)

    def _write_identity_files(self) -> None:
        """passwd/group for the sandbox (outside the socket dir)."""
        self._etc = tempfile.mkdtemp(prefix="dmle-", dir="/tmp")
        for name, text in (("passwd", PASSWD), ("group", GROUP)):
            Path(self._etc, name).write_text(text)
        os.chmod(self._etc, 0o755)

    def _bound_files(self) -> dict:
        files = {os.path.join(self._etc, "passwd"): "/etc/passwd",
                 os.path.join(self._etc, "group"): "/etc/group",
                 str(HERE / "dml_grading.py"): f"{HELPERS}/dml_grading.py",
                 str(HERE / "stub" / "dml" / "__init__.py"):
                 f"{HELPERS}/dml/__init__.py"}
        if self.submission:
            files[self.submission] = f"{HOME}/submission.ipynb"
        return files

    def write_connection_file(self, **kwargs):
        """Write it, readable (not writable) by the sandbox's uid."""
        super().write_connection_file(**kwargs)
        if self._uid is not None:
            os.chmod(self.connection_file, 0o644)

    def open_socket_dir(self) -> None:
        """Let a starting kernel create its sockets (root mode: the folder
        is root's, writable by all, sticky)."""
        if self._uid is not None:
            os.chmod(self._dir, 0o1777)

    def close_socket_dir(self) -> None:
        """Once the kernel is up, no new files: a kernel cannot fill the
        host's disk through the one host folder bound writable."""
        if self._uid is not None:
            os.chmod(self._dir, 0o755)

    def format_kernel_cmd(self, extra_arguments=None):
        self.open_socket_dir()
        cmd = super().format_kernel_cmd(extra_arguments)
        if cmd and os.path.basename(cmd[0]).startswith("python"):
            cmd[0] = sys.executable
        return command(cmd, self._dir, self._bound_files(), self.limits,
                       self._uid)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        """Launch with the sandbox's stdout and stderr discarded: raw
        writes to fd 1 and 2 must not reach the instructor's terminal."""
        kw["stdout"] = subprocess.DEVNULL
        kw["stderr"] = subprocess.DEVNULL
        kw["stdin"] = subprocess.DEVNULL
        kw.pop("cwd", None)
        await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_interrupt_kernel(self):
        """Interrupt by message: a signal to bwrap would not reach the
        kernel, which runs in its own session inside the sandbox."""
        if not self.has_kernel:
            raise RuntimeError("Cannot interrupt kernel. No kernel is "
                               "running!")
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)

    interrupt_kernel = _async_interrupt_kernel

    def sandbox_pid(self) -> int | None:
        """Host pid of the sandbox's bwrap process (None: not running)."""
        proc = getattr(self.provisioner, "process", None)
        return None if proc is None else proc.pid

    async def _async_cleanup_resources(self, restart: bool = False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._dir, ignore_errors=True)
            shutil.rmtree(self._etc, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources


def cpu_seconds(pid: int | None) -> float:
    """CPU seconds used so far by process ``pid`` and all its descendants
    (live ones, and the reaped ones through their parents' totals)."""
    import psutil
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def check_works() -> None:
    """Start a sandbox that runs ``true``; SandboxError (one line) if it
    cannot (bwrap missing, user namespaces disabled, no mounts allowed)."""
    cmd = command(["true"], tempfile.gettempdir(), {}, Limits(), host_uid())
    try:
        run = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"the sandbox does not start ({exc}); grade "
                           "trusted notebooks only with --no-sandbox.")
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no message"])[-1]
        raise SandboxError(f"the sandbox does not start: bwrap says "
                           f"{last!r}; check that user namespaces are "
                           "enabled, or grade trusted notebooks only with "
                           "--no-sandbox.")
