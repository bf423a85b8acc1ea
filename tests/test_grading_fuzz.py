"""Fuzzing the grader with what a submission controls: the bytes of its zip, and everything its child writes.

Whatever the input, the grader must answer with a row (and a feedback file) and never raise. Inputs are drawn
from seeded generators, so a failure is reproducible from the seed it names.
"""

import io
import json
import random
import zipfile

import numpy as np
import pytest
from grading_corpus import ROOT

from course_lib.grading import grade
from course_lib.grading.cases import build_suite
from course_lib.grading.grader import ExerciseScore, GradedSubmission, run_children
from course_lib.grading.names import feedback_name
from course_lib.grading.report import write_feedback
from course_lib.grading.review import review
from course_lib.grading.sandbox import ChildRun, Snapshot
from course_lib.grading.submissions import InvalidSubmission, Submission, copy_package, unpack

SEED = 3
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # the zips made here, on purpose
NAME_PARTS = ["course_lib", "nn", "__init__.py", "conv.py", "..", ".", "", "a" * 300, "é", "\\", "x:y", "/",
              "__MACOSX", "\x00", "\udcff", " ", "course_lib.py", "COURSE_LIB"]


def random_zip(rng):
    """Bytes that are a zip, a damaged zip or no zip at all."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])) as archive:
        for _ in range(rng.randint(0, 6)):
            name = "/".join(rng.choice(NAME_PARTS) for _ in range(rng.randint(1, 4)))
            try:
                archive.writestr(name, rng.randbytes(rng.randint(0, 300)))
            except Exception:  # a name zipfile itself will not write
                continue
        if rng.random() < 0.5:
            archive.writestr("course_lib/__init__.py", b"import os\n")
    data = bytearray(buffer.getvalue())
    for _ in range(rng.choice([0, 0, 1, 5, 50])):  # damage some
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data) if rng.random() < 0.9 else rng.randbytes(rng.randint(0, 500))


@pytest.mark.parametrize("batch", range(4))
def test_any_zip_is_unpacked_or_refused_with_a_reason(tmp_path, batch):
    rng = random.Random(f"{SEED}/zip/{batch}")
    for number in range(100):
        path = tmp_path / f"entry{number}.zip"
        path.write_bytes(random_zip(rng))
        try:
            folder = unpack(Submission(f"entry{number}", path), tmp_path / f"staging{number}")
            copy_package(folder, tmp_path / f"copy{number}")
            review(tmp_path / f"copy{number}", ROOT / "course_lib")
        except InvalidSubmission as refused:
            assert str(refused), f"seed {SEED}/zip/{batch}, entry {number}"


def test_a_class_of_random_zips_gets_one_row_each(tmp_path):
    rng = random.Random(f"{SEED}/class")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for number in range(25):
        (submissions / f"student{number:02d}.zip").write_bytes(random_zip(rng))
    grade(submissions, tmp_path / "gradebook.csv", tmp_path / "feedback", timeout=30, seed=SEED, progress=False)
    lines = (tmp_path / "gradebook.csv").read_bytes().decode().rstrip("\r\n").split("\r\n")
    assert len(lines) == 26
    assert len(list((tmp_path / "feedback").glob("*.md"))) == 25


# --- what a child writes ----------------------------------------------------------------------------------


def random_npy(rng, expected_shapes):
    shape = rng.choice(expected_shapes + [(), (rng.randint(0, 5),), (2, 2, 2)])
    dtype = rng.choice(["<f8", "<f4", "<i8", "|b1", ">f8", "<c16", "<f2", "|u1"])
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(shape, dtype=dtype) + rng.random())
    data = buffer.getvalue()
    if rng.random() < 0.2:
        data = data[: rng.randrange(len(data) + 1)]
    return data


def random_child_output(rng, suite, case_ids):
    """A journal and a tensors.bin as a child that could write anything might leave them."""
    expected_shapes = [tuple(value.shape) for case in suite.cases[:40] for value in case.reference.expected.values()]
    blob = b""
    lines = []
    for _ in range(rng.randint(0, 60)):
        kind = rng.random()
        if kind < 0.1:
            lines.append(rng.randbytes(rng.randint(0, 80)))
            continue
        status = {"id": rng.choice(case_ids + ["import", -1, "x", None, 10**30]),
                  "status": rng.choice(["running", "ok", "not_done", "forbidden", "rejected", "error", "???"])}
        if status["status"] == "ok":
            outputs = {}
            for name in rng.sample(["output", "grad_input", "weight.grad", "bias.grad", "param.0", "tensor",
                                    "returned_argument", "twice.grad_input_1"], rng.randint(0, 4)):
                npy = random_npy(rng, expected_shapes)
                start = len(blob)
                blob += npy
                outputs[name] = rng.choice([[start, len(npy)], [start, 10**12], "Some\x00Type\udcff", None,
                                            [-1, 3], {"a": 1}, [start]])
            status["outputs"] = outputs if rng.random() < 0.9 else rng.choice([[], "x", 5])
        if status["status"] == "error":
            status.update(type=rng.choice(["ValueError", "Evil\rType", "\udcff"]), message="m\r\n\x00\udcff" * 3,
                          where=rng.choice(["x.py, line 1", None, 5]))
        lines.append(json.dumps(status).encode())
    return Snapshot(b"\n".join(lines), blob, rng.choice(["", "printed\r\n\x1b[31m", "\udcff" * 3]))


class RandomSandbox:
    """Stands in for the sandbox: each child 'runs' by leaving random output, then dies or finishes."""

    def __init__(self, rng, suite):
        self.rng = rng
        self.suite = suite

    def run(self, child_dir, plans, config):
        case_ids = config["visible"] + config["hidden"]
        sealed = random_child_output(self.rng, self.suite, case_ids) if self.rng.random() < 0.7 else None
        final = random_child_output(self.rng, self.suite, case_ids)
        outcome = self.rng.choice(["finished", "timeout", "crashed"])
        return ChildRun(outcome, f"{outcome} (fuzz)", sealed, final)


@pytest.mark.parametrize("batch", range(3))
def test_anything_a_child_writes_gives_a_result_for_every_case_and_a_row(tmp_path, batch):
    suite = build_suite(SEED)
    rng = random.Random(f"{SEED}/child/{batch}")
    for number in range(8):
        graded = GradedSubmission(f"student{number}", "ok", suite.max_points)
        results = run_children(suite, RandomSandbox(rng, suite), tmp_path, {}, graded)
        assert set(results) == {case.id for case in suite.cases}, f"seed {SEED}/child/{batch}, {number}"
        graded.exercises = [ExerciseScore(exercise.id, exercise.points,
                                          [results[case.id] for case in suite.cases_of(exercise.id)])
                            for exercise in suite.exercises]
        row = graded.row(suite.exercise_ids)
        assert len(row) == len(suite.exercise_ids) + 5 and "\r" not in row[-1] and "\x00" not in row[-1]
        write_feedback(tmp_path / "feedback", graded)
        assert (tmp_path / "feedback" / f"{feedback_name(graded.student)}.html").exists()
