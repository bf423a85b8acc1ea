"""Reading what a child wrote, as untrusted data: bounded reads, no links or pipes, no pickles.

Statuses are JSON lines of the journal; outputs are ``.npy`` bytes in tensors.bin, each checked to be
an array of real numbers of the size its header announces before numpy reads it (dtype, shape and
finite values are checked next, by cases.py, before the comparison).
"""

import io
import json
import math
import os
import stat
from dataclasses import dataclass

import numpy as np
import torch

TEXT_CHARS = 2000
STATUSES = {"running", "ok", "not_done", "forbidden", "rejected", "error"}


class BadOutput(Exception):
    """An output the grader refuses to compare; the message says what was expected."""


@dataclass
class CaseResult:
    """One case's verdict: ``pass``, ``wrong``, ``not done yet``, ``not allowed``, ``error``,
    ``invalid output``, ``timeout``, ``crashed`` or ``not run``; ``note`` goes to the gradebook too."""

    label: str
    verdict: str
    message: str = ""
    where: str = ""
    hint: str = ""
    note: str = ""

    @property
    def passed(self):
        return self.verdict == "pass"


def read_bounded(path, limit):
    """The bytes of a regular file (never a link, pipe or device), or None when it is not there."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise BadOutput(f"{path.name} cannot be read ({error.strerror})")
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise BadOutput(f"{path.name} is not a regular file")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise BadOutput(f"{path.name} is larger than {limit} bytes")
    return data


def read_tensors(path, limit):
    """A child's tensors.bin, or no bytes when it is missing, too large or not a regular file."""
    try:
        return read_bounded(path, limit) or b""
    except BadOutput:
        return b""


def read_journal(path, limit):
    """{case id or "import": its last status} from a child's journal; malformed lines are skipped."""
    try:
        data = read_bounded(path, limit) or b""
    except BadOutput:
        return {}
    statuses = {}
    for line in data.splitlines():
        try:
            status = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(status, dict) and status.get("status") in STATUSES and isinstance(status.get("id"), (int, str)):
            statuses[status["id"]] = {key: value if key == "outputs" else text(value)
                                      for key, value in status.items() if key != "id"}
    return statuses


def text(value):
    return str(value)[:TEXT_CHARS] if value is not None else ""


def describe_error(status):
    """'TypeError: message' from an error status, or the message of any other status."""
    kind = status.get("type")
    return f"{kind}: {status.get('message', '')}" if kind else status.get("message", "")


def load_output(blob, location, name):
    """The tensor saved at ``location`` ([start, size]) in ``blob``, once it is known to be one plain
    array of real numbers (dtype, shape and values are judged by the caller)."""
    if not (isinstance(location, list) and len(location) == 2 and all(type(n) is int and n >= 0 for n in location)):
        raise BadOutput(f"{name}: the record does not say where it is")
    start, size = location
    data = blob[start:start + size]
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}[version]
        shape, _, dtype = read_header(stream)
        # numpy allocates what the header announces before reading: check it against the bytes first.
        if dtype.kind not in "biuf" or dtype.byteorder == ">" or \
                math.prod(shape) * dtype.itemsize != len(data) - stream.tell():
            raise ValueError("not an array of real numbers of the size it announces")
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, KeyError, OSError, EOFError) as error:
        raise BadOutput(f"{name} is not a readable array ({error})")
    return torch.from_numpy(array)
