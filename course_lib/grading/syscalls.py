"""The seccomp filter a grading child loads on itself before it imports the student's code.

Standalone (it imports only the standard library and ``pyseccomp``, libseccomp's binding): the grader
copies it into the child's read-only ``grader/`` folder beside ``runner.py``, which builds the filter
while it is still root and loads it once it has dropped its uid. Once loaded, a filter cannot be
removed or loosened by anything that runs later in the process, threads included.

What it refuses, with EPERM: new processes (fork, vfork, clone without CLONE_THREAD), running programs
(execve, execveat), memory outside any file the sandbox bounds (SysV shared memory, memfd), sockets,
tracing or reading other processes, and namespace, mount or keyring calls. Threads still work: clone
with CLONE_THREAD is allowed, and clone3 answers ENOSYS so that the C library falls back to clone,
whose flags a filter can inspect (clone3 passes them in memory, out of a filter's reach).
"""

import errno

CLONE_THREAD = 0x00010000
REFUSED = (
    "fork", "vfork", "execve", "execveat",
    "shmget", "shmat", "memfd_create", "memfd_secret",
    "socket", "socketpair",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "move_mount", "fsopen",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
    "personality", "kexec_load", "init_module", "finit_module",
)


def build_filter():
    """The filter, not loaded yet: every system call allowed but those above."""
    import pyseccomp as seccomp

    refuse = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in REFUSED:
        try:
            rules.add_rule(refuse, name)
        except (RuntimeError, ValueError, OSError):
            continue  # not a system call on this architecture (aarch64 has no fork)
    # A clone that makes a thread shares the process: allowed. Any other clone makes a process.
    rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    try:
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    except (RuntimeError, ValueError, OSError):
        pass
    # Every thread the process already has gets the filter too (torch may have started some).
    rules.set_attr(seccomp.Attr.CTL_TSYNC, 1)
    return rules


if __name__ == "__main__":
    # The grader's probe: with the filter loaded, a fork must fail with EPERM.
    import os
    import threading

    build_filter().load()
    worker = threading.Thread(target=lambda: None)
    worker.start()
    worker.join()
    try:
        pid = os.fork()
    except PermissionError:
        raise SystemExit(0)
    if pid == 0:
        os._exit(0)
    raise SystemExit("fork still works with the filter loaded")
