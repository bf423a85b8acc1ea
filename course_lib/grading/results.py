"""Reading what a child wrote, as untrusted data: bounded reads, no links or pipes, no pickles.

Statuses are JSON lines of the journal; outputs are ``.npy`` bytes in tensors.bin, each read only once
its header shows an allowed dtype and the expected shape, with all its bytes there (finite values are
checked next, by cases.py, before the comparison).
"""

import io
import json
import math
import os
import stat
from dataclasses import dataclass

import numpy as np
import torch

from course_lib.grading.names import clean

TEXT_CHARS = 2000
STATUSES = {"running", "ok", "not_done", "forbidden", "rejected", "error"}


class BadOutput(Exception):
    """An output the grader refuses to compare; the message says what was expected."""


@dataclass
class CaseResult:
    """One case's verdict: ``pass``, ``wrong``, ``not done yet``, ``not allowed``, ``error``,
    ``invalid output``, ``timeout``, ``crashed`` or ``not run``; ``note`` goes to the gradebook too;
    ``hint_ids``: the catalogue ids of the mistakes the checker named (course_lib.check.hints)."""

    label: str
    verdict: str
    message: str = ""
    where: str = ""
    hint: str = ""
    note: str = ""
    hint_ids: tuple = ()
    hidden: bool = False

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


def parse_journal(data):
    """{case id or "import": its last status} from a child's journal (bytes); malformed lines are skipped."""
    statuses = {}
    for line in data.splitlines():
        try:
            status = json.loads(line)
            if isinstance(status, dict) and status.get("status") in STATUSES and type(status.get("id")) in (int, str):
                statuses[status["id"]] = {key: value if key == "outputs" else text(value)
                                          for key, value in status.items() if key != "id"}
        except (ValueError, TypeError, RecursionError):
            continue
    return statuses


def text(value):
    return str(value)[:TEXT_CHARS] if value is not None else ""


def describe_error(status):
    """'TypeError: message' from an error status, or the message of any other status."""
    kind = status.get("type")
    return f"{kind}: {status.get('message', '')}" if kind else status.get("message", "")


ALLOWED_DTYPES = tuple(np.dtype(name) for name in
                       ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"))


class WrongShape(BadOutput):
    """An output whose header announces another shape than the expected one (it is not loaded)."""

    def __init__(self, name, shape):
        super().__init__(f"{name} has shape {shape}")
        self.shape = shape


def load_output(blob, location, name, expected_shape):
    """The tensor saved at ``location`` ([start, size]) in ``blob``, read only once its .npy header shows
    an array of an allowed dtype and of ``expected_shape``, whose bytes are all there: so what a child
    returns costs this process at most the size of the expected output. Raises WrongShape or BadOutput."""
    if not (isinstance(location, list) and len(location) == 2 and all(type(n) is int and n >= 0 for n in location)):
        raise BadOutput(f"{name}: the record does not say where it is")
    start, size = location
    data = blob[start:start + size]
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}[version]
        shape, fortran_order, dtype = read_header(stream, max_header_size=1024)
    except Exception as error:  # numpy parses the (at most 1 kB) header with Python's own parser: anything goes
        raise BadOutput(f"{name} is not a readable array ({clean(error, 200)})")
    if dtype.newbyteorder("=") not in ALLOWED_DTYPES or dtype.byteorder == ">":
        raise BadOutput(f"{name} has dtype {clean(dtype, 40)}: return a float64 tensor")
    if tuple(shape) != tuple(expected_shape):
        raise WrongShape(name, tuple(shape))
    if math.prod(shape) * dtype.itemsize != len(data) - stream.tell():
        raise BadOutput(f"{name} is not an array of the size it announces")
    array = np.frombuffer(data, dtype=dtype, offset=stream.tell()).reshape(shape, order="F" if fortran_order else "C")
    return torch.from_numpy(array.copy())
