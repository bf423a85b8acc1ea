"""The notebook helper: %%needs runs a cell only when its exercises are done, and says why not.

Each test builds a tiny package with one finished and one stubbed exercise, and a registry naming
them in place of course_lib/exercises.py, so it does not depend on the course's own exercises.
"""

import os
import platform
import subprocess
import sys
import textwrap
import types
import uuid
from collections import namedtuple

import matplotlib
import nbformat
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_lib.notebook import SEED, SMALL_FIGURES, exercise_done, missing_exercises, stub_line

Exercise = namedtuple("Exercise", "id title notebook section file function points")

LAYER_DONE = '''
class Double:
    def forward(self, x):
        return 2 * x
'''


def layer_source(halve_body):
    return LAYER_DONE + f'''

def halve(x):
    """x: any tensor; returns x / 2."""
    {halve_body}
'''


@pytest.fixture
def exercises(tmp_path, monkeypatch):
    """A package on sys.path with exercise "double.forward" done and "halve" stubbed; the registry."""
    package = f"magic_fixture_{uuid.uuid4().hex[:8]}"
    file = f"{package}/layers.py"
    registry = (Exercise("double.forward", "Double", "01_numbers", "Doubling", file, "Double.forward", 1),
                Exercise("halve", "Halve", "01_numbers", "Halving", file, "halve", 1))
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / file).write_text(layer_source(stub_line(registry[1])))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "course_lib.exercises", types.SimpleNamespace(EXERCISES=registry))
    return types.SimpleNamespace(root=tmp_path, file=tmp_path / file, package=package, registry=registry)


def finish_halve(exercises):
    """Write the student's solution of "halve", dated later so no cached bytecode is reused."""
    exercises.file.write_text(layer_source("return x / 2"))
    later = exercises.file.stat().st_mtime + 10
    os.utime(exercises.file, (later, later))


@pytest.fixture(scope="module")
def shell():
    from IPython.testing.globalipapp import start_ipython

    with matplotlib.rc_context():  # the extension's figure defaults must not outlive these tests
        shell = start_ipython()
        shell.run_line_magic("load_ext", "course_lib.notebook")
        yield shell


def test_python_helpers_tell_done_from_stubbed(exercises):
    assert exercise_done("double.forward")
    assert not exercise_done("halve")
    assert [exercise.id for exercise in missing_exercises("halve", "double.forward")] == ["halve"]


def test_python_helpers_reject_an_unknown_id(exercises):
    with pytest.raises(ValueError, match=r"Unknown exercise id\(s\): halv\b.*Known ids.*double\.forward, halve"):
        missing_exercises("double.forward", "halv")


def test_needs_runs_the_body_when_every_exercise_is_done(shell, exercises, capsys):
    result = shell.run_cell("%%needs double.forward\nvalue = 20\nvalue + 1")
    assert result.success
    assert result.result == 21
    assert shell.user_ns["value"] == 20


def test_needs_skips_the_body_with_one_line_per_missing_exercise(shell, exercises, capsys):
    shell.user_ns.pop("ran", None)
    result = shell.run_cell("%%needs double.forward halve\nran = True")
    assert result.success  # no error: "Run All" goes on
    assert "ran" not in shell.user_ns
    assert capsys.readouterr().out.splitlines() == [
        f"This cell needs exercise halve, not done yet: implement halve in {exercises.package}/layers.py "
        "— see 01_numbers, section 'Halving'."
    ]


def test_needs_sees_an_exercise_finished_since_the_last_cell(shell, exercises, capsys):
    assert shell.run_cell("%%needs halve\nhalf = 1").success
    assert "half" not in shell.user_ns
    finish_halve(exercises)
    result = shell.run_cell(f"%%needs halve\nfrom {exercises.package}.layers import halve\nhalve(8)")
    assert result.result == 4


def test_needs_lets_an_error_in_the_body_fail_the_cell(shell, exercises):
    result = shell.run_cell("%%needs double.forward\n1 / 0")
    assert isinstance(result.error_in_exec, ZeroDivisionError)


@pytest.mark.parametrize("line, expected", [("double.forward halv", "Unknown exercise id"),
                                            ("", "expects exercise ids")])
def test_needs_refuses_a_bad_line(shell, exercises, capsys, line, expected):
    result = shell.run_cell(f"%%needs {line}\nran_anyway = True")
    assert not result.success
    assert "ran_anyway" not in shell.user_ns
    assert expected in capsys.readouterr().err


def notebook_of(*sources):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources],
                                    metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})


def kernel_setup(exercises):
    """A first cell that puts the fixture's registry in place of course_lib.exercises in the kernel."""
    return textwrap.dedent(f"""
        import sys, types
        from collections import namedtuple
        sys.path[:0] = [{str(exercises.root)!r}, {os.getcwd()!r}]
        Exercise = namedtuple("Exercise", "id title notebook section file function points")
        sys.modules["course_lib.exercises"] = types.SimpleNamespace(
            EXERCISES=tuple(Exercise(*fields) for fields in {[tuple(e) for e in exercises.registry]!r}))
        %load_ext course_lib.notebook
        import matplotlib
    """)


def test_a_kernel_runs_all_cells_past_a_stubbed_exercise(exercises):
    notebook = notebook_of(kernel_setup(exercises),
                           "%%needs halve\nprint('halved')",
                           "%%needs double.forward\nprint('doubled')",
                           "import torch\nprint(torch.rand(1).item(), tuple(matplotlib.rcParams['figure.figsize']))")
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    skipped, ran, settings = (notebook.cells[index].outputs for index in (1, 2, 3))
    assert [output.output_type for output in skipped] == ["stream"]
    assert skipped[0].text.startswith("This cell needs exercise halve, not done yet")
    assert ran[0].text == "doubled\n"
    torch.manual_seed(SEED)
    assert settings[0].text == f"{torch.rand(1).item()} {SMALL_FIGURES['figure.figsize']}\n"


def test_a_kernel_fails_a_cell_with_an_unknown_id(exercises):
    notebook = notebook_of(kernel_setup(exercises), "%%needs double.froward\nprint('ran')")
    with pytest.raises(CellExecutionError, match="Unknown exercise id"):
        NotebookClient(notebook, timeout=60, kernel_name="python3").execute()


MALLINFO_SCRIPT = """
import ctypes, sys, torch
from course_lib.notebook import keep_freed_memory
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
block = torch.empty(100 << 20, dtype=torch.uint8)  # 100 MiB, far above glibc's default mmap threshold
mapped_while_alive = libc.mallinfo2().hblkhd
del block
print(applied, mapped_while_alive >= 100 << 20, libc.mallinfo2().arena >= 100 << 20)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="keep_freed_memory changes glibc's malloc only")
@pytest.mark.parametrize("mode, expected", [("keep", "True False True"), ("default", "False True False")])
def test_keep_freed_memory_serves_large_blocks_from_the_heap_and_keeps_them(mode, expected):
    # Default glibc maps a 100 MiB block on its own and unmaps it when freed; kept, it comes from the heap
    # and stays there for the next allocation.
    run = subprocess.run([sys.executable, "-c", MALLINFO_SCRIPT, mode], capture_output=True, text=True, check=True)
    assert run.stdout.split() == expected.split()
