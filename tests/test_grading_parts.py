"""The grader's parts on their own: the integrity review, names and the gradebook, reading outputs, the kernel's
protections (seccomp filter, memory cgroup, tmpfs)."""

import csv
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from grading_corpus import ROOT

from course_lib import exercises as registry
from course_lib.grading.cgroup import MemoryCgroups
from course_lib.grading.gradebook import Gradebook, RunSettings, seed_for
from course_lib.grading.isolation import SYSCALLS, probe
from course_lib.grading.names import clean, csv_cell, feedback_name, from_csv_cell, student_id
from course_lib.grading.results import BadOutput, WrongShape, load_output
from course_lib.grading.review import review, review_source
from course_lib.grading.submissions import InvalidSubmission
from course_lib.grading.tmpfs import mount_tmpfs, unmount
from course_lib.release import release

ISOLATION = probe()
needs = {name: pytest.mark.skipif(not ISOLATION.has(name), reason=f"no {name}: {ISOLATION.missing.get(name)}")
         for name in ISOLATION.problems}


# --- the integrity review -------------------------------------------------------------------------------

FLAGGED = [
    ("import torch.nn.functional as F\nF.conv2d(x, w)", "torch.nn.functional.conv2d"),
    ("from torch import autograd as ag\nag.grad(y, x)", "torch.autograd.grad"),
    ("from torch.nn import functional\nfunctional.unfold(x, 3)", "torch.nn.functional.unfold"),
    ("import torch\nt = torch\nu = t.ops\nu.aten.convolution(x)", "torch.ops"),
    ("import torch\ngetattr(torch, 'ops').aten.convolution(x)", "torch.ops.aten.convolution"),
    ("import torch\ngetattr(torch, 'o' + 'ps')", "getattr(..., <computed name>)"),
    ("import torch\ntorch._C._nn.im2col(x)", "torch._C._nn.im2col"),
    ("import torch\nwith torch.enable_grad():\n    pass", "torch.enable_grad"),
    ("import torch\ntorch.autograd.Variable._execution_engine.run_backward", "torch.autograd.Variable"),
    ("import torch.func\ntorch.func.vjp(f, x)", "torch.func.vjp"),
    ("import torch\ntorch.__dict__['ops']", "torch.__dict__[...]"),
    ("import torch\nvars(torch)['ops']", "vars()"),
    ("exec('1')", "exec"), ("eval('1')", "eval"), ("compile('1', 'f', 'exec')", "compile"),
    ("__import__('os')", "__import__"), ("import importlib\nimportlib.import_module('os')", "importlib"),
    ("import ctypes", "ctypes"), ("import subprocess\nsubprocess.run(['ls'])", "subprocess"),
    ("import os\nos.execv('/bin/sh', [])", "os.execv"), ("import os\nos.fork()", "os.fork"),
    ("import os\nos.system('ls')", "os.system"), ("from os import spawnv", "os.spawnv"),
    ("import sys\nsys.modules['torch']", "sys.modules"), ("import __main__", "__main__"),
    ("import gc\ngc.get_objects()", "gc"), ("import sys\nsys._getframe(1).f_back", "sys._getframe"),
    ("def f():\n    return f.__globals__", ".__globals__"), ("import pickle", "pickle"),
    ("from torch import *", "from torch import *"), ("import sys\nsys.path.insert(0, '/')", "sys.path"),
]
NOT_FLAGGED = [
    "import torch\ntorch.zeros(3).clamp(min=0) @ torch.ones(3)",
    "import torch\nimport math\nx = torch.nn_free = 1",
    "grad_input = self.module.backward(grad_output)",
    "import torch.nn.functional as F\nF.pad(x, (1, 1))",
    "import os\nos.path.join('a', 'b')",
    "getattr(self, 'weight')",
    "vars(self).items()",
    "import torch\nx.unfold(2, 3, 1)",
    "from .module import Module, check_input",
]


@pytest.mark.parametrize("source, construct", FLAGGED, ids=[case[1] for case in FLAGGED])
def test_the_review_flags_forbidden_names_and_escapes(source, construct):
    findings = review_source(source.encode(), "course_lib/nn/conv.py")
    assert any(construct in finding.construct for finding in findings), findings
    assert all(finding.file == "course_lib/nn/conv.py" and finding.line >= 1 for finding in findings)


@pytest.mark.parametrize("source", NOT_FLAGGED)
def test_the_review_leaves_ordinary_code_alone(source):
    assert review_source(source.encode(), "course_lib/nn/conv.py") == []


@pytest.fixture(scope="module")
def student_edition(tmp_path_factory):
    return release(tmp_path_factory.mktemp("student") / "edition")


def test_no_exercise_file_of_either_edition_is_ever_flagged(student_edition):
    files = {exercise.file for exercise in registry.EXERCISES} | {"course_lib/nn/module.py"}
    for file in sorted(files):
        for root in (ROOT, student_edition):
            assert review_source((root / file).read_bytes(), file) == [], (root, file)


def test_files_equal_to_the_graders_are_trusted_and_changed_ones_reviewed(tmp_path):
    package = tmp_path / "entry" / "course_lib"
    package.mkdir(parents=True)
    (package / "cli.py").write_bytes((ROOT / "course_lib" / "cli.py").read_bytes())  # uses importlib: ours
    (package / "helpers.py").write_text("import importlib\n")
    assert [str(finding) for finding in review(tmp_path / "entry", ROOT / "course_lib")] == [
        "course_lib/helpers.py:1: importlib (importlib (imports by computed name): not allowed in a submission)"]


@pytest.mark.parametrize("name", ["compiled.pyc", "native.cpython-311-x86_64-linux-gnu.so", "lib.pyd"])
def test_bytecode_and_native_code_are_refused(tmp_path, name):
    package = tmp_path / "entry" / "course_lib" / "nn"
    package.mkdir(parents=True)
    (package / name).write_bytes(b"\x00" * 16)
    with pytest.raises(InvalidSubmission, match="compiled or native code"):
        review(tmp_path / "entry", ROOT / "course_lib")


# --- names and the gradebook ----------------------------------------------------------------------------

HOSTILE_IDS = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "'quoted", 'say "hi", then', "tab\there",
               "cr\rlf\n", "lone\udcffsurrogate", "bidi\u202eevil", "x" * 300, "\u2028line separator"]


@pytest.mark.parametrize("text", HOSTILE_IDS)
def test_clean_text_has_no_control_characters_and_a_cell_no_formula(text):
    cleaned = clean(text)
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", cleaned)
    cleaned.encode("utf-8")  # no lone surrogate left
    cell = csv_cell(text)
    assert not cell.startswith(("=", "+", "-", "@")) and from_csv_cell(cell) == cleaned


def test_student_ids_from_any_bytes_stay_distinct():
    names = [os.fsdecode(raw) for raw in (b"caf\xc3\xa9", b"caf\xe9", b"caf\\xe9", b"a\nb", b"a\\x0ab")]
    assert len({student_id(name) for name in names}) == len(names)


def test_feedback_names_are_short_unique_and_plain():
    names = {feedback_name(student) for student in HOSTILE_IDS + ["alice", "alice.", "x" * 301]}
    assert len(names) == len(HOSTILE_IDS) + 3
    assert feedback_name("alice") == "alice"
    assert all(re.fullmatch(r"[A-Za-z0-9._@+-]+", name) and len(name.encode()) <= 100 for name in names)


SETTINGS = RunSettings(5, (("relu.forward", 1), ("conv2d.backward", 2)), "0.1.0+test")


def rows_of(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def test_hostile_ids_read_back_exactly_one_row_each(tmp_path):
    path = tmp_path / "gradebook.csv"
    book = Gradebook(path, SETTINGS, HOSTILE_IDS)
    for student in HOSTILE_IDS:
        book.add([clean(student), "1", "2", "3", "3", "ok", f"note of {student}"])
    text = path.read_text(encoding="utf-8")
    lines = re.split(r"\r\n|\r|\n", text.rstrip("\r\n"))
    assert len(lines) == len(HOSTILE_IDS) + 1
    assert all(len(next(csv.reader([line]))) == 7 for line in lines)
    again = Gradebook(path, SETTINGS, [clean(student) for student in HOSTILE_IDS])
    assert sorted(again.rows) == sorted(clean(student) for student in HOSTILE_IDS) and again.dropped == 0
    assert path.read_text(encoding="utf-8") == text  # resuming rewrites the same file


def test_resume_drops_rows_it_did_not_write_and_keeps_the_others(tmp_path):
    path = tmp_path / "gradebook.csv"
    book = Gradebook(path, SETTINGS, ["alice", "bob"])
    book.add(["alice", "1", "2", "3", "3", "ok", ""])
    book.add(["bob", "0", "2", "2", "3", "ok", ""])
    alice_line = rows_of(path)[1]
    with open(path, "a", encoding="utf-8", newline="") as file:
        file.write('"mallory","1","2","3","3","ok",""\r\n')  # not a student of this class
        file.write('"bob","1","2","3","3","ok",""\r\n')  # a second row for bob
        file.write('"carol","0.5","2","2.5","3","ok",""\r\n')  # points an exercise never gives
    again = Gradebook(path, SETTINGS, ["alice", "bob", "carol"])
    assert set(again.rows) == {"alice"} and again.dropped == 4
    assert rows_of(path)[1] == alice_line


def test_resume_with_other_settings_is_refused(tmp_path):
    path = tmp_path / "gradebook.csv"
    Gradebook(path, SETTINGS, ["alice"])
    for other in (RunSettings(6, SETTINGS.exercises, SETTINGS.course_version),
                  RunSettings(5, (("relu.forward", 1),), SETTINGS.course_version),
                  RunSettings(5, SETTINGS.exercises, "0.2.0+other")):
        with pytest.raises(ValueError, match="--restart"):
            Gradebook(path, other, ["alice"])
    assert "5" not in (tmp_path / "gradebook.csv.run.json").read_text().split('"seed_id"')[0]


def test_the_secret_seed_is_made_once_readable_by_its_owner_only(tmp_path):
    out = tmp_path / "gradebook.csv"
    first = seed_for(out)
    assert seed_for(out) == first and seed_for(tmp_path / "other.csv") != first
    assert (os.stat(str(out) + ".seed").st_mode & 0o777) == 0o600
    assert seed_for(out, 42) == 42


# --- reading outputs ------------------------------------------------------------------------------------


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_an_output_of_another_shape_is_refused_before_its_data_is_read():
    header_only = npy(np.zeros((10**6,)))[:128]  # announces 8 MB, holds none of it
    with pytest.raises(WrongShape) as refused:
        load_output(header_only, [0, len(header_only)], "output", (3, 4))
    assert refused.value.shape == (10**6,)


@pytest.mark.parametrize("array, problem", [
    (np.zeros(4, dtype=np.longdouble), "dtype float128"), (np.zeros(4, dtype=">f8"), "dtype >f8"),
    (np.zeros(4, dtype=np.complex128), "dtype complex128"), (np.zeros(4, dtype=object), "not a readable array"),
])
def test_outputs_of_other_dtypes_are_refused(array, problem):
    data = npy(array) if array.dtype != object else b"\x93NUMPY\x01\x00" + b"{'descr': '|O'}"
    with pytest.raises(BadOutput, match=re.escape(problem)):
        load_output(data, [0, len(data)], "output", (4,))


def test_a_truncated_output_is_refused_and_a_whole_one_read_in_either_order():
    data = npy(np.arange(12.0).reshape(3, 4))
    with pytest.raises(BadOutput, match="size it announces"):
        load_output(data[:-8], [0, len(data) - 8], "output", (3, 4))
    fortran = npy(np.asfortranarray(np.arange(12.0).reshape(3, 4)))
    assert load_output(fortran, [0, len(fortran)], "output", (3, 4)).tolist() == np.arange(12.0).reshape(3, 4).tolist()


# --- the kernel's protections ---------------------------------------------------------------------------

SANDBOXED_PROGRAM = """
import errno, os, socket, sys, threading
sys.path.insert(0, {folder!r})
import syscalls
syscalls.build_filter().load()
import torch
torch.set_num_threads(2)
results = []
worker = threading.Thread(target=lambda: results.append(float((torch.ones(300, 300) @ torch.ones(300, 300))[0, 0])))
worker.start(); worker.join()
print("thread", results)
for name, attempt in [("fork", os.fork), ("exec", lambda: os.execv("/bin/true", ["true"])),
                      ("socket", lambda: socket.socket()), ("memfd", lambda: os.memfd_create("x")),
                      ("spawn", lambda: os.posix_spawn("/bin/true", ["true"], {{}}))]:
    try:
        attempt()
        print(name, "allowed")
    except OSError as error:
        print(name, errno.errorcode[error.errno])
"""


@needs["seccomp"]
def test_the_seccomp_filter_allows_threads_and_refuses_processes_programs_sockets_and_memfd():
    program = SANDBOXED_PROGRAM.format(folder=str(SYSCALLS.parent))
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:6] == ["thread [300.0]", "fork EPERM", "exec EPERM", "socket EPERM",
                                             "memfd EPERM", "spawn EPERM"]


@needs["memory cgroup"]
def test_a_memory_cgroup_kills_a_process_past_its_bound():
    group = MemoryCgroups().create(100 * 2**20)
    try:
        command = group.command([sys.executable, "-c", "import time; hog = bytearray(300 * 2**20); time.sleep(5)"])
        assert subprocess.run(command, timeout=60).returncode == -9
        assert group.out_of_memory()
    finally:
        group.remove()
    assert not group.path.exists()


@needs["output tmpfs"]
def test_a_tmpfs_bounds_bytes_and_files():
    with tempfile.TemporaryDirectory() as folder:
        mount_tmpfs(folder, 2**20, 8)
        try:
            with pytest.raises(OSError, match="No space left"):
                Path(folder, "big").write_bytes(b"x" * 2 * 2**20)
            with pytest.raises(OSError, match="No space left"):
                for number in range(20):
                    Path(folder, f"file{number}").touch()
        finally:
            unmount(folder)
