"""Which of the grader's kernel-enforced protections this machine gives, probed once per run.

Each protection is a name, what it guarantees, and, when it is missing, why. Grading works without any
of them (the child then runs under resource limits and the torch guards only); the run summary names
every one that is missing, and ``course-lib grade --require-isolation`` refuses to grade without all.
"""

import functools
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from course_lib.grading.cgroup import MemoryCgroups
from course_lib.grading.tmpfs import tmpfs_problem

SYSCALLS = Path(__file__).with_name("syscalls.py")

GUARANTEES = {
    "bubblewrap": "a filesystem of its own (only Python and its submission visible, private /tmp) and its own "
                  "pid, network and ipc namespaces",
    "seccomp": "no new process and no program run after the runner starts (threads still work)",
    "memory cgroup": "one memory bound for everything the child holds, shared memory and files in memory included",
    "output tmpfs": "everything the child writes bounded in size and file count",
    "own uid": "a uid of its own per child, so it cannot touch the grader's files or other children",
}


@dataclass
class Isolation:
    """``problems``: {protection: None where it works, else why it is missing}."""

    problems: dict
    cgroups: object = None

    @property
    def missing(self):
        return {name: why for name, why in self.problems.items() if why is not None}

    def has(self, name):
        return self.problems.get(name) is None

    def describe(self):
        present = [name for name in self.problems if self.has(name)]
        text = "kernel-enforced protections: " + (", ".join(present) or "none")
        for name, why in self.missing.items():
            text += f"\nMISSING {name} ({why}): the child does not get {GUARANTEES[name]}"
        return text

    def require(self):
        """Raise ValueError naming every missing protection, if any."""
        if self.missing:
            reasons = "; ".join(f"{name}: {why}" for name, why in self.missing.items())
            raise ValueError(f"--require-isolation: refusing to grade without {', '.join(self.missing)} ({reasons}). "
                             "Run as root on Linux with bubblewrap and pyseccomp installed and a memory cgroup "
                             "the grader may create cgroups in, or grade without --require-isolation.")


def probe(use_bwrap=True, switched_off=()):
    """The Isolation of this machine; ``switched_off``: protections not to use (tests, debugging)."""
    from course_lib.grading.sandbox import bwrap_problem

    cgroups = MemoryCgroups()
    problems = {
        "bubblewrap": bwrap_problem() if use_bwrap else "switched off",
        "seccomp": seccomp_problem(),
        "memory cgroup": cgroups.problem,
        "output tmpfs": tmpfs_problem(),
        "own uid": None if os.geteuid() == 0 else "not running as root",
    }
    for name in switched_off:
        problems[name] = "switched off"
    return Isolation(problems, cgroups if problems["memory cgroup"] is None else None)


@functools.cache
def seccomp_problem():
    """None if a child can load the grader's seccomp filter here (and fork then fails), else why not."""
    with tempfile.TemporaryDirectory() as scratch:
        try:
            result = subprocess.run([sys.executable, "-s", "-B", str(SYSCALLS)], capture_output=True, cwd=scratch,
                                    timeout=60)
        except subprocess.TimeoutExpired:
            return "the seccomp probe did not finish within 60 s"
    if result.returncode == 0:
        return None
    error = result.stderr.decode(errors="replace").strip().splitlines()
    reason = error[-1] if error else f"exit code {result.returncode}"
    if "No module named 'pyseccomp'" in reason:
        reason = "pyseccomp is not installed (pip install pyseccomp; it needs libseccomp, Debian: libseccomp2)"
    return reason[:200]
