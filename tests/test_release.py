"""The student edition (course_lib/release.py): what it stubs, keeps, leaves out and refuses.

The first tests use a small instructor tree of their own (fast). The last ones release the real
repository: no solution line leaks, the edition imports and checks as "not started", restoring the
solutions makes every exercise pass, and every student notebook runs top to bottom (slow).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib.release import ReleaseError, find_regions, main, release, restore_solutions, solution_regions

ROOT = Path(__file__).resolve().parents[1]

# --- a small instructor tree -----------------------------------------------------------------

# The registry is a package whose modules import one another relatively, like the course's.
REGISTRY_KINDS = '''
from collections import namedtuple

Exercise = namedtuple("Exercise", "id title notebook section file function points")
'''

REGISTRY = '''
from .kinds import Exercise

EXERCISES = (
    Exercise("double.forward", "Double", "01_numbers", "Doubling", "course_lib/layers.py", "Double.forward", 1),
    Exercise("halve", "Halve", "01_numbers", 'Halving "by hand"', "course_lib/layers.py", "halve", 1),
)
'''

LAYERS = '''\
"""Two exercises."""


class Double:
    def forward(self, x):
        """x: (*); returns 2 * x."""
        if x is None:
            raise TypeError("Double expects a number.")
        ### BEGIN SOLUTION
        doubled = x + x

        return doubled
        ### END SOLUTION


def halve(x):
    """x: (*); returns x / 2."""
    ### BEGIN SOLUTION
    return x / 2
    ### END SOLUTION
'''

STUDENT_LAYERS = '''\
"""Two exercises."""


class Double:
    def forward(self, x):
        """x: (*); returns 2 * x."""
        if x is None:
            raise TypeError("Double expects a number.")
        raise NotImplementedError("Exercise double.forward is not done yet: implement Double.forward in course_lib/layers.py — see notebooks/01_numbers.ipynb, section 'Doubling'.")


def halve(x):
    """x: (*); returns x / 2."""
    raise NotImplementedError("Exercise halve is not done yet: implement halve in course_lib/layers.py — see notebooks/01_numbers.ipynb, section 'Halving \\"by hand\\"'.")
'''

PYPROJECT = '''\
[project]
name = "fixture"

[tool.pytest.ini_options]
testpaths = ["tests", "notebooks"]
addopts = "-p no:cacheprovider"
'''


def fixture_notebook():
    cell = nbformat.v4
    notebook = cell.new_notebook(cells=[
        cell.new_markdown_cell("# Numbers\n## Doubling"),
        cell.new_code_cell("%load_ext course_lib.notebook", execution_count=1,
                           outputs=[cell.new_output("stream", name="stdout", text="loaded\n")]),
        cell.new_markdown_cell("## The instructor's notes", metadata={"tags": ["instructor-only"]}),
        cell.new_code_cell("print('answer key')", metadata={"tags": ["instructor-only", "other"]}),
        cell.new_code_cell("def triple(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n    ### END SOLUTION\n"
                           "triple(2)", execution_count=2,
                           outputs=[cell.new_output("execute_result", data={"text/plain": "6"}, execution_count=2)]),
    ])
    notebook.metadata["widgets"] = {"state": {}}
    return nbformat.writes(notebook)


INSTRUCTOR_TREE = {
    "course_lib/__init__.py": "",
    "course_lib/exercises/__init__.py": REGISTRY,
    "course_lib/exercises/kinds.py": REGISTRY_KINDS,
    "course_lib/layers.py": LAYERS,
    "course_lib/helpers.py": "def helper():\n    return 1\n",
    "course_lib/release.py": "# the release tool\n",
    "course_lib/grading/__init__.py": "# the grader\n",
    "course_lib/__pycache__/layers.cpython-311.pyc": "",
    "course_lib/nn/__pycache__/x.pyc": "",
    "notebooks/01_numbers.ipynb": fixture_notebook(),
    "notebooks/.ipynb_checkpoints/01_numbers-checkpoint.ipynb": "{}",
    "notebooks/data/values.csv": "1,2\n",
    "pyproject.toml": PYPROJECT,
    "environment.yml": "name: fixture\n",
    "README.md": "# Instructor edition\n",
    "CONTRIBUTING.md": "How we work\n",
    "tests/test_layers.py": "def test(): pass\n",
    "benchmarks/bench.py": "",
    ".ci/run": "pytest\n",
    ".git/HEAD": "ref: refs/heads/main\n",
    "fixture.egg-info/PKG-INFO": "",
    "submissions/alice/course_lib/layers.py": "# another student's work\n",
}

STUDENT_FILES = {
    "README.md", "pyproject.toml", "environment.yml",
    "course_lib/__init__.py", "course_lib/exercises/__init__.py", "course_lib/exercises/kinds.py",
    "course_lib/layers.py", "course_lib/helpers.py",
    "notebooks/01_numbers.ipynb", "notebooks/data/values.csv",
}


def write_tree(root, files):
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def files_in(root):
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


@pytest.fixture
def source(tmp_path):
    return write_tree(tmp_path / "instructor", INSTRUCTOR_TREE)


@pytest.fixture
def edition(source, tmp_path):
    return release(tmp_path / "student", source=source)


def test_regions_become_stubs_indented_like_them_and_the_rest_stays(edition):
    assert (edition / "course_lib/layers.py").read_text() == STUDENT_LAYERS
    assert (edition / "course_lib/helpers.py").read_text() == INSTRUCTOR_TREE["course_lib/helpers.py"]


def test_a_stub_raises_with_where_to_work(edition):
    namespace = {}
    exec((edition / "course_lib/layers.py").read_text(), namespace)
    assert namespace["halve"].__doc__ == "x: (*); returns x / 2."
    with pytest.raises(NotImplementedError, match=r"^Exercise halve is not done yet: implement halve in "
                       r"course_lib/layers.py — see notebooks/01_numbers.ipynb, section 'Halving \"by hand\"'\.$"):
        namespace["halve"](4)


def test_the_edition_holds_only_what_students_need(edition):
    assert files_in(edition) == STUDENT_FILES
    assert "course-lib check" in (edition / "README.md").read_text()


def test_pyproject_loses_the_test_paths_the_edition_lacks(edition):
    assert 'testpaths = ["notebooks"]\n' in (edition / "pyproject.toml").read_text()
    assert (edition / "pyproject.toml").read_text().replace('["notebooks"]', '["tests", "notebooks"]') == PYPROJECT


def test_notebooks_lose_outputs_instructor_cells_and_solutions(edition):
    notebook = nbformat.read(edition / "notebooks/01_numbers.ipynb", as_version=4)
    assert [cell.source.splitlines()[0] for cell in notebook.cells] == [
        "# Numbers", "%load_ext course_lib.notebook", "def triple(x):"]
    assert notebook.cells[2].source == (
        "def triple(x):\n    raise NotImplementedError(\"Exercise in notebooks/01_numbers.ipynb, section "
        "'Doubling', is not done yet: write the code here.\")\ntriple(2)")
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "widgets" not in notebook.metadata


MALFORMED = {
    "never closed": ("    ### END SOLUTION\n", "", "course_lib/layers.py:18: ### BEGIN SOLUTION is never closed"),
    "end without begin": ("    ### BEGIN SOLUTION\n", "", "course_lib/layers.py:19: ### END SOLUTION without"),
    "nested": ("    return x / 2\n", "    ### BEGIN SOLUTION\n    return x / 2\n",
               "course_lib/layers.py:19: ### BEGIN SOLUTION inside the region opened at line 18"),
    "misspelt": ("    ### END SOLUTION\n", "    ## END SOLUTION\n",
                 "course_lib/layers.py:20: '## END SOLUTION' looks like a solution marker"),
    "second region": ("    ### END SOLUTION\n", "    ### END SOLUTION\n    ### BEGIN SOLUTION\n    pass\n"
                      "    ### END SOLUTION\n", "course_lib/layers.py:21: a second marked region in halve"),
}


@pytest.mark.parametrize("old, new, message", MALFORMED.values(), ids=MALFORMED)
def test_malformed_markers_are_refused_and_nothing_is_written(source, tmp_path, old, new, message):
    layers = source / "course_lib/layers.py"
    assert layers.read_text().count(old) >= 1
    layers.write_text(layers.read_text()[::-1].replace(old[::-1], new[::-1], 1)[::-1])  # the last one
    with pytest.raises(ReleaseError) as refusal:
        release(tmp_path / "student", source=source)
    assert message in str(refusal.value)
    assert sorted(tmp_path.iterdir()) == [source]


def test_a_region_outside_every_registered_function_is_refused_with_its_line(source, tmp_path):
    (source / "notebooks/helper.py").write_text("def plot():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n")
    (source / "course_lib/helpers.py").write_text("### BEGIN SOLUTION\nSECRET = 1\n### END SOLUTION\n")
    with pytest.raises(ReleaseError) as refusal:
        release(tmp_path / "student", source=source)
    assert str(refusal.value).splitlines() == [
        "course_lib/helpers.py:1: marked region in module-level code, which no exercise in course_lib/exercises/ "
        "names; register the exercise or remove the markers.",
        "notebooks/helper.py:2: marked region in function plot, which no exercise in course_lib/exercises/ "
        "names; register the exercise or remove the markers.",
    ]
    assert not (tmp_path / "student").exists()


def test_a_registered_exercise_without_its_region_is_refused(source, tmp_path):
    layers = source / "course_lib/layers.py"
    layers.write_text(layers.read_text().replace("### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION\n",
                                                 "return x / 2\n"))
    with pytest.raises(ReleaseError, match="course_lib/layers.py: exercise halve names function halve, which has "
                                           "no marked region here"):
        release(tmp_path / "student", source=source)


def test_a_marked_notebook_cell_is_checked_too(source, tmp_path):
    notebook = source / "notebooks/01_numbers.ipynb"
    notebook.write_text(notebook.read_text().replace("### END SOLUTION", "### END"))
    with pytest.raises(ReleaseError, match=r"notebooks/01_numbers.ipynb, cell 5:2: ### BEGIN SOLUTION is never closed"):
        release(tmp_path / "student", source=source)


def test_a_non_empty_out_is_refused_and_left_untouched(source, tmp_path):
    work = write_tree(tmp_path / "student", {"course_lib/layers.py": "my own work\n"})
    with pytest.raises(ReleaseError, match="exists and is not empty; release never overwrites it.*--force"):
        release(work, source=source)
    assert files_in(work) == {"course_lib/layers.py"}
    assert (work / "course_lib/layers.py").read_text() == "my own work\n"


def test_an_empty_out_is_used(source, tmp_path):
    (tmp_path / "student").mkdir()
    assert files_in(release(tmp_path / "student", source=source)) == STUDENT_FILES


def test_force_replaces_out_with_a_complete_edition(source, tmp_path):
    old = write_tree(tmp_path / "student", {"stale.txt": "last year\n"})
    release(old, source=source, force=True)
    assert files_in(old) == STUDENT_FILES
    assert sorted(path.name for path in tmp_path.iterdir()) == ["instructor", "student"]  # no temp folders left


def test_force_with_a_bad_source_keeps_out_as_it_was(source, tmp_path):
    old = write_tree(tmp_path / "student", {"stale.txt": "last year\n"})
    (source / "course_lib/layers.py").write_text(LAYERS + "### BEGIN SOLUTION\n")
    with pytest.raises(ReleaseError):
        release(old, source=source, force=True)
    assert files_in(old) == {"stale.txt"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["instructor", "student"]


@pytest.mark.parametrize("out", ["instructor", "instructor/notebooks/out", "."])
def test_an_out_overlapping_the_source_is_refused(source, tmp_path, out):
    with pytest.raises(ReleaseError, match="overlaps the source"):
        release(tmp_path / out, source=source, force=True)
    assert (source / "course_lib/layers.py").read_text() == LAYERS


def test_main_reports_a_refusal_on_stderr_with_a_nonzero_exit(source, tmp_path, capsys):
    (source / "course_lib/layers.py").write_text(LAYERS.replace("        ### END SOLUTION\n", ""))
    assert main(tmp_path / "student", source) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("course-lib release: nothing written.\n"
                                   "course_lib/layers.py:17: ### BEGIN SOLUTION inside the region opened at line 9")


def test_solution_regions_lists_each_region_with_its_lines(source):
    regions = solution_regions(source / "course_lib/layers.py", root=source)
    assert [(region.where, region.begin, region.end, region.indent, region.lines) for region in regions] == [
        ("course_lib/layers.py", 9, 13, "        ", ("        doubled = x + x", "", "        return doubled")),
        ("course_lib/layers.py", 18, 20, "    ", ("    return x / 2",)),
    ]
    assert [region.where for region in solution_regions(source / "notebooks/01_numbers.ipynb", root=source)] == [
        "notebooks/01_numbers.ipynb, cell 5"]


def test_restore_solutions_gives_back_the_instructor_files(edition, source):
    assert restore_solutions(edition, source) == ["double.forward", "halve"]
    assert (edition / "course_lib/layers.py").read_text() == LAYERS


def test_restore_solutions_refuses_an_unknown_stub_before_changing_anything(edition, source):
    (edition / "course_lib/helpers.py").write_text('raise NotImplementedError("Exercise triple is not done yet")\n')
    with pytest.raises(ReleaseError, match=r"helpers.py:1: stub of exercise triple, which .* does not register"):
        restore_solutions(edition, source)
    assert (edition / "course_lib/layers.py").read_text() == STUDENT_LAYERS


def test_the_release_command_writes_an_edition_and_refuses_a_second_time(source, tmp_path, capsys):
    from course_lib.cli import main as course_lib_command

    command = ["release", str(tmp_path / "student"), "--source", str(source)]
    assert course_lib_command(command) == 0
    assert files_in(tmp_path / "student") == STUDENT_FILES
    assert course_lib_command(command) != 0
    assert "exists and is not empty" in capsys.readouterr().err


# --- the real repository ---------------------------------------------------------------------

# On the child's PYTHONPATH after the tree it runs: hides an editable install of the instructor edition
# (pip install -e .), whose import hook would otherwise supply the modules a student edition leaves out.
HIDE_EDITABLE_INSTALL = """
import sys
sys.meta_path[:] = [finder for finder in sys.meta_path
                    if not getattr(finder, "__module__", "").startswith("__editable__")]
"""


@pytest.fixture(scope="module")
def run_python(tmp_path_factory):
    """Run python in a tree, importing course_lib from that tree only."""
    isolation = tmp_path_factory.mktemp("isolation")
    (isolation / "sitecustomize.py").write_text(HIDE_EDITABLE_INSTALL)

    def run(*arguments, cwd, timeout=600):
        environment = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{isolation}", "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.run([sys.executable, *arguments], cwd=cwd, env=environment, capture_output=True,
                              text=True, timeout=timeout)

    return run


@pytest.fixture(scope="module")
def course_edition(tmp_path_factory):
    return release(tmp_path_factory.mktemp("release") / "student")


def course_exercise_ids():
    from course_lib.exercises import EXERCISES

    return [exercise.id for exercise in EXERCISES]


def is_trivial(line):
    """Too generic to count as a leaked solution: under 20 characters once stripped (blank lines, lone
    brackets, ``return output``, ``else:``, ``x = x + 1``), or without a letter, digit or underscore."""
    stripped = line.strip()
    return len(stripped) < 20 or not re.search(r"\w", stripped)


def cell_sources(path):
    """(cell type, source) of every cell of a notebook, or ("code", text) of a Python file."""
    if path.suffix == ".ipynb":
        return [(cell.cell_type, cell.source) for cell in nbformat.read(path, as_version=4).cells]
    return [("code", path.read_text(encoding="utf-8"))]


def split_by_regions(path):
    """(stripped lines inside solution regions, stripped lines outside them) of a .py file or notebook."""
    inside, outside = [], []
    for cell_type, source in cell_sources(path):
        lines = source.splitlines()
        regions = find_regions(lines, str(path)) if cell_type == "code" else []
        marked = {number for region in regions for number in range(region.begin, region.end + 1)}
        for number, line in enumerate(lines, 1):
            (inside if number in marked else outside).append(line.strip())
    return inside, outside


def instructor_sources():
    """The instructor's Python files and notebooks in the parts of the tree an edition draws from."""
    for part in ("course_lib", "notebooks"):
        for path in sorted((ROOT / part).rglob("*")):
            if path.suffix in (".py", ".ipynb") and not {"__pycache__", ".ipynb_checkpoints"} & set(path.parts):
                yield path


def student_lines(edition):
    """(relative path, line) for every line of every text file of the edition, notebook cells included."""
    for path in sorted(edition.rglob("*")):
        if path.is_file():
            try:
                sources = cell_sources(path) if path.suffix in (".py", ".ipynb") else [("", path.read_text())]
            except UnicodeDecodeError:
                continue
            for _, source in sources:
                yield from ((path.relative_to(edition).as_posix(), line) for line in source.splitlines())


def test_no_solution_line_reaches_the_student_edition(course_edition):
    # A solution line is secret unless the instructor edition also shows it outside every region, in a
    # file students get (then it is part of the exercise text, not of the solution).
    secret, shown = set(), set()
    for path in instructor_sources():
        inside, outside = split_by_regions(path)
        secret.update(line for line in inside if not is_trivial(line))
        if (course_edition / path.relative_to(ROOT)).exists():
            shown.update(outside)
    secret -= shown
    assert len(secret) > 50, "expected the course's solutions to have many non-trivial lines"
    leaks = [f"{file}: {line.strip()}" for file, line in student_lines(course_edition) if line.strip() in secret]
    assert leaks == []


def test_student_notebooks_have_no_outputs(course_edition):
    cells = [cell for path in (course_edition / "notebooks").glob("*.ipynb")
             for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in cells)


def test_the_student_edition_imports_its_own_course_lib(course_edition, run_python):
    imported = run_python("-c", "import course_lib, course_lib.nn, course_lib.optim, course_lib.notebook; "
                                "print(course_lib.__file__)", cwd=course_edition)
    assert imported.returncode == 0, imported.stderr
    assert Path(imported.stdout.strip()).is_relative_to(course_edition)


def test_the_student_edition_checks_every_exercise_as_not_started(course_edition, run_python):
    check = run_python("-m", "course_lib", "check", cwd=course_edition)
    assert check.returncode == 0, check.stdout + check.stderr
    for exercise_id in course_exercise_ids():
        assert re.search(rf"^\W*{re.escape(exercise_id)}\b.*not started", check.stdout, re.MULTILINE), exercise_id


@pytest.mark.parametrize("command", [["grade", "submissions", "--out", "gradebook.csv"], ["release", "out"]])
def test_instructor_commands_say_so_in_the_student_edition(course_edition, run_python, command):
    run = run_python("-m", "course_lib", *command, cwd=course_edition)
    assert run.returncode != 0
    assert "for instructors" in run.stderr
    assert "Traceback" not in run.stderr


def test_restoring_the_solutions_makes_every_exercise_pass(course_edition, tmp_path, run_python):
    restored = shutil.copytree(course_edition, tmp_path / "restored")
    assert sorted(restore_solutions(restored, ROOT)) == sorted(course_exercise_ids())
    for path in (restored / "course_lib").rglob("*.py"):
        assert path.read_text() == (ROOT / path.relative_to(restored)).read_text(), path
    check = run_python("-m", "course_lib", "check", cwd=restored)
    assert check.returncode == 0, check.stdout + check.stderr
    for exercise_id in course_exercise_ids():
        assert re.search(rf"^\W*{re.escape(exercise_id)}\b.*pass", check.stdout, re.MULTILINE), exercise_id


@pytest.mark.slow
def test_slow_every_student_notebook_runs_top_to_bottom(course_edition, run_python):
    # The slow one (minutes): nbval runs each student notebook in its own kernel, two at a time.
    if not list((course_edition / "notebooks").glob("*.ipynb")):
        pytest.skip("notebooks/ has no notebooks yet (colleagues are writing them)")
    run = run_python("-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile",
                     "notebooks", cwd=course_edition, timeout=1800)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
