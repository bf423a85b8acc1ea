"""A memory cgroup per grading child: a bound on all the memory it uses, shared memory and files in
memory (tmpfs, memfd) included, enforced by the kernel (which kills the child past it).

Cgroup v1 (a ``memory`` hierarchy) and v2 (the unified one, with the memory controller delegated to
the grader's cgroup) are both used where the grader may create cgroups below its own; elsewhere
``MemoryCgroups().problem`` says why not, and the child runs without one. A child is put into its
cgroup before anything of it runs: its command starts with a shell line that writes the shell's pid
into the cgroup, then execs the rest.
"""

import os
import secrets
import signal
import time
from pathlib import Path

ATTACH = 'echo $$ > "$0" && exec "$@"'
CGROUP_PREFIX = "course-lib-grade-"  # then the grading process's pid


class MemoryCgroups:
    """Where this process may create children's memory cgroups (``parent``), or why not (``problem``)."""

    def __init__(self):
        self.version, self.parent, self.problem = locate_own_memory_cgroup()
        if self.problem is None:
            self.problem = self.probe()

    def create(self, limit_bytes):
        """A new cgroup holding at most ``limit_bytes`` of memory (swap included)."""
        path = self.parent / f"{CGROUP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        path.mkdir()
        group = MemoryCgroup(path, self.version)
        try:
            group.limit(limit_bytes)
        except OSError:
            group.remove()
            raise
        return group

    def probe(self):
        """None if a cgroup can be made, limited, joined and removed here, else why not."""
        try:
            group = self.create(64 * 2**20)
        except OSError as error:
            return f"cannot create a memory cgroup in {self.parent} ({error.strerror or error})"
        try:
            pid = os.spawnv(os.P_WAIT, "/bin/sh", ["sh", "-c", ATTACH, str(group.procs), "/bin/true"])
            if pid != 0:
                return f"cannot move a process into a memory cgroup in {self.parent}"
        finally:
            group.remove()
        return None


class MemoryCgroup:
    def __init__(self, path, version):
        self.path = Path(path)
        self.version = version
        self.procs = self.path / "cgroup.procs"

    def limit(self, limit_bytes):
        if self.version == 1:
            (self.path / "memory.limit_in_bytes").write_text(str(limit_bytes))
            swap = self.path / "memory.memsw.limit_in_bytes"  # only where swap accounting is on
            if swap.exists():
                swap.write_text(str(limit_bytes))
        else:
            (self.path / "memory.max").write_text(str(limit_bytes))
            swap = self.path / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")

    def command(self, command):
        """``command`` started inside this cgroup."""
        return ["/bin/sh", "-c", ATTACH, str(self.procs), *command]

    def out_of_memory(self):
        """Whether the kernel had to kill a process of this cgroup for memory."""
        events = self.path / ("memory.oom_control" if self.version == 1 else "memory.events")
        try:
            counts = dict(line.split() for line in events.read_text().splitlines() if len(line.split()) == 2)
            if "oom_kill" in counts:
                return int(counts["oom_kill"]) > 0
            return int((self.path / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

    def kill_all(self):
        """SIGKILL every process in the cgroup until none is left (a few seconds at most)."""
        for _ in range(200):
            try:
                pids = [int(pid) for pid in self.procs.read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def remove(self):
        self.kill_all()
        for _ in range(100):  # the kernel refuses while a killed process is still exiting
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


def locate_own_memory_cgroup():
    """(version, the folder of this process's memory cgroup, None) or (None, None, why not)."""
    try:
        memberships = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError as error:
        return None, None, f"cannot read this process's cgroups ({error.strerror})"
    if os.geteuid() != 0:
        return None, None, "not running as root"
    for line in memberships:
        number, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            found = mounted_at(mounts, "cgroup", path, lambda options: "memory" in options.split(","))
            return (1, found, None) if found else (None, None, "the memory cgroup hierarchy is not mounted")
    for line in memberships:
        number, controllers, path = line.split(":", 2)
        if number == "0" and controllers == "":
            found = mounted_at(mounts, "cgroup2", path, lambda options: True)
            if found is None:
                return None, None, "the cgroup v2 hierarchy is not mounted"
            if "memory" not in (found / "cgroup.controllers").read_text().split():
                return None, None, f"the memory controller is not delegated to {found}"
            return 2, found, None
    return None, None, "this system has no memory cgroup"


def mounted_at(mounts, filesystem, path, options_fit):
    """The folder where cgroup ``path`` appears in a mounted hierarchy of type ``filesystem``, or None."""
    for line in mounts:
        fields = line.split()
        separator = fields.index("-")
        fstype, options = fields[separator + 1], fields[separator + 3]
        if fstype == filesystem and options_fit(options):
            root, mount_point = fields[3], fields[4]
            relative = os.path.relpath(path, root) if path.startswith(root) else None
            if relative is not None and not relative.startswith(".."):
                return Path(mount_point, relative).resolve()
    return None
