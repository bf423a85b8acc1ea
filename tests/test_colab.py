"""The Colab setup cell and course_lib/colab.py: on Colab, the course is installed once per runtime and the
student's course_lib/ lives on their Google Drive; anywhere else, nothing happens.

Colab is faked in a child process: a ``google.colab`` package whose ``drive.mount`` makes a folder in
tmp_path, a shell whose ``%pip`` "installs" a small course_lib the way pip would (and points its Drive
at that folder instead of /content/drive), and a runtime's site-packages that a disconnect wipes.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

import course_lib.colab
from course_lib.release import Publication
from test_release import HIDE_EDITABLE_INSTALL

ROOT = Path(__file__).resolve().parents[1]
REPO = "https://github.com/teacher/backprop-2027"
SETUP_CELL = Publication(REPO).setup_cell()
SETUP_CODE = TransformerManager().transform_cell(SETUP_CELL)  # the Python that IPython runs for the cell
PIP_INSTALL = ("pip", f"install -q --no-deps git+{REPO}@main")

STUB = 'def relu():\n    raise NotImplementedError("Exercise relu is not done yet")\n'
STUDENTS_RELU = 'def relu():\n    return "my relu"\n'

FAKE_DRIVE_MODULE = '''
import json, os
from pathlib import Path

def mount(mountpoint):
    assert mountpoint == os.environ["DRIVE"], f"the test's Drive is {os.environ['DRIVE']}, not {mountpoint}"
    with open(os.environ["MOUNT_LOG"], "a") as log:
        log.write(json.dumps(mountpoint) + "\\n")
    Path(mountpoint, "MyDrive").mkdir(parents=True, exist_ok=True)
'''

# A Colab runtime: runs the setup cell ``RUNS`` times (the student running it again), then reports.
RUNTIME = '''
import importlib, importlib.util, json, os, shutil, sys
from pathlib import Path

import google.colab  # Colab's kernel imports it at start-up


def use_the_tests_drive():
    """Point the course_lib.colab that the cell will import at the test's Drive, not /content/drive."""
    import course_lib.colab
    course_lib.colab.DRIVE = Path(os.environ["DRIVE"])


class Shell:
    """What the cell uses of IPython's shell: %pip, here copying the package into the runtime's site-packages."""
    magics = []

    def run_line_magic(self, name, line):
        self.magics.append([name, line])
        shutil.copytree(os.environ["PACKAGE"], Path(os.environ["SITE"]) / "course_lib")
        use_the_tests_drive()


shell = Shell()
for _ in range(int(os.environ["RUNS"])):
    if importlib.util.find_spec("course_lib"):
        use_the_tests_drive()
    exec(os.environ["CELL"], {"get_ipython": lambda: shell})
from course_lib.nn import activation
try:
    relu = activation.relu()
except NotImplementedError as stub:
    relu = str(stub)
print(json.dumps({"magics": shell.magics, "activation": activation.__file__, "relu": relu}))
'''


@pytest.fixture
def colab(tmp_path):
    """Run the setup cell in a fresh faked Colab runtime: ``colab(runs=1)`` returns (report, printed)."""
    fake = tmp_path / "fake"
    for module, text in {"google/__init__.py": "", "google/colab/__init__.py": "",
                         "google/colab/drive.py": FAKE_DRIVE_MODULE}.items():
        (fake / module).parent.mkdir(parents=True, exist_ok=True)
        (fake / module).write_text(text)
    (fake / "sitecustomize.py").write_text(HIDE_EDITABLE_INSTALL)
    package = tmp_path / "installed" / "course_lib"  # what pip installs from the student edition, in small
    for module, text in {"__init__.py": "", "nn/__init__.py": "", "nn/activation.py": STUB,
                         "colab.py": (ROOT / "course_lib/colab.py").read_text()}.items():
        (package / module).parent.mkdir(parents=True, exist_ok=True)
        (package / module).write_text(text)

    def run(runs=1):
        site = tmp_path / "runtime-site-packages"
        shutil.rmtree(site, ignore_errors=True)  # a new runtime: nothing installed yet
        site.mkdir()
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(fake)]),
                       "PYTHONDONTWRITEBYTECODE": "1", "CELL": SETUP_CODE, "RUNS": str(runs),
                       "PACKAGE": str(package), "SITE": str(site), "DRIVE": str(tmp_path / "drive"),
                       "MOUNT_LOG": str(tmp_path / "mounts.log")}
        runtime = subprocess.run([sys.executable, "-c", RUNTIME], env=environment, cwd=tmp_path,
                                 capture_output=True, text=True, timeout=120)
        assert runtime.returncode == 0, runtime.stderr
        *printed, report = runtime.stdout.splitlines()
        return json.loads(report), "\n".join(printed)

    return run


def course_on_drive(tmp_path):
    return tmp_path / "drive" / "MyDrive" / "backprop-by-hand" / "course_lib"


def test_on_colab_the_cell_installs_the_course_and_imports_it_from_drive(colab, tmp_path):
    report, printed = colab()
    assert report["magics"] == [list(PIP_INSTALL)]
    assert [json.loads(line) for line in (tmp_path / "mounts.log").read_text().splitlines()] == [
        str(tmp_path / "drive")]
    drive_copy = course_on_drive(tmp_path)
    assert sorted(path.relative_to(drive_copy).as_posix() for path in drive_copy.rglob("*.py")) == [
        "__init__.py", "colab.py", "nn/__init__.py", "nn/activation.py"]
    assert report["activation"] == str(drive_copy / "nn" / "activation.py")
    assert report["relu"] == "Exercise relu is not done yet"
    assert "Your course_lib/ is on your Google Drive, in MyDrive/backprop-by-hand/course_lib (4 files" in printed


def test_the_students_edits_on_drive_survive_a_new_runtime(colab, tmp_path):
    colab()
    drive_copy = course_on_drive(tmp_path)
    (drive_copy / "nn" / "activation.py").write_text(STUDENTS_RELU)
    (drive_copy / "nn" / "__init__.py").unlink()  # as if the first copy had been cut short

    report, printed = colab()  # Colab disconnected: a new runtime, with nothing installed

    assert report["magics"] == [list(PIP_INSTALL)]
    assert (drive_copy / "nn" / "activation.py").read_text() == STUDENTS_RELU
    assert report["activation"] == str(drive_copy / "nn" / "activation.py")
    assert report["relu"] == "my relu"
    assert (drive_copy / "nn" / "__init__.py").exists()
    assert "(1 file copied there)" in printed


def test_running_the_cell_again_in_a_runtime_installs_nothing_more(colab, tmp_path):
    report, _ = colab(runs=3)
    assert report["magics"] == [list(PIP_INSTALL)]
    assert report["activation"] == str(course_on_drive(tmp_path) / "nn" / "activation.py")


def test_elsewhere_the_setup_cell_does_nothing(tmp_path, monkeypatch):
    assert not course_lib.colab.on_colab(), "this test runs outside Colab"
    monkeypatch.setattr(course_lib.colab, "DRIVE", tmp_path / "drive")
    path, modules = list(sys.path), dict(sys.modules)

    class Shell:
        def run_line_magic(self, name, line):
            raise AssertionError(f"the cell ran %{name} {line} outside Colab")

    exec(SETUP_CODE, {"get_ipython": Shell})
    assert sys.path == path
    assert {name: module for name, module in sys.modules.items() if name.startswith("course_lib")} == {
        name: module for name, module in modules.items() if name.startswith("course_lib")}
    assert not (tmp_path / "drive").exists()
    assert course_lib.colab.keep_course_on_drive() is None


def test_copy_missing_files_never_replaces_a_file(tmp_path):
    package, target = tmp_path / "package", tmp_path / "target"
    for folder, files in {package: {"a.py": "new a", "sub/b.py": "new b", "__pycache__/a.pyc": ""},
                          target: {"a.py": "student's a"}}.items():
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
    assert course_lib.colab.copy_missing_files(package, target) == ["sub/b.py"]
    assert (target / "a.py").read_text() == "student's a"
    assert not (target / "__pycache__").exists()


def test_the_setup_cell_is_short_and_says_what_it_does():
    comment, *code = SETUP_CELL.splitlines()
    assert comment.startswith("# On Google Colab only") and "Elsewhere it does nothing" in comment
    assert len(code) <= 4 and max(len(line) for line in code) <= 100
    compile(SETUP_CODE, "<setup cell>", "exec")
