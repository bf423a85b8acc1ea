"""The Gradescope autograder: the exported zip, and run_autograder in an emulated container.

Gradescope's layout is emulated in a temporary root that every user may traverse (so that only the
autograder's own permissions keep a student's process out of source/ and results/): source/ holds
the extracted zip, submission/ the student's upload, run_autograder is copied to the root and run
from it with COURSE_LIB_AUTOGRADER_ROOT pointing there. setup.sh is not run (it downloads from the
package indexes): python3 is the one of this environment, which has what setup.sh installs. Where
the test says so, PATH holds only bash and python3, so that bubblewrap cannot be found, as in a
Docker container where it cannot run: the grader then falls back to its own uid per child.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from grading_corpus import MAX_POINTS, POINTS, make_editions, submit

from course_lib.cli import main
from course_lib.grading import gradescope
from course_lib.grading.submissions import InvalidSubmission

SEED = 11
SOLUTION_TEXT = "return input.clamp(min=0)"  # ReLU.forward's solution line
# Gradescope's autograder specification: results.json's fields and their values.
RESULT_FIELDS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
                 "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
               "visibility", "extra_data"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    return make_editions(tmp_path_factory.mktemp("editions"))


@pytest.fixture(scope="module")
def roots():
    """Where the emulated /autograder folders go: outside pytest's own temporary folders, which only
    their owner may pass through (that would keep a child out whatever the autograder does)."""
    folder = Path(tempfile.mkdtemp(prefix="course-lib-gradescope-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "autograder.zip"
    assert main(["export", "gradescope", str(path), "--seed", str(SEED)]) == 0
    return path


def run_autograder(autograder_zip, roots, upload, without_bwrap=True):
    """Run the autograder on a submission made by ``upload(submission_folder)``; returns (results.json's
    content, the emulated /autograder, run_autograder's stdout)."""
    root = Path(tempfile.mkdtemp(dir=roots))
    root.chmod(0o755)  # as /autograder: every user may pass through
    for name in ("source", "submission", "results"):
        (root / name).mkdir(mode=0o755)
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    upload(root / "submission")
    path = os.environ.get("PATH", "/usr/bin:/bin")
    if without_bwrap:
        tools = root / "bin"
        tools.mkdir()
        (tools / "bash").symlink_to(shutil.which("bash"))
        (tools / "python3").symlink_to(sys.executable)
        path = str(tools)
    else:
        path = f"{Path(sys.executable).parent}:{path}"
    env = {"PATH": path, "COURSE_LIB_AUTOGRADER_ROOT": str(root), "LC_ALL": "C.UTF-8"}
    completed = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                               timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    return results, root, completed.stdout


def check_schema(results):
    """results.json as Gradescope's specification has it, one test per exercise, the score their sum."""
    assert set(results) <= RESULT_FIELDS and set(results["tests"][0]) <= TEST_FIELDS
    assert results["visibility"] in VISIBILITIES and results["stdout_visibility"] in VISIBILITIES
    assert results["output_format"] in FORMATS and isinstance(results["output"], str)
    assert [test["name"] for test in results["tests"]] == list(POINTS)
    for test in results["tests"]:
        assert set(test) <= TEST_FIELDS and test["visibility"] in VISIBILITIES and test["output_format"] in FORMATS
        assert test["max_score"] == POINTS[test["name"]] and 0 <= test["score"] <= test["max_score"]
        assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")
        assert isinstance(test["output"], str) and test["output"]
    assert results["score"] == sum(test["score"] for test in results["tests"])


def test_the_zip_follows_gradescopes_contract(autograder_zip):
    assert os.stat(autograder_zip).st_mode & 0o777 == 0o600  # it holds the solutions and the seed
    with zipfile.ZipFile(autograder_zip) as archive:
        names = archive.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        torch_requirement = archive.read("requirements-torch.txt").decode().split()
        config = json.loads(archive.read("autograder.json"))
    assert {"setup.sh", "run_autograder"} <= set(names)
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert torch_requirement == ["torch==2.13.0"]
    torch_line = next(line for line in setup.splitlines() if "requirements-torch.txt" in line or "--index-url" in line)
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_line  # never a CUDA build
    assert setup.index("requirements-torch.txt") < setup.index("requirements.txt\"")
    assert "chmod -R go-rwx" in setup
    assert config["seed"] == SEED and "course/course_lib/grading/grader.py" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_without_a_seed_each_export_has_a_new_secret_one(tmp_path):
    seeds = set()
    for name in ("a.zip", "b.zip"):
        gradescope.export(tmp_path / name)
        with zipfile.ZipFile(tmp_path / name) as archive:
            seeds.add(json.loads(archive.read("autograder.json"))["seed"])
    assert len(seeds) == 2


def test_the_instructor_edition_nested_one_folder_down_gets_full_marks(autograder_zip, roots, editions):
    results, root, stdout = run_autograder(
        autograder_zip, roots, lambda folder: submit(folder / "backprop-by-hand", editions / "instructor"),
        without_bwrap=False)
    check_schema(results)
    assert results["score"] == MAX_POINTS and all(test["status"] == "passed" for test in results["tests"])
    assert "Status: ok" in results["output"] and "MISSING bubblewrap" not in stdout


def test_the_student_edition_zipped_gets_zero(autograder_zip, roots, editions, tmp_path):
    work = submit(tmp_path / "work", editions / "student")

    def upload(folder):
        with zipfile.ZipFile(folder / "my-course.zip", "w") as archive:
            for path in work.rglob("*"):
                archive.write(path, path.relative_to(work))

    results, root, stdout = run_autograder(autograder_zip, roots, upload)
    check_schema(results)
    assert results["score"] == 0 and "not done yet" in results["tests"][0]["output"]
    assert "MISSING bubblewrap" in stdout and "own uid" in stdout


def forger_code(root):
    """Run at import by a submission on the stubs: forge results.json, read the seed and the solutions."""
    forged = json.dumps({"score": 1000, "tests": []})
    return f"""
import glob
for target in ("{root}/results/results.json", "{root}/results/forged.json"):
    try:
        with open(target, "w") as file:
            file.write({forged!r})
        print("WROTE", target)
    except OSError as error:
        print("could not write", target, type(error).__name__)
for target in ["{root}/source/autograder.json", "{root}/source/course/course_lib/nn/activation.py"]:
    try:
        print("READ", open(target).read())
    except OSError as error:
        print("could not read", target, type(error).__name__)
print("LISTED", glob.glob("{root}/source/*") + glob.glob("{root}/results/*"))
"""


def test_a_forger_gets_nothing_and_reads_neither_seed_nor_solutions(autograder_zip, roots, editions):
    def upload(folder):
        submit(folder, editions / "student", prepend=forger_code(folder.parent))

    results, root, stdout = run_autograder(autograder_zip, roots, upload)
    check_schema(results)
    text = json.dumps(results)
    assert results["score"] == 0 and "1000" not in text
    assert text.count("could not write") == 2 and text.count("could not read") == 2 and "PermissionError" in text
    assert "WROTE" not in text and "READ" not in text and "LISTED []" in text
    assert SOLUTION_TEXT not in text and f'"seed": {SEED}' not in text
    assert sorted(os.listdir(root / "results")) == ["results.json"]
    assert (root / "source").stat().st_mode & 0o777 == 0o700 and (root / "results").stat().st_mode & 0o777 == 0o700


def test_the_package_is_found_at_the_top_one_folder_down_or_as_one_zip(tmp_path):
    top = tmp_path / "top"
    (top / "course_lib").mkdir(parents=True)
    (top / "course_lib" / "__init__.py").write_text("")
    assert gradescope.package_parents(top) == (["."], [])
    nested = tmp_path / "nested"
    shutil.copytree(top, nested / "repo" / "src")
    (nested / "notes.zip").write_bytes(b"")
    assert gradescope.package_parents(nested) == (["repo/src"], ["notes.zip"])
    twice = tmp_path / "twice"
    shutil.copytree(top, twice / "a")
    shutil.copytree(top, twice / "b")
    with pytest.raises(InvalidSubmission, match="several course_lib"):
        gradescope.place_submission(twice, tmp_path / "class-twice")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidSubmission, match="no course_lib/ folder was found"):
        gradescope.place_submission(tmp_path / "empty", tmp_path / "class-empty")


def test_without_bubblewrap_or_root_the_autograder_refuses_to_grade(monkeypatch, tmp_path):
    from course_lib.grading import isolation

    monkeypatch.setattr(gradescope.isolation, "probe",
                        lambda: isolation.Isolation({"bubblewrap": "switched off", "own uid": "not running as root"}))
    results = gradescope.grade_submission(tmp_path, {"seed": SEED, "timeout": 60})
    check_schema(results)
    assert results["score"] == 0 and "needs bubblewrap or root" in results["output"]
