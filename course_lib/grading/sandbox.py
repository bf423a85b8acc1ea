"""Starting one child process for one submission: bubblewrap where it works, resource limits always.

The child is the grader's own ``runner.py`` with a scrubbed environment, a fresh working directory
and, where bubblewrap runs (probed once), its own pid/network/ipc/uts namespaces and a filesystem
holding only the Python installation (read-only), a minimal /dev, /proc, a small tmpfs /tmp and the
child's folder: ``submission/`` and ``grader/`` read-only, ``out/`` writable. When the grader runs as
root the runner drops to a uid of its own (random, unused), so the process limit counts only this
child and nothing it starts can signal another child. The wall clock is the parent's: on timeout
the child's whole process group (and with it the sandbox) gets SIGKILL.
"""

import functools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

RUNNER = Path(__file__).with_name("runner.py")
SANDBOX_ROOT = Path("/sandbox")
EXCERPT_BYTES = 4000


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 60.0
    memory_bytes: int = 2 * 2**30  # address space: importing torch alone maps about 0.7 GB
    processes: int = 64  # threads count too
    file_bytes: int = 64 * 2**20  # every file the child writes, its outputs and what it prints included
    open_files: int = 256
    tmp_bytes: int = 64 * 2**20  # the tmpfs /tmp under bubblewrap

    @property
    def cpu_seconds(self):
        return int(self.wall_seconds) + 5


@dataclass
class ChildRun:
    """How one child ended: ``finished`` (exit 0), ``timeout`` or ``crashed``, with a readable detail;
    ``out`` is the folder it wrote its results to."""

    outcome: str
    detail: str
    stdout: str
    stderr: str
    out: Path


def child_layout(child_dir):
    """A child's ``submission/`` (to fill with the package) and ``grader/`` folders, created empty.

    Every run of a child then gets its own fresh ``out/`` and ``work/`` in ``child_dir/run-*``.
    """
    folders = {name: Path(child_dir, name) for name in ("submission", "grader")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return folders


class Sandbox:
    def __init__(self, limits=Limits(), use_bwrap=True):
        self.limits = limits
        self.bwrap_problem = bwrap_problem() if use_bwrap else "switched off"
        self.live = set()
        self.stopped = False
        self.lock = threading.Lock()

    @property
    def uses_bwrap(self):
        return self.bwrap_problem is None

    def describe(self):
        limits = (f"limits per child: {self.limits.wall_seconds:g} s wall, {self.limits.cpu_seconds} s CPU, "
                  f"{self.limits.memory_bytes // 2**20} MB memory, {self.limits.processes} processes, "
                  f"{self.limits.file_bytes // 2**20} MB per file")
        root = os.geteuid() == 0
        own_uid = ", own uid per child" if root else ""
        if self.uses_bwrap:
            return (f"bubblewrap sandbox (pid/net/ipc/uts namespaces, read-only Python, private /tmp"
                    f"{own_uid}); {limits}")
        reach = ("can read any world-readable file" if root else
                 "runs as your own user: it could read or change any of your files")
        return f"resource limits only{own_uid}, NO bubblewrap ({self.bwrap_problem}): the child {reach}; {limits}"

    def run(self, child_dir, plan_dir, config):
        """Run the runner once on ``config`` (plus paths, limits and uid); returns a ChildRun."""
        child_dir = Path(child_dir)
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=child_dir))
        folders = child_layout(child_dir) | {name: run_dir / name for name in ("out", "work")}
        for name in ("out", "work"):
            folders[name].mkdir()
        uid = random.SystemRandom().randrange(10**6, 2**31 - 2) if os.geteuid() == 0 else None
        inside = self.paths_inside(folders, plan_dir)
        # The process limit counts every task of the uid: as ourselves, those we already have count too.
        processes = self.limits.processes + (sum(processes_of(os.getuid()).values()) if uid is None else 0)
        limits = asdict(self.limits) | {"cpu_seconds": self.limits.cpu_seconds, "processes": processes}
        config = dict(config, **{name: str(path) for name, path in inside.items()}, limits=limits, uid=uid)
        (folders["grader"] / "config.json").write_text(json.dumps(config))
        (folders["grader"] / "runner.py").write_bytes(RUNNER.read_bytes())
        open_to_child(folders, uid)

        command = [sys.executable, "-s", "-B", str(inside["grader"] / "runner.py"),
                   str(inside["grader"] / "config.json")]
        if self.uses_bwrap:
            command = bwrap_arguments(folders, plan_dir, self.limits) + ["--"] + command
        env = {"PATH": "/usr/bin:/bin", "HOME": str(inside["work"]), "TMPDIR": str(inside["work"]),
               "PYTHONPATH": str(inside["submission"]), "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        stdout_path, stderr_path = run_dir / "stdout.txt", run_dir / "stderr.txt"
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            with self.lock:
                if self.stopped:
                    raise RuntimeError("grading was interrupted")
                process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                           env=env, cwd=folders["work"], start_new_session=True)
                self.live.add(process)
            try:
                returncode = process.wait(timeout=self.limits.wall_seconds)
            except subprocess.TimeoutExpired:
                returncode = None
            finally:
                kill_group(process.pid)
                process.wait()
                with self.lock:
                    self.live.discard(process)
                if uid is not None and not self.uses_bwrap:
                    kill_uid(uid)
        if returncode is None:
            outcome, detail = "timeout", f"was killed after {self.limits.wall_seconds:g} s (time limit)"
        elif returncode == 0:
            outcome, detail = "finished", "finished"
        else:
            outcome, detail = "crashed", self.explain_exit(returncode)
        return ChildRun(outcome, detail, excerpt(stdout_path), excerpt(stderr_path), folders["out"])

    def kill_all(self):
        """Kill every running child and start no more (an interrupted run)."""
        with self.lock:
            self.stopped = True
            for process in self.live:
                kill_group(process.pid)

    def paths_inside(self, folders, plan_dir):
        """Where the child sees its folders: under /sandbox with bubblewrap, where they are otherwise."""
        if not self.uses_bwrap:
            return dict(folders, plan=Path(plan_dir))
        return {"submission": SANDBOX_ROOT / "submission", "grader": SANDBOX_ROOT / "grader",
                "out": SANDBOX_ROOT / "out", "plan": SANDBOX_ROOT / "plan", "work": Path("/tmp")}

    def explain_exit(self, returncode):
        # bubblewrap reports a child killed by signal N as exit status 128 + N.
        number = -returncode if returncode < 0 else returncode - 128 if self.uses_bwrap else 0
        reasons = {
            signal.SIGKILL: "was killed (SIGKILL): out of memory or too many processes?",
            signal.SIGXCPU: f"used more than {self.limits.cpu_seconds} s of CPU time",
            signal.SIGXFSZ: f"wrote more than {self.limits.file_bytes // 2**20} MB to a file or its output",
            signal.SIGSEGV: "crashed with a segmentation fault",
            signal.SIGABRT: "aborted (SIGABRT)",
        }
        if number > 0:
            known = reasons.get(number)
            return known or f"was killed by signal {signal.Signals(number).name if number < 65 else number}"
        return f"exited with code {returncode} before finishing (sys.exit / os._exit in your code?)"


def open_to_child(folders, uid):
    """Let a child running as ``uid`` read its submission and grader folders and write only ``out``.

    The child's folder and its run folder are traversable but not listable by others (0711), like
    the folders the caller keeps them in: with resource limits alone, a child cannot find another's.
    """
    if uid is None:
        return
    for name in ("submission", "grader"):
        make_readable(folders[name])
    for folder in (folders["out"].parents[1], folders["out"].parent):
        os.chmod(folder, 0o711)
    os.chown(folders["out"], uid, uid)
    os.chmod(folders["out"], 0o700)
    os.chmod(folders["work"], 0o777)


def make_readable(root):
    """Folders 0755 and files 0644 under ``root``, so a child running under another uid can read them."""
    for directory, subfolders, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(Path(directory, name), 0o644)


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_uid(uid):
    """Kill every process of ``uid``: without a pid namespace, a child may have left its group."""
    while victims := processes_of(uid):
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def processes_of(uid):
    """{pid: thread count} of every process whose real uid is ``uid``."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = dict(line.split(":", 1) for line in Path("/proc", pid, "status").read_text().splitlines())
            if int(fields["Uid"].split()[0]) == uid:
                found[int(pid)] = int(fields["Threads"])
        except (OSError, ValueError, KeyError):
            continue  # the process ended meanwhile
    return found


def excerpt(path):
    """The start of a file the child wrote, never more than EXCERPT_BYTES of it."""
    with open(path, "rb") as file:
        data = file.read(EXCERPT_BYTES + 1)
    text = data[:EXCERPT_BYTES].decode("utf-8", "replace")
    return text + "\n[... cut]" if len(data) > EXCERPT_BYTES else text


# --- bubblewrap ------------------------------------------------------------------------------------


def python_roots():
    """Folders the child needs read-only: the Python installation and where torch and numpy live."""
    import numpy
    import torch

    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable)),
                  str(Path(torch.__file__).resolve().parents[1]), str(Path(numpy.__file__).resolve().parents[1])}
    roots = sorted({os.path.realpath(path) for path in candidates})
    # Keep only outermost folders; /usr is mounted anyway.
    return [root for root in roots
            if not any(root != other and root.startswith(other.rstrip("/") + "/") for other in roots + ["/usr"])
            and root != "/usr"]


def system_mounts():
    """/usr and the top-level links or folders into it (/bin, /lib, ...) as this system has them."""
    arguments = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/", name)
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            arguments += ["--ro-bind", str(path), str(path)]
    return arguments


def bwrap_base(limits):
    """Namespaces, system folders, Python, /dev, /proc and /tmp: everything but the child's folders."""
    arguments = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                 "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() == 0:
        # bubblewrap keeps every capability for root; the runner needs these two to drop its uid.
        arguments += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    arguments += system_mounts()
    roots = python_roots()
    arguments += make_parents(roots)
    for root in roots:
        arguments += ["--ro-bind", root, root]
    for secret in instructor_folders(roots + ["/usr"]):
        arguments += ["--tmpfs", str(secret)]
    arguments += ["--dev", "/dev", "--proc", "/proc",
                  "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    return arguments


def instructor_folders(mounted):
    """The instructor's package, and the repository around it (notebooks have solutions too), where they
    lie inside a mounted folder (installed into site-packages, a checkout under /usr): to cover up."""
    import course_lib

    package = Path(course_lib.__file__).resolve().parent
    repository = package.parent if (package.parent / "pyproject.toml").exists() else package
    mounted = [Path(root) for root in mounted]
    return [secret for secret in dict.fromkeys((repository, package))
            if any(root in secret.parents for root in mounted)
            and not any(secret == root or secret in root.parents for root in mounted)]


def make_parents(paths):
    """bubblewrap creates missing parent folders as 0700; create them 0755 so a dropped uid can pass."""
    parents = sorted({str(parent) for path in paths for parent in Path(path).parents
                      if str(parent) != "/" and not str(parent).startswith("/usr")})
    arguments = []
    for parent in parents:
        arguments += ["--perms", "0755", "--dir", parent]
    return arguments


def bwrap_arguments(folders, plan_dir, limits):
    return bwrap_base(limits) + [
        "--perms", "0755", "--dir", str(SANDBOX_ROOT),
        "--ro-bind", str(folders["submission"]), str(SANDBOX_ROOT / "submission"),
        "--ro-bind", str(folders["grader"]), str(SANDBOX_ROOT / "grader"),
        "--ro-bind", str(plan_dir), str(SANDBOX_ROOT / "plan"),
        "--bind", str(folders["out"]), str(SANDBOX_ROOT / "out"),
        "--chdir", "/tmp",
    ]


@functools.cache
def bwrap_problem():
    """None if bubblewrap can run Python here with every option the grader uses, else why not."""
    with tempfile.TemporaryDirectory() as scratch:
        command = bwrap_base(Limits()) + ["--chdir", "/tmp", "--", sys.executable, "-s", "-c", "pass"]
        try:
            result = subprocess.run(command, cwd=scratch, capture_output=True, timeout=60)
        except FileNotFoundError:
            return "bwrap is not installed (Debian: apt-get install bubblewrap)"
        except subprocess.TimeoutExpired:
            return "bwrap did not start within 60 s"
    if result.returncode != 0:
        return f"bwrap fails here: {result.stderr.decode(errors='replace').strip()[:200]}"
    return None
