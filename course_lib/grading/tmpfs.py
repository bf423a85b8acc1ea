"""Size-limited tmpfs folders: where a grading child writes, so that all it writes is bounded.

Mounting needs root (CAP_SYS_ADMIN); ``tmpfs_problem()`` says why it cannot be done here, if so.
"""

import ctypes
import functools
import os
import tempfile

MS_NOSUID, MS_NODEV = 0x2, 0x4
MNT_DETACH = 0x2


@functools.cache
def libc():
    return ctypes.CDLL(None, use_errno=True)


def mount_tmpfs(path, size_bytes, inodes):
    """Mount a tmpfs of at most ``size_bytes`` and ``inodes`` files and folders on the folder ``path``."""
    options = f"size={size_bytes},nr_inodes={inodes},mode=0711".encode()
    if libc().mount(b"tmpfs", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"cannot mount a tmpfs on {path}: {os.strerror(code)}")


def unmount(path):
    """Unmount ``path`` (detached: it goes as soon as nothing uses it); no error if nothing is mounted."""
    libc().umount2(os.fsencode(path), MNT_DETACH)


@functools.cache
def tmpfs_problem():
    """None if size-limited tmpfs folders can be mounted here, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    with tempfile.TemporaryDirectory() as folder:
        try:
            mount_tmpfs(folder, 2**20, 16)
        except OSError as error:
            return error.strerror
        unmount(folder)
    return None
