"""Starting one child process for one submission, inside every protection this machine gives.

The child is the grader's own ``runner.py`` with a scrubbed environment. The protections (see
isolation.py; each is used where it works, and the run summary names those missing):

- bubblewrap: its own pid, network, ipc and uts namespaces and a filesystem holding only the Python
  installation (read-only), a minimal /dev, /proc, a small tmpfs /tmp and the child's folders:
  ``submission/``, ``grader/``, the visible plan and ``hidden/`` read-only, ``out/`` writable;
- seccomp: the runner loads a filter (syscalls.py) before importing the submission: no new process,
  no program, no SysV shared memory or memfd, no socket;
- memory cgroup: one bound on all the memory the child holds (tmpfs and shared memory included);
- output tmpfs: ``out/`` (and, without bubblewrap, the child's home) is a tmpfs of bounded size and
  file count, mounted for this child and gone with it;
- own uid: as root, the runner drops to a uid of its own (random, unused), so the process limit counts
  only this child and nothing it starts can signal another child or touch the grader's files;
- always: resource limits (address space, CPU time, file size, open files, processes) and the wall
  clock, kept here: on timeout the child's process group, and its cgroup, get SIGKILL.

A child runs its visible cases, then writes SEALED to its stdout (see runner.py). ``run`` then copies
what ``out/`` holds (the visible results, and what the code printed so far), and only then links the
hidden cases' plan into the child's ``hidden/`` folder and tells it to go on.
"""

import functools
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from course_lib.grading import isolation
from course_lib.grading.results import BadOutput, read_bounded
from course_lib.grading.tmpfs import mount_tmpfs, unmount

RUNNER = Path(__file__).with_name("runner.py")
SYSCALLS = Path(__file__).with_name("syscalls.py")
SANDBOX_ROOT = Path("/sandbox")
SEALED = b"\ncourse-lib-sealed\n"  # runner.SEALED
STDOUT_BYTES = 2**20  # what is read from a child's stdout while waiting for SEALED; the rest waits


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 60.0
    memory_bytes: int = 2 * 2**30  # address space and memory cgroup: importing torch alone maps about 0.7 GB
    processes: int = 64  # threads count too
    file_bytes: int = 64 * 2**20  # every file the child writes
    open_files: int = 256
    tmp_bytes: int = 64 * 2**20  # the tmpfs /tmp under bubblewrap
    output_bytes: int = 64 * 2**20  # the tmpfs out/ (and home): all the child writes there
    output_files: int = 256  # files and folders in that tmpfs

    @property
    def cpu_seconds(self):
        return int(self.wall_seconds) + 5


@dataclass
class Snapshot:
    """What a child's ``out/`` held at one moment: its journal, its tensors and what it printed."""

    journal: bytes = b""
    tensors: bytes = b""
    printed: str = ""


@dataclass
class ChildRun:
    """How one child ended: ``finished`` (exit 0), ``timeout`` or ``crashed``, with a readable detail;
    ``sealed``: ``out/`` when it ended its visible phase (None if it never did), ``final``: after it died."""

    outcome: str
    detail: str
    sealed: Snapshot
    final: Snapshot


def child_layout(child_dir):
    """A child's ``submission/`` (to fill with the package) and ``grader/`` folders, created empty.

    Every run of a child then gets its own ``run-*`` folder: ``space/`` (its tmpfs, holding ``out/``
    and ``work/``) and ``hidden/``.
    """
    folders = {name: Path(child_dir, name) for name in ("submission", "grader")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return folders


class Sandbox:
    def __init__(self, limits=Limits(), protections=None):
        self.limits = limits
        self.protections = protections or isolation.probe()
        self.live = set()
        self.stopped = False
        self.lock = threading.Lock()

    @property
    def uses_bwrap(self):
        return self.protections.has("bubblewrap")

    def describe(self):
        limits = (f"limits per child: {self.limits.wall_seconds:g} s wall, {self.limits.cpu_seconds} s CPU, "
                  f"{self.limits.memory_bytes // 2**20} MB memory, {self.limits.processes} processes, "
                  f"{self.limits.file_bytes // 2**20} MB per file, "
                  f"{self.limits.output_bytes // 2**20} MB written")
        return f"{self.protections.describe()}\n{limits}"

    def run(self, child_dir, plans, config):
        """Run the runner once on ``config`` (case ids), ``plans`` ({"visible", "hidden"} folders)."""
        child_dir = Path(child_dir)
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=child_dir))
        uid = random.SystemRandom().randrange(10**6, 2**31 - 2) if self.protections.has("own uid") else None
        space = run_dir / "space"
        space.mkdir()
        cgroup = mounted = None
        try:
            if self.protections.has("output tmpfs"):
                mount_tmpfs(space, self.limits.output_bytes, self.limits.output_files)
                mounted = space
            folders = child_layout(child_dir) | {"out": space / "out", "work": space / "work",
                                                  "hidden": run_dir / "hidden"}
            for name in ("out", "work", "hidden"):
                folders[name].mkdir()
            if self.protections.has("memory cgroup"):
                cgroup = self.protections.cgroups.create(self.limits.memory_bytes)
            return self.start_and_watch(folders, plans, config, uid, cgroup)
        finally:
            if cgroup is not None:
                cgroup.remove()
            if mounted is not None:
                unmount(mounted)
            shutil.rmtree(run_dir, ignore_errors=True)

    def start_and_watch(self, folders, plans, config, uid, cgroup):
        inside = self.paths_inside(folders, plans["visible"])
        # The process limit counts every task of the uid: as ourselves, those we already have count too.
        processes = self.limits.processes + (sum(processes_of(os.getuid()).values()) if uid is None else 0)
        limits = asdict(self.limits) | {"cpu_seconds": self.limits.cpu_seconds, "processes": processes}
        config = dict(config, **{name: str(path) for name, path in inside.items()}, limits=limits, uid=uid,
                      seccomp=self.protections.has("seccomp"))
        (folders["grader"] / "config.json").write_text(json.dumps(config))
        for source in (RUNNER, SYSCALLS):
            (folders["grader"] / source.name).write_bytes(source.read_bytes())
        open_to_child(folders, uid)

        command = [sys.executable, "-s", "-B", str(inside["grader"] / "runner.py"),
                   str(inside["grader"] / "config.json")]
        if self.uses_bwrap:
            command = bwrap_arguments(folders, plans["visible"], self.limits) + ["--"] + command
        if cgroup is not None:
            command = cgroup.command(command)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(inside["work"]), "TMPDIR": str(inside["work"]),
               "PYTHONPATH": str(inside["submission"]), "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        deadline = time.monotonic() + self.limits.wall_seconds
        with self.lock:
            if self.stopped:
                raise RuntimeError("grading was interrupted")
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, env=env, cwd=folders["work"],
                                       start_new_session=True)
            self.live.add((process, cgroup))
        sealed = None
        try:
            if wait_for_seal(process.stdout, deadline):
                sealed = snapshot(folders["out"], self.limits)
                for name in ("plan.json", "tensors.bin"):
                    os.link(Path(plans["hidden"], name), folders["hidden"] / name)
                try:
                    process.stdin.write(b"go\n")
                    process.stdin.close()
                except OSError:  # the child is gone, or its code closed its stdin
                    pass
            process.stdout.close()  # what it writes there from now on is not read
            try:
                returncode = process.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                returncode = None
        finally:
            self.kill(process, cgroup, uid)
            with self.lock:
                self.live.discard((process, cgroup))
        outcome, detail = self.outcome(returncode, cgroup)
        return ChildRun(outcome, detail, sealed, snapshot(folders["out"], self.limits))

    def kill(self, process, cgroup, uid):
        kill_group(process.pid)
        if cgroup is not None:
            cgroup.kill_all()
        if uid is not None and not self.uses_bwrap:
            kill_uid(uid)  # without a pid namespace or cgroup, a child may have left its group
            remove_files_of(uid)
        process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def outcome(self, returncode, cgroup):
        if cgroup is not None and cgroup.out_of_memory():
            return "crashed", f"was killed: it used more than {self.limits.memory_bytes // 2**20} MB of memory"
        if returncode is None:
            return "timeout", f"was killed after {self.limits.wall_seconds:g} s (time limit)"
        if returncode == 0:
            return "finished", "finished"
        return "crashed", self.explain_exit(returncode)

    def kill_all(self):
        """Kill every running child and start no more (an interrupted run)."""
        with self.lock:
            self.stopped = True
            for process, cgroup in self.live:
                kill_group(process.pid)
                if cgroup is not None:
                    cgroup.kill_all()

    def paths_inside(self, folders, visible_plan):
        """Where the child sees its folders: under /sandbox with bubblewrap, where they are otherwise."""
        if not self.uses_bwrap:
            return {name: folders[name] for name in ("submission", "grader", "out", "work")} | {
                "plan": Path(visible_plan), "hidden_plan": folders["hidden"]}
        return {"submission": SANDBOX_ROOT / "submission", "grader": SANDBOX_ROOT / "grader",
                "out": SANDBOX_ROOT / "out", "plan": SANDBOX_ROOT / "plan", "hidden_plan": SANDBOX_ROOT / "hidden",
                "work": Path("/tmp")}

    def explain_exit(self, returncode):
        # bubblewrap reports a child killed by signal N as exit status 128 + N.
        number = -returncode if returncode < 0 else returncode - 128 if self.uses_bwrap else 0
        reasons = {
            signal.SIGKILL: "was killed (SIGKILL): out of memory or too many processes?",
            signal.SIGXCPU: f"used more than {self.limits.cpu_seconds} s of CPU time",
            signal.SIGXFSZ: f"wrote more than {self.limits.file_bytes // 2**20} MB to a file",
            signal.SIGSEGV: "crashed with a segmentation fault",
            signal.SIGABRT: "aborted (SIGABRT)",
            signal.SIGSYS: "made a system call the sandbox forbids",
        }
        if number > 0:
            known = reasons.get(number)
            return known or f"was killed by signal {signal.Signals(number).name if number < 65 else number}"
        return f"exited with code {returncode} before finishing (sys.exit / os._exit in your code?)"


def wait_for_seal(stream, deadline):
    """Read the child's stdout until SEALED (True), its end or the deadline (False); never more than
    STDOUT_BYTES, so a child that floods it only makes itself wait."""
    descriptor = stream.fileno()
    seen = b""
    read = 0
    while read < STDOUT_BYTES:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([descriptor], [], [], remaining)[0]:
            return False
        chunk = os.read(descriptor, 65536)
        if not chunk:
            return False
        read += len(chunk)
        seen = (seen + chunk)[-(len(SEALED) + 65536):]
        if SEALED in seen:
            return True
    return False


def snapshot(out, limits):
    """A copy of what the child's ``out/`` holds: bounded reads of regular files only."""
    found = {}
    for name in ("journal.jsonl", "tensors.bin", "printed.txt"):
        try:
            found[name] = read_bounded(out / name, limits.file_bytes) or b""
        except BadOutput:
            found[name] = b""
    return Snapshot(found["journal.jsonl"], found["tensors.bin"], found["printed.txt"].decode("utf-8", "replace"))


def open_to_child(folders, uid):
    """Let a child running as ``uid`` read its submission, grader and hidden folders and write only its
    ``out`` and ``work``. Its folders are traversable but not listable by others (0711), like the folders
    the caller keeps them in: without bubblewrap, a child cannot find another's."""
    if uid is None:
        return
    for name in ("submission", "grader"):
        make_readable(folders[name])
    os.chmod(folders["hidden"], 0o755)
    for folder in (folders["out"].parent, folders["out"].parents[1], folders["out"].parents[2]):
        os.chmod(folder, 0o711)
    for name in ("out", "work"):
        os.chown(folders[name], uid, uid)
        os.chmod(folders[name], 0o700)


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
    """Kill every process of ``uid``: without a pid namespace or cgroup, a child may have left its group."""
    while victims := processes_of(uid):
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def remove_files_of(uid, folders=("/tmp", "/var/tmp", "/dev/shm")):
    """Remove what a child's uid (used by no one else) left in the folders every user may write to."""
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue


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
    # The dynamic linker's cache: how pyseccomp finds libseccomp (ctypes.util.find_library).
    arguments += ["--perms", "0755", "--dir", "/etc", "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
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
        "--ro-bind", str(folders["hidden"]), str(SANDBOX_ROOT / "hidden"),
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
