"""The grader on a corpus of submissions built in temporary folders from a fresh student edition (stubs)
and from the instructor edition: honest, wrong in one known way, and hostile.

One grading run covers the whole corpus (the children run in parallel; the ones that hang cost one time
limit each, and only one of them burns CPU while it does); a second, smaller class checks resuming,
seeds, zips and invalid entries.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from grading_corpus import MAX_POINTS, POINTS, ROOT, lost_only, make_editions, read_gradebook, submit
from mistakes import MISTAKES

from course_lib.check.hints import CATALOGUE
from course_lib.grading import grade
from course_lib.grading.records import read_records, records_path
from course_lib.grading.isolation import probe

TIMEOUT = 30  # seconds per child: far above an honest child's few seconds, and paid by every hang
SOLUTION_TEXT = "return input.clamp(min=0)"  # ReLU.forward's solution line in the instructor tree
ISOLATION = probe()
needs_bwrap = pytest.mark.skipif(not ISOLATION.has("bubblewrap"),
                                 reason=f"no bubblewrap: {ISOLATION.missing.get('bubblewrap')}")


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    return make_editions(tmp_path_factory.mktemp("editions"))


# --- the corpus ------------------------------------------------------------------------------------------

RELU_BACKWARD = ("nn/activation.py", "        return grad_output * (input > 0)\n",
                 "        return -grad_output * (input > 0)\n")
# Copies of the instructor edition with one mistake of the hint catalogue each (tests/mistakes.py):
# (student, the mistake's hint id); each loses the mistake's exercise only, and its records name the id.
WRONG_MATH = [
    ("forgets_grad_output", "relu.backward/grad-output-forgotten"),
    ("forgets_grad_output_too", "relu.backward/grad-output-forgotten"),
    ("mse_sign_flipped", "mse_loss.backward/sign-flipped"),
    ("linear_grad_overwritten", "any/grad-overwritten"),
    ("conv2d_flipped_kernel", "conv2d.backward/kernel-flipped"),
    ("sigmoid_at_output", "sigmoid.backward/derivative-at-output"),
    ("sgd_decay_sign", "sgd.step/weight-decay-sign"),
]
MISTAKE = {hint_id: (exercise, edits) for hint_id, exercise, edits in MISTAKES}


def hostile_code(paths):
    """Code run at import by each hostile submission built on the student edition (0 points honestly)."""
    token = paths["token"]
    return {
        "patches_torch_and_checker": """
import sys, torch
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
for name, module in list(sys.modules.items()):
    if "check" in name or "trial" in name or name == "__main__":
        for attribute in dir(module):
            if callable(getattr(module, attribute)) and not attribute.startswith("__"):
                setattr(module, attribute, lambda *args, **kwargs: True)
""",
        "prints_fake_results": """
import json, sys
print(json.dumps({"student": "prints_fake_results", "total": 1000, "status": "ok", "passed": True}))
print("prints_fake_results,1,1,1,1,1000,1000,ok,")
sys.stderr.write('{"status": "ok"}\\n')
""",
        "forges_result_files": """
import io, sys, numpy
runner = sys.modules["__main__"]
record = runner.Results.record
def forged(self, key, status):
    if status.get("status") != "running":
        buffer = io.BytesIO()
        numpy.save(buffer, numpy.zeros(3))
        start = self.tensors.tell()
        self.tensors.write(buffer.getvalue())
        self.tensors.flush()
        status = {"status": "ok", "outputs": {name: [start, buffer.tell()] for name in ("output", "grad_input")}}
    record(self, key, status)
runner.Results.record = forged
""",
        "writes_outside": f"""
for target in {[str(p) for p in paths['write_targets']]!r}:
    try:
        with open(target, "a") as file:
            file.write("hacked {token}")
    except OSError as error:
        print("could not write", target, type(error).__name__)
""",
        "reads_solutions": f"""
import os
found = []
for target in {[str(p) for p in paths['read_targets']]!r}:
    try:
        found.append(open(target).read())
    except OSError as error:
        found.append("could not open " + type(error).__name__)
for folder, subfolders, files in os.walk("/"):
    if folder.startswith(("/proc", "/sys", "/dev")):
        subfolders[:] = []
        continue
    for name in files:
        if name == "activation.py":
            try:
                text = open(os.path.join(folder, name)).read()
            except OSError:
                continue
            if {SOLUTION_TEXT!r} in text:
                found.append(text)
print(found)
raise RuntimeError("FOUND " + repr(found))
""",
        "ignores_sigterm_and_hangs": """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(3600)
""",
        "infinite_loop_at_import": "while True:\n    pass\n",
        "exits_at_import": "import os\nos._exit(0)\n",
        "memory_bomb": "hog = bytearray(64 * 2**30)\n",
        "fork_bomb": f"""
import os
for _ in range(300):
    try:
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "3600.{token}"])
    except OSError:
        break
""",
        "floods_output": "import sys\nwhile True:\n    sys.stdout.write('x' * 2**20)\n",
    }


# Built on the instructor edition: they keep the points of everything they did not break.
INSTRUCTOR_BASED = {
    "returns_autograd_graph": ([("nn/activation.py", "        return input.clamp(min=0)\n",
                                 "        return input.clamp(min=0).requires_grad_()\n")],
                               ["relu.forward", "relu.backward"]),
    "calls_functional_conv2d": ([("nn/conv.py", "        N, _, H, W = input.shape\n        columns = unfold(",
                                  "        N, _, H, W = input.shape\n        torch.nn.functional.conv2d(input, "
                                  "self.weight.data)\n        columns = unfold(")],
                                ["conv2d.forward", "conv2d.backward"]),
    "exits_in_every_module": ([("nn/module.py", "        with torch.no_grad():\n            output = self.forward(",
                                "        import os\n        os._exit(1)\n        with torch.no_grad():\n"
                                "            output = self.forward(")], list(POINTS)),
    "hangs_in_tanh_backward": ([("nn/activation.py", "        return grad_output * (1 - output**2)\n",
                                 "        import time\n        time.sleep(3600)\n")], ["tanh.backward"]),
}


@pytest.fixture(scope="module")
def corpus(editions, tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    submissions, feedback, gradebook = base / "submissions", base / "feedback", base / "out" / "gradebook.csv"
    submit(submissions / "instructor", editions / "instructor")
    submit(submissions / "student", editions / "student")
    for student, hint_id in WRONG_MATH:
        submit(submissions / student, editions / "instructor", MISTAKE[hint_id][1])
    for student, (edits, _) in INSTRUCTOR_BASED.items():
        submit(submissions / student, editions / "instructor", edits)
    token = secrets.token_hex(4)
    host_marker = Path("/tmp", f"course-lib-hostile-{token}")
    instructor_file = submissions / "instructor" / "course_lib" / "nn" / "activation.py"
    paths = {"token": token,
             "write_targets": [gradebook, instructor_file, host_marker, feedback / "instructor.md",
                               ROOT / "course_lib" / f"hostile_{token}.py"],
             "read_targets": [ROOT / "course_lib" / "nn" / "activation.py", instructor_file]}
    hostile = hostile_code(paths)
    for student, code in hostile.items():
        submit(submissions / student, editions / "student", prepend=code)
    originals = {path: path.read_bytes() for path in submissions.rglob("*") if path.is_file()}

    # More children than cores: three of them only wait for their time limit.
    summary = grade(submissions, gradebook, feedback, jobs=4, timeout=TIMEOUT, seed=7, progress=False)
    yield {"rows": read_gradebook(gradebook), "feedback": feedback, "summary": summary, "token": token,
           "gradebook": gradebook,
           "host_marker": host_marker, "originals": originals, "hostile": hostile}
    host_marker.unlink(missing_ok=True)


def feedback_of(corpus, student):
    return (corpus["feedback"] / f"{student}.md").read_text()


def test_the_instructor_edition_gets_full_marks(corpus):
    row = corpus["rows"]["instructor"]
    assert lost_only(row) and row["status"] == "ok" and float(row["max"]) == MAX_POINTS


def test_the_student_edition_gets_zero_with_not_done_feedback(corpus):
    row = corpus["rows"]["student"]
    assert float(row["total"]) == 0 and row["status"] == "ok"
    assert "is not done yet" in feedback_of(corpus, "student")
    assert "<html" in (corpus["feedback"] / "student.html").read_text()


@pytest.mark.parametrize("student, hint_id", WRONG_MATH, ids=[case[0] for case in WRONG_MATH])
def test_a_known_mistake_loses_its_exercise_and_is_named(corpus, student, hint_id):
    exercise = MISTAKE[hint_id][0]
    row = corpus["rows"][student]
    assert lost_only(row, exercise), {name: row[name] for name in POINTS}
    hints = [line for line in feedback_of(corpus, student).splitlines() if line.strip().startswith("- hint:")]
    assert any(CATALOGUE[hint_id].name in hint for hint in hints), hints
    record = read_records(records_path(corpus["gradebook"]))[student]
    named = {hint for item in record["exercises"] if item["id"] == exercise for case in item["cases"]
             for hint in case["hint_ids"]}
    assert hint_id in named


@pytest.mark.parametrize("student", [
    "patches_torch_and_checker", "prints_fake_results", "forges_result_files", "writes_outside",
    "reads_solutions", "ignores_sigterm_and_hangs", "infinite_loop_at_import", "exits_at_import",
    "memory_bomb", "fork_bomb", "floods_output"])
def test_a_hostile_submission_on_the_stubs_gets_nothing(corpus, student):
    assert float(corpus["rows"][student]["total"]) == 0


@pytest.mark.parametrize("student, status, note", [
    ("ignores_sigterm_and_hangs", "review", "time limit"),
    ("infinite_loop_at_import", "timeout", "time limit"),
    ("exits_at_import", "crashed", "os._exit"),
    ("memory_bomb", "crashed", "MemoryError"),
    ("floods_output", "crashed", "size limit"),
    ("reads_solutions", "crashed", "importing course_lib failed"),
    ("fork_bomb", "review", "os.fork"),
    ("patches_torch_and_checker", "review", "sys.modules"),
    ("prints_fake_results", "ok", ""),
])
def test_a_hostile_submission_gets_its_own_status_and_note(corpus, student, status, note):
    row = corpus["rows"][student]
    assert row["status"] == status and note in row["note"]


def test_every_submission_has_a_row_and_honest_rows_are_untouched(corpus):
    expected = {"instructor", "student", *(case[0] for case in WRONG_MATH), *INSTRUCTOR_BASED, *corpus["hostile"]}
    assert set(corpus["rows"]) == expected
    # The honest rows sit in the same run as the hostile ones: their exact values are asserted above;
    # here, that nothing the hostile ones wrote reached them or any submission.
    assert corpus["token"] not in feedback_of(corpus, "instructor")
    for path, content in corpus["originals"].items():
        assert path.read_bytes() == content, f"{path} was changed"
    assert not (ROOT / "course_lib" / f"hostile_{corpus['token']}.py").exists()


@needs_bwrap
def test_under_bubblewrap_the_host_tmp_is_out_of_reach(corpus):
    assert "bubblewrap" in corpus["summary"]
    assert not corpus["host_marker"].exists()
    assert "could not write" in feedback_of(corpus, "writes_outside")


@needs_bwrap
def test_under_bubblewrap_no_solution_can_be_read(corpus):
    assert SOLUTION_TEXT in (ROOT / "course_lib" / "nn" / "activation.py").read_text()  # what it looks for
    text = feedback_of(corpus, "reads_solutions")
    assert "could not open FileNotFoundError" in text
    assert SOLUTION_TEXT not in text and SOLUTION_TEXT not in (corpus["feedback"] / "reads_solutions.html").read_text()


def test_no_process_of_a_fork_bomb_outlives_its_child(corpus):
    marker = f"3600.{corpus['token']}".encode()
    survivors = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path("/proc", pid, "cmdline").read_bytes():
                survivors.append(pid)
        except OSError:
            pass
    assert survivors == []


def test_forbidden_torch_calls_and_autograd_graphs_cost_the_exercise_with_a_note(corpus):
    for student in ("returns_autograd_graph", "calls_functional_conv2d"):
        lost = INSTRUCTOR_BASED[student][1]
        row = corpus["rows"][student]
        assert lost_only(row, *lost), (student, {exercise: row[exercise] for exercise in POINTS})
    assert "uses torch.nn.functional.conv2d (not allowed: write it with tensor operations)" in \
        feedback_of(corpus, "calls_functional_conv2d")
    assert "autograd graph" in corpus["rows"]["returns_autograd_graph"]["note"]
    # The integrity review names the line too; the runtime guard is what cost the points.
    assert corpus["rows"]["calls_functional_conv2d"]["status"] == "review"
    assert "course_lib/nn/conv.py" in corpus["rows"]["calls_functional_conv2d"]["note"]


def test_a_hang_in_one_exercise_costs_only_that_exercise(corpus):
    row = corpus["rows"]["hangs_in_tanh_backward"]
    assert row["status"] == "partial" and "timeout in tanh.backward" in row["note"]


def test_a_submission_that_dies_in_every_exercise_gets_three_children_then_zero(corpus):
    row = corpus["rows"]["exits_in_every_module"]
    text = feedback_of(corpus, "exits_in_every_module")
    assert row["status"] == "crashed" and float(row["total"]) == 0
    assert text.count("- crashed in ") == 3 and "not run: 3 processes died before" in text


# --- a small class: resume, seeds, zips, invalid entries -----------------------------------------------


@pytest.fixture(scope="module")
def small_class(editions, tmp_path_factory):
    base = tmp_path_factory.mktemp("small")
    submissions = base / "submissions"
    submit(submissions / "alice", editions / "student")
    submit(base / "bob" / "my-work", editions / "instructor", [RELU_BACKWARD])
    with zipfile.ZipFile(submissions / "bob.zip", "w") as archive:
        for path in (base / "bob").rglob("*"):
            archive.write(path, path.relative_to(base / "bob"))
    (submissions / "carol").mkdir()
    (submissions / "carol" / "notes.txt").write_text("no code here")
    (submissions / "dave.rar").write_bytes(b"not a zip")
    with zipfile.ZipFile(submissions / "erin.zip", "w") as archive:
        archive.writestr("../escaped.py", "print('outside')")
    # Without its optim/ package: an editable install of the instructor's tree must not fill it in.
    shutil.rmtree(submit(submissions / "frank", editions / "instructor") / "course_lib" / "optim")
    gradebook = base / "gradebook.csv"
    grade(submissions, gradebook, base / "feedback", jobs=2, timeout=TIMEOUT, seed=3, progress=False)
    return {"base": base, "submissions": submissions, "gradebook": gradebook, "text": gradebook.read_text()}


def test_a_missing_package_is_not_taken_from_the_instructor(small_class):
    row = read_gradebook(small_class["gradebook"])["frank"]
    assert row["status"] == "crashed" and float(row["total"]) == 0 and "importing course_lib failed" in row["note"]


def test_a_zip_one_folder_down_is_graded(small_class):
    assert lost_only(read_gradebook(small_class["gradebook"])["bob"], "relu.backward")


def test_invalid_entries_get_a_row_saying_why(small_class):
    rows = read_gradebook(small_class["gradebook"])
    assert rows["carol"]["status"] == "invalid" and "no course_lib/ folder" in rows["carol"]["note"]
    assert rows["dave.rar"]["status"] == "invalid" and "neither a folder nor a .zip" in rows["dave.rar"]["note"]
    assert rows["erin"]["status"] == "invalid" and "unsafe path" in rows["erin"]["note"]
    assert not (small_class["base"] / "escaped.py").exists()


def test_an_interrupted_run_resumes_to_the_same_gradebook(small_class, tmp_path):
    gradebook = tmp_path / "gradebook.csv"
    shutil.copy(str(small_class["gradebook"]) + ".run.json", str(gradebook) + ".run.json")
    header, first, second, *_ = small_class["text"].splitlines(keepends=True)
    gradebook.write_text(header + first + second[:10])  # killed while writing the second row
    grade(small_class["submissions"], gradebook, tmp_path / "feedback", timeout=TIMEOUT, seed=3, progress=False)
    assert gradebook.read_text() == small_class["text"]
    assert not (tmp_path / "feedback" / f"{first.split(',')[0]}.md").exists()  # kept, not graded again


def test_the_same_seed_gives_the_same_gradebook(small_class, tmp_path):
    grade(small_class["submissions"], tmp_path / "gradebook.csv", tmp_path / "feedback", timeout=TIMEOUT,
          seed=3, progress=False)
    assert (tmp_path / "gradebook.csv").read_text() == small_class["text"]


@pytest.mark.parametrize("switched_off", [(), ("seccomp", "memory cgroup", "output tmpfs", "own uid")],
                         ids=["without bubblewrap", "without any kernel protection"])
def test_resource_limits_alone_give_the_same_grades(small_class, tmp_path, switched_off):
    summary = grade(small_class["submissions"], tmp_path / "gradebook.csv", tmp_path / "feedback", timeout=TIMEOUT,
                    seed=3, use_bwrap=False, switched_off=switched_off, progress=False)
    assert (tmp_path / "gradebook.csv").read_text() == small_class["text"]
    assert all(f"MISSING {name} (switched off)" in summary for name in ("bubblewrap", *switched_off))


def test_resuming_with_another_seed_is_refused(small_class, tmp_path):
    shutil.copy(small_class["gradebook"], tmp_path / "gradebook.csv")
    shutil.copy(str(small_class["gradebook"]) + ".run.json", tmp_path / "gradebook.csv.run.json")
    with pytest.raises(ValueError, match="--seed"):
        grade(small_class["submissions"], tmp_path / "gradebook.csv", tmp_path / "feedback", seed=4, progress=False)


# --- the command ------------------------------------------------------------------------------------


def test_grade_is_a_subcommand_of_the_instructor_edition_only(editions, tmp_path):
    assert not (editions / "student" / "course_lib" / "grading").exists()
    result = subprocess.run([sys.executable, "-m", "course_lib", "grade", str(tmp_path), "--out",
                             str(tmp_path / "gb.csv"), "--feedback", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "graded 0 submission(s)" in result.stdout  # an empty class


def test_the_command_refuses_a_missing_submissions_folder(tmp_path, capsys):
    from course_lib.cli import main

    assert main(["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "gb.csv"),
                 "--feedback", str(tmp_path / "feedback")]) == 2
    assert "is not an existing folder" in capsys.readouterr().err and not (tmp_path / "gb.csv").exists()


def test_links_in_a_submission_folder_are_not_followed(tmp_path):
    from course_lib.grading.submissions import copy_package

    secret = tmp_path / "another_student" / "solution.py"
    secret.parent.mkdir()
    secret.write_text("SECRET")
    package = tmp_path / "entry" / "course_lib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "stolen.py").symlink_to(secret)
    (package / "stolen_folder").symlink_to(secret.parent)
    copy_package(tmp_path / "entry", tmp_path / "copy")
    copied = sorted(path.name for path in (tmp_path / "copy" / "course_lib").rglob("*"))
    assert copied == ["__init__.py"]


# --- the class report of the corpus ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def class_report(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    command = [sys.executable, "-m", "course_lib", "report", str(corpus["gradebook"]), "--out",
               str(folder / "class-report.html"), "--json", str(folder / "class-report.json")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return {"numbers": json.loads((folder / "class-report.json").read_text()), "summary": result.stdout,
            "html": (folder / "class-report.html").read_text()}


def exercise_numbers(class_report, exercise):
    return next(item for item in class_report["numbers"]["exercises"] if item["id"] == exercise)


def test_the_class_report_counts_each_known_mistake_with_its_students(corpus, class_report):
    assert class_report["numbers"]["students"] == len(corpus["rows"])
    for student, hint_id in WRONG_MATH:
        mistakes = {mistake["id"]: mistake for mistake in exercise_numbers(class_report, MISTAKE[hint_id][0])["mistakes"]}
        assert student in mistakes[hint_id]["students"]
        assert mistakes[hint_id]["text"] == f"{CATALOGUE[hint_id].name}: {CATALOGUE[hint_id].cause}"
    top = exercise_numbers(class_report, "relu.backward")["mistakes"][0]
    assert (top["id"], top["count"], top["students"]) == (
        "relu.backward/grad-output-forgotten", 2, ["forgets_grad_output", "forgets_grad_output_too"])
    assert "1. 2 of" in class_report["summary"] and "relu.backward/grad-output-forgotten" in class_report["summary"]


def test_the_class_report_agrees_with_the_gradebook(corpus, class_report):
    rows = corpus["rows"].values()
    for exercise, points in POINTS.items():
        numbers = exercise_numbers(class_report, exercise)
        earned = [float(row[exercise]) for row in rows]
        assert numbers["max_points"] == points
        assert numbers["pass_rate"] == pytest.approx(sum(value == points for value in earned) / len(earned))
        assert numbers["mean_points"] == pytest.approx(sum(earned) / len(earned))
        assert sum(numbers["statuses"].values()) == len(earned)
        assert numbers["statuses"]["review"] == sum(row["status"] == "review" for row in rows)
    assert exercise_numbers(class_report, "tanh.backward")["statuses"]["timeout"] >= 1  # hangs_in_tanh_backward
    flagged = {item["student"]: item["notes"] for item in class_report["numbers"]["review"]}
    assert set(flagged) == {student for student, row in corpus["rows"].items() if row["status"] == "review"}
    assert any("os.fork" in note for note in flagged["fork_bomb"])


def test_the_class_report_shows_no_value_of_a_case_and_no_students_code(corpus, class_report):
    page = class_report["html"]
    assert "not allowed" in page and "<script" not in page
    assert "time.sleep" not in page and "os._exit" not in page  # lines of the students' code
