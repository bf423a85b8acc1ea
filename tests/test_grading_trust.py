"""The grader against a class written by attackers who have read its source (issue: grading a hostile class).

Each submission below attacks one promise: marks forged without doing the work (a fresh interpreter, torch's
kernels, autograd reached by a side door), the whole class stopped by one upload (broken zips, names no file
system or CSV likes, outputs the grader cannot read), the grading process kept busy, another student's row
changed, the memory and disk limits escaped, hidden cases revealed. One grading run covers them; a second run,
with the seccomp filter switched off, shows that the forger and the memory hog are stopped by the kernel's
protections and not by luck.
"""

import csv
import io
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from grading_corpus import MAX_POINTS, POINTS, lost_only, make_editions, read_gradebook, submit

from course_lib.grading import grade
from course_lib.grading.cases import build_suite
from course_lib.grading.cgroup import CGROUP_PREFIX
from course_lib.grading.isolation import probe
from course_lib.grading.names import feedback_name

TIMEOUT = 30
SEED = 11
ISOLATION = probe()
needs = {name: pytest.mark.skipif(not ISOLATION.has(name), reason=f"no {name}: {ISOLATION.missing.get(name)}")
         for name in ISOLATION.problems}

# The runner's frames hold the trusted checker module ("trial") that turns the student's objects into data:
# an attacker who has read runner.py finds it by walking up from the import of course_lib.
FIND_TRIAL = """
import sys
frame = sys._getframe()
while frame is not None and "trial" not in frame.f_locals:
    frame = frame.f_back
TRIAL = frame.f_locals["trial"] if frame is not None else None  # None: imported outside the grader
"""

# A fresh interpreter has none of the runner's guards, and the student edition ships the reference code: it
# computes the expected values of every case of a plan (the hidden plan once it is there), and the trusted
# checker is made to return them.
FORGER = FIND_TRIAL + '''
import hashlib, json, os, subprocess, torch
FRESH = """
import hashlib, io, json, sys, numpy, torch
from course_lib import exercises
from course_lib.check.reference import run_reference
from course_lib.check.trials import Trial
plan, target = sys.argv[1], sys.argv[2]
blob = open(plan + "/tensors.bin", "rb").read()
answers = {}
for case in json.loads(open(plan + "/plan.json").read())["cases"]:
    tensors = {name: torch.from_numpy(numpy.load(io.BytesIO(blob[start:start + size])))
               for name, (start, size) in case["tensors"].items()}
    key = hashlib.sha256(b"".join(tensors[name].numpy().tobytes() for name in sorted(tensors))).hexdigest()
    exercise = exercises.get(case["exercise"])
    expected = run_reference(exercise, Trial(exercise.id, "", case["spec"], tensors)).expected
    answers[key] = {name: value.tolist() for name, value in expected.items()}
json.dump(answers, open(target, "w"))
"""
ANSWERS = {}
def forged(package, exercise_id, spec, tensors):
    key = hashlib.sha256(b"".join(tensors[name].numpy().tobytes() for name in sorted(tensors))).hexdigest()
    if key not in ANSWERS:
        target = os.path.join(os.environ["TMPDIR"], "answers.json")
        config = json.loads(open(sys.argv[1]).read())  # the runner's: where its plans are
        plan = config["hidden_plan"] if ANSWERS else config["plan"]
        subprocess.run([sys.executable, "-c", FRESH, plan, target], check=True)
        ANSWERS.update(json.load(open(target)))
    return {name: torch.tensor(value, dtype=torch.float64) for name, value in ANSWERS[key].items()}
if TRIAL is not None:
    TRIAL.run = forged
'''

ATEN = ("nn/conv.py", "        N, _, H, W = input.shape\n        columns = unfold(",
        "        return torch.ops.aten.convolution(input, self.weight.data, None if self.bias is None else "
        "self.bias.data, self.stride, self.padding, self.dilation, False, (0, 0), 1)\n"
        "        N, _, H, W = input.shape\n        columns = unfold(")
AUTOGRAD_SIDE_DOORS = [
    ("nn/activation.py", "        input = self.saved_for_backward()\n        return grad_output * (input > 0)\n",
     "        input = self.saved_for_backward()\n        with torch.enable_grad():\n"
     "            leaf = input.detach().requires_grad_()\n            output = leaf.clamp(min=0)\n"
     "            return torch.autograd.Variable._execution_engine.run_backward(\n"
     "                (output,), (grad_output,), False, False, (leaf,), False, False)[0]\n"),
    ("nn/activation.py", "        output = self.saved_for_backward()\n        return grad_output * output * (1 - output)\n",
     "        output = self.saved_for_backward()\n        torch._C._set_grad_enabled(True)\n"
     "        leaf = torch.log(output / (1 - output)).requires_grad_()\n"
     "        result = torch.sigmoid(leaf)\n"
     "        return torch.autograd.Variable._execution_engine.run_backward(\n"
     "            (result,), (grad_output,), False, False, (leaf,), False, False)[0]\n"),
    ("nn/activation.py", "        output = self.saved_for_backward()\n        return grad_output * (1 - output**2)\n",
     "        output = self.saved_for_backward()\n        import torch.autograd.forward_ad as forward_ad\n"
     "        with forward_ad.dual_level():\n"
     "            dual = forward_ad.make_dual(torch.atanh(output), torch.ones_like(output))\n"
     "            return grad_output * forward_ad.unpack_dual(torch.tanh(dual)).tangent\n"),
]

# Every output of every case points at one 60 MB array; the stubs' NotImplementedError is answered with zeros.
SIXTY_MEGABYTES = FIND_TRIAL + """
import io, numpy, torch
runner = sys.modules["__main__"]
def answer(package, exercise_id, spec, tensors):
    return {name: torch.zeros(3) for name in ("output", "grad_input", "weight.grad", "param.0", "tensor")}
def save_outputs(self, outputs, torch):
    if not hasattr(self, "big"):
        buffer = io.BytesIO()
        numpy.save(buffer, numpy.zeros(60 * 2**20 // 8))
        self.big = [self.tensors.tell(), buffer.tell()]
        self.tensors.write(buffer.getvalue())
        self.tensors.flush()
    return {name: self.big for name in ("output", "grad_input", "weight.grad", "bias.grad", "param.0", "param.1",
                                        "tensor", "returned_argument", "twice.grad_input_1", "twice.grad_input_2")}
TRIAL.run = answer
runner.Results.save_outputs = save_outputs
"""

UNREADABLE_OUTPUTS = FIND_TRIAL + """
import io, numpy, torch
runner = sys.modules["__main__"]
def answer(package, exercise_id, spec, tensors):
    return {"output": torch.zeros(3)}
def save_outputs(self, outputs, torch):
    buffer = io.BytesIO()
    numpy.save(buffer, numpy.zeros(4, dtype=numpy.longdouble))
    start = self.tensors.tell()
    self.tensors.write(buffer.getvalue())
    self.tensors.flush()
    return {"output": "Bad\\x00Type\\udcff", "grad_input": [start, buffer.tell()], "tensor": [start, buffer.tell()]}
TRIAL.run = answer
runner.Results.save_outputs = save_outputs
"""

CARRIAGE_RETURN = "raise ValueError('first\\rsecond\\udcff,\"=1+1\"\\r\\nthird')\n"

MEMORY_HOG = """
import ctypes, os
try:
    segment = ctypes.CDLL(None, use_errno=True).shmget(0, 2**30, 0o1600)
    print("shmget gave", segment, "errno", ctypes.get_errno())
except OSError as error:
    print("shmget refused", error)
try:
    held, chunk = [], b"x" * 2**24
    for _ in range(60):  # 60 files of 48 MB (one file may not pass the size limit): 2.8 GB, none of it mapped
        held.append(os.memfd_create("hog"))
        for _ in range(3):
            os.write(held[-1], chunk)
    print("held 2.8 GB in memfd files")
except OSError as error:
    print("memfd refused:", error)
"""

FLOODS_OUT_FOLDER = """
import json, os, sys
out = json.loads(open(sys.argv[1]).read())["out"]
made = 0
try:
    for number in range(20000):
        with open(os.path.join(out, f"file{number}"), "wb") as file:
            file.write(b"x" * 4096)
        made += 1
except OSError as error:
    print(f"made {made} files, then {error.strerror}")
"""

WRITES_EVERYWHERE = """
import os
for folder in ("/var/tmp", "/dev/shm", "/tmp", os.path.expanduser("~"), os.getcwd(), "/sandbox/submission",
               "/sandbox/grader", "/sandbox/plan", "/sandbox/hidden"):
    try:
        with open(os.path.join(folder, "course-lib-trace-TOKEN"), "w") as file:
            file.write("trace")
        print("wrote in", folder)
    except OSError as error:
        print("could not write in", folder, type(error).__name__)
"""

# Every value relu and leaky_relu see, by every route out of the child: print, a thread printing later,
# stdout's file descriptor, out/printed.txt rewritten, and exception messages.
LEAK_STATE = """
import json, os, sys, threading, time
SEEN = []
def show(values):
    return " ".join(f"{value:.9f}" for value in values)
def remember(input):
    SEEN.append(input.flatten().tolist())
    print("LEAK", show(SEEN[-1]))
    os.write(1, ("LEAK " + show(SEEN[-1]) + "\\n").encode())
    out = json.loads(open(sys.argv[1]).read())["out"]
    with open(os.path.join(out, "printed.txt"), "w") as file:
        file.write("\\n".join("LEAK " + show(values) for values in SEEN))
def keep_printing():
    while True:
        time.sleep(0.01)
        for values in list(SEEN):
            print("LATE", show(values))
threading.Thread(target=keep_printing, daemon=True).start()
"""
LEAKS = [
    ("nn/activation.py", "import torch\n", "import torch\n" + LEAK_STATE),
    ("nn/activation.py", '        check_input(self, input, "(*)")\n        ### BEGIN SOLUTION\n        self.save_for_backward(input)\n'
     "        return input.clamp(min=0)\n",
     '        check_input(self, input, "(*)")\n        remember(input)\n        ### BEGIN SOLUTION\n'
     "        self.save_for_backward(input)\n        return input.clamp(min=0)\n"),
    ("nn/activation.py", "        self.save_for_backward(input)\n        # The positive part",
     "        raise ValueError('LEAK ' + show(input.flatten().tolist()))\n        # The positive part"),
]


def zip_bytes(members):
    """A zip of {name: bytes}, stored deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def corrupt_deflate(data, name):
    """``data`` (a zip) with the compressed bytes of member ``name`` overwritten."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    info = archive.getinfo(name)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    broken = bytearray(data)
    broken[start:start + 8] = b"\xff" * 8
    return bytes(broken)


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("trust")
    editions = make_editions(base / "editions")
    student, instructor = editions / "student", editions / "instructor"
    submissions = base / "submissions"
    token = secrets.token_hex(4)
    submit(submissions / "instructor", instructor)
    submit(submissions / "forges_with_fresh_interpreter", student, prepend=FORGER)
    submit(submissions / "aten_kernels", instructor, [ATEN])
    submit(submissions / "autograd_side_doors", instructor, AUTOGRAD_SIDE_DOORS)
    submit(submissions / "sixty_megabytes_everywhere", student, prepend=SIXTY_MEGABYTES)
    submit(submissions / "unreadable_outputs", student, prepend=UNREADABLE_OUTPUTS)
    submit(submissions / "carriage_return", student, prepend=CARRIAGE_RETURN)
    submit(submissions / "hogs_shared_memory", student, prepend=MEMORY_HOG)
    submit(submissions / "floods_out_folder", student, prepend=FLOODS_OUT_FOLDER)
    submit(submissions / "writes_everywhere", student, prepend=WRITES_EVERYWHERE.replace("TOKEN", token))
    submit(submissions / "leaks_hidden_inputs", instructor, LEAKS)
    # Names no file system, CSV reader or spreadsheet takes as they are.
    odd_names = {os.fsdecode(b"caf\xe9-\xff"): "instructor", "=HYPERLINK(\"x\")": "instructor",
                 "line\nbreak": "student", "x" * 250: "student"}
    for name, edition in odd_names.items():
        submit(submissions / name, editions / edition)
    # Zips no careful student makes.
    package = {f"course_lib/{path.relative_to(student / 'course_lib')}": path.read_bytes()
               for path in (student / "course_lib").rglob("*.py")}
    zips = {
        "corrupt_deflate": corrupt_deflate(zip_bytes(package), "course_lib/nn/conv.py"),
        "file_and_folder": zip_bytes({**package, "course_lib/nn": b"a file where a folder is"}),
        "long_member_name": zip_bytes({**package, "course_lib/" + "n" * 300 + ".py": b""}),
        "not_a_zip": b"PK\x03\x04" + os.urandom(200),
    }
    for name, data in zips.items():
        (submissions / f"{name}.zip").write_bytes(data)
    shm_before = Path("/proc/sysvipc/shm").read_text()
    out = base / "out" / "gradebook.csv"
    summary = grade(submissions, out, base / "feedback", jobs=3, timeout=TIMEOUT, seed=SEED, progress=False)
    return {"base": base, "out": out, "feedback": base / "feedback", "rows": read_gradebook(out),
            "summary": summary, "token": token, "odd_names": odd_names, "zips": zips,
            "shm_before": shm_before, "submissions": submissions}


def feedback_of(hostile_class, student):
    return (hostile_class["feedback"] / f"{feedback_name(student)}.md").read_text()


def test_every_entry_gets_exactly_one_row_and_the_honest_one_full_marks(hostile_class):
    entries = {path.name[:-4] if path.name.endswith(".zip") else path.name
               for path in hostile_class["submissions"].iterdir()}
    rows = hostile_class["rows"]
    assert len(rows) == len(entries)
    assert lost_only(rows["instructor"]) and rows["instructor"]["status"] == "ok"


# --- 1. no forged marks --------------------------------------------------------------------------------


@needs["seccomp"]
def test_a_fresh_interpreter_cannot_be_started_to_forge_the_answers(hostile_class):
    row = hostile_class["rows"]["forges_with_fresh_interpreter"]
    assert float(row["total"]) == 0 and row["status"] == "review"
    assert "Operation not permitted" in feedback_of(hostile_class, "forges_with_fresh_interpreter")


def test_torch_kernels_earn_nothing(hostile_class):
    row = hostile_class["rows"]["aten_kernels"]
    assert lost_only(row, "conv2d.forward", "conv2d.backward"), row
    assert row["status"] == "review" and "torch.ops.aten.convolution" in row["note"]
    assert "uses torch.ops.aten.convolution (not allowed" in feedback_of(hostile_class, "aten_kernels")


def test_autograd_side_doors_earn_nothing(hostile_class):
    row = hostile_class["rows"]["autograd_side_doors"]
    assert lost_only(row, "relu.backward", "sigmoid.backward", "tanh.backward"), row
    text = feedback_of(hostile_class, "autograd_side_doors")
    assert "turns autograd on" in text and "torch._C._enter_dual_level" in text


# --- 2. and 3. one submission neither stops the class nor keeps the grader busy -------------------------------


@pytest.mark.parametrize("name, note", [("corrupt_deflate", "cannot unpack"), ("file_and_folder", "as a file and a folder"),
                                        ("long_member_name", "longer than 255 bytes"),
                                        ("not_a_zip", "not a readable .zip")])
def test_a_broken_zip_is_an_invalid_row(hostile_class, name, note):
    row = hostile_class["rows"][name]
    assert row["status"] == "invalid" and note in row["note"] and float(row["total"]) == 0


def test_names_that_are_not_plain_text_get_a_row_and_a_feedback_file(hostile_class):
    rows = hostile_class["rows"]
    assert lost_only(rows["caf\\xe9-\\xff"]) and lost_only(rows["=HYPERLINK(\"x\")"])
    assert float(rows["line\\x0abreak"]["total"]) == 0 and float(rows["x" * 250]["total"]) == 0
    for student in ("caf\\xe9-\\xff", "line\\x0abreak", "x" * 250):
        name = feedback_name(student)
        assert len(f"{name}.html".encode()) <= 255 and f"Feedback for {student}" in feedback_of(hostile_class, student)


def test_outputs_pointing_at_one_large_array_are_refused_unread(hostile_class):
    row = hostile_class["rows"]["sixty_megabytes_everywhere"]
    assert float(row["total"]) == 0 and row["status"] == "review"
    assert "has shape (7864320,), expected" in feedback_of(hostile_class, "sixty_megabytes_everywhere")


def test_unreadable_outputs_are_refused(hostile_class):
    row = hostile_class["rows"]["unreadable_outputs"]
    text = feedback_of(hostile_class, "unreadable_outputs")
    assert float(row["total"]) == 0 and "grad_input has dtype float128: return a float64 tensor" in text
    assert "got a Bad\\x00Type\\udcff, expected a torch.Tensor" in text and "\x00" not in text


# --- 4. nobody else's row changes ------------------------------------------------------------------------


def test_every_line_of_the_gradebook_is_one_whole_row_for_any_reader(hostile_class):
    text = hostile_class["out"].read_bytes().decode()
    header = next(csv.reader(io.StringIO(text)))
    # A reader that splits lines on \r, \n or both, as some LMS importers do, still sees one row per line.
    lines = re.split(r"\r\n|\r|\n", text.rstrip("\r\n"))
    assert len(lines) == len(hostile_class["rows"]) + 1
    for line in lines:
        assert len(next(csv.reader([line]))) == len(header), line
    assert "first\\x0dsecond\\udcff" in hostile_class["rows"]["carriage_return"]["note"]
    spreadsheet_cells = [cell for line in lines for cell in next(csv.reader([line]))]
    assert not [cell for cell in spreadsheet_cells if cell.startswith(("=", "+", "-", "@"))]


# --- 5. limits -------------------------------------------------------------------------------------------------


@needs["seccomp"]
def test_no_shared_memory_or_memfd_outlives_or_escapes_the_limit(hostile_class):
    text = feedback_of(hostile_class, "hogs_shared_memory")
    assert "errno 1" in text and "memfd refused: [Errno 1] Operation not permitted" in text
    assert Path("/proc/sysvipc/shm").read_text() == hostile_class["shm_before"]


@needs["output tmpfs"]
def test_the_out_folder_holds_a_bounded_number_of_files(hostile_class):
    made = re.search(r"made (\d+) files, then No space left on device", feedback_of(hostile_class, "floods_out_folder"))
    assert made and int(made.group(1)) < 300


@needs["bubblewrap"]
def test_nothing_is_written_outside_the_out_folder(hostile_class):
    text = feedback_of(hostile_class, "writes_everywhere")
    for folder in ("/var/tmp", "/dev/shm", "/sandbox/submission", "/sandbox/grader", "/sandbox/plan", "/sandbox/hidden"):
        assert f"could not write in {folder}" in text
    for folder in ("/var/tmp", "/dev/shm", "/tmp"):
        assert not Path(folder, f"course-lib-trace-{hostile_class['token']}").exists()


# --- 6. hidden cases stay hidden --------------------------------------------------------------------------------


def hidden_and_visible_values(exercise_prefixes):
    """The formatted input values of the hidden and of the visible cases of these exercises."""
    found = {True: set(), False: set()}
    for case in build_suite(SEED).cases:
        if case.exercise.startswith(exercise_prefixes):
            for name, tensor in case.trial.tensors.items():
                if name.startswith("input"):
                    found[case.hidden].update(f"{value:.9f}" for value in tensor.flatten().tolist())
    return found[True], found[False]


def test_nothing_the_code_sees_in_a_hidden_case_reaches_the_feedback(hostile_class):
    hidden, visible = hidden_and_visible_values(("relu.", "leaky_relu."))
    text = feedback_of(hostile_class, "leaks_hidden_inputs")
    html_text = (hostile_class["feedback"] / "leaks_hidden_inputs.html").read_text()
    assert any(value in text for value in visible)  # the leak works: visible inputs are shown
    assert not [value for value in hidden - visible if value in text or value in html_text]
    row = hostile_class["rows"]["leaks_hidden_inputs"]
    assert lost_only(row, "leaky_relu.forward", "leaky_relu.backward")
    assert not [value for value in hidden - visible if value in row["note"]]


def test_the_summary_names_the_protections(hostile_class):
    assert "kernel-enforced protections:" in hostile_class["summary"]
    for name in ISOLATION.missing:
        assert f"MISSING {name}" in hostile_class["summary"]


# --- the same attacks, one protection switched off -----------------------------------------------------------


@needs["seccomp"]
@needs["memory cgroup"]
def test_without_seccomp_the_forger_would_win_and_the_memory_cgroup_still_holds(hostile_class, tmp_path):
    submissions = tmp_path / "submissions"
    editions = hostile_class["base"] / "editions"
    submit(submissions / "forges_with_fresh_interpreter", editions / "student", prepend=FORGER)
    submit(submissions / "hogs_shared_memory", editions / "student", prepend=MEMORY_HOG)
    summary = grade(submissions, tmp_path / "gradebook.csv", tmp_path / "feedback", jobs=2, timeout=TIMEOUT,
                    seed=SEED, progress=False, switched_off=("seccomp",))
    rows = read_gradebook(tmp_path / "gradebook.csv")
    assert "MISSING seccomp (switched off)" in summary
    # What seccomp prevents: most points (the init exercises, whose cases have no input tensors, share a key).
    assert float(rows["forges_with_fresh_interpreter"]["total"]) > MAX_POINTS / 2
    assert "used more than 2048 MB of memory" in rows["hogs_shared_memory"]["note"]


def test_require_isolation_refuses_without_every_protection(hostile_class, tmp_path):
    with pytest.raises(ValueError, match="refusing to grade without seccomp"):
        grade(hostile_class["submissions"], tmp_path / "gradebook.csv", tmp_path / "feedback", progress=False,
              require_isolation=True, switched_off=("seccomp",))
    assert not (tmp_path / "gradebook.csv").exists()


# --- no traces ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda stop: stop.name)
def test_a_run_stopped_by_a_signal_leaves_no_trace(hostile_class, stop):
    scratch = Path(tempfile.mkdtemp(prefix="course-lib-test-scratch-", dir="/tmp"))
    os.chmod(scratch, 0o711)  # like /tmp: children under their own uid pass through
    try:
        class_folder = hostile_class["base"] / f"stopped-{stop.name}"
        submit(class_folder / "submissions" / "hangs", hostile_class["base"] / "editions" / "student",
               prepend="import time\ntime.sleep(600)\n")
        command = [sys.executable, "-m", "course_lib", "grade", str(class_folder / "submissions"), "--out",
                   str(class_folder / "gradebook.csv"), "--feedback", str(class_folder / "feedback"), "--seed", "1"]
        grading = subprocess.Popen(command, env={**os.environ, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        while not list(scratch.glob("course-lib-grade-*/submission-*/child/run-*")):
            assert time.monotonic() - started < 120 and grading.poll() is None, "no child was started"
            time.sleep(0.1)
        time.sleep(1)  # the child is in its sandbox, importing the submission
        grading.send_signal(stop)
        output, errors = grading.communicate(timeout=120)
        assert grading.returncode == 130 and "run the same command again to resume" in errors
        assert list(scratch.iterdir()) == []
        assert str(scratch) not in Path("/proc/mounts").read_text()
        leftover = [pid for pid in filter(str.isdigit, os.listdir("/proc"))
                    if str(scratch).encode() in read_or_empty(Path("/proc", pid, "cmdline"))]
        assert leftover == []
        if ISOLATION.has("memory cgroup"):
            assert not list(ISOLATION.cgroups.parent.glob(f"{CGROUP_PREFIX}{grading.pid}-*"))
    finally:
        subprocess.run(["umount", "-R", "-l", str(scratch)], capture_output=True)
        subprocess.run(["rm", "-rf", str(scratch)])


def read_or_empty(path):
    try:
        return path.read_bytes()
    except OSError:
        return b""
