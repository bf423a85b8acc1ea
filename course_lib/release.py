"""The student edition of the course: every solution replaced by a stub, notebooks cleaned.

    course-lib release OUT [--force] [--source DIR]      (or: python -m course_lib release OUT)

Writes to OUT the edition students get from this repository (the folder holding course_lib/, or
``--source DIR``):

- ``course_lib/``: each region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes one line,
  indented like the region: ``raise NotImplementedError("Exercise <id> is not done yet: implement
  <function> in <file> — see notebooks/<notebook>.ipynb, section '<section>'.")``, from the registry
  (``course_lib/exercises/``). Everything outside the markers stays: signatures, docstrings, checks.
- ``notebooks/``: marked regions in code cells stubbed alike; outputs and execution counts cleared;
  cells tagged ``instructor-only`` dropped.
- ``pyproject.toml`` (without test paths the edition lacks), ``environment.yml``, ``conftest.py`` (one
  torch thread per notebook kernel under pytest) and a student README.

Nothing else is copied (an allowlist, so nothing kept beside the course, such as submissions, can
leak): no tests, benchmarks, CI, CONTRIBUTING.md, no grader (``course_lib/grading/``), not this
module, no caches.

Everything is checked before anything is written. Malformed markers, a marked region outside every
registered function, or a registered exercise without one are refused with file:line. OUT must be
absent or empty, so a release never overwrites a student's work; ``--force`` replaces it, and the
edition is built in a temporary folder first, so a failure never leaves a half-written one.

``restore_solutions`` puts the instructor's solutions back into a student edition (round-trip tests).
"""

import ast
import importlib.util
import json
import os
import re
import shutil
import sys
import tomllib
import uuid
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import nbformat

from course_lib.notebook import STUB_PATTERN, stub_line

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
INSTRUCTOR_ONLY_TAG = "instructor-only"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]

KEPT = ("course_lib", "notebooks", "pyproject.toml", "environment.yml", "conftest.py")
LEFT_OUT = ("course_lib/grading", "course_lib/release.py")
CACHES = ("__pycache__", ".ipynb_checkpoints", ".git", ".pytest_cache", "*.egg-info", "*.pyc")

STUDENT_README = """\
# Backprop by Hand

You will write the forward **and backward** pass of every layer of a small deep-learning framework,
`course_lib`, and check each one against PyTorch autograd.

## Start

With Python 3.10 or newer (a virtual environment is a good idea), in this folder:

```bash
pip install -e .
jupyter lab
```

or, with conda: `conda env create -f environment.yml && conda activate backprop-by-hand && jupyter lab`.

JupyterLab's file browser then shows `notebooks/` and `course_lib/`, the files you edit. Work through
the notebooks in order, starting with `notebooks/00_welcome.ipynb`.

## Work and check

In each exercise function in `course_lib/`, the line `raise NotImplementedError("Exercise ... is not
done yet: ...")` marks where your code goes; its message names the notebook section that explains
it. Replace that line with your code (keep the docstring and the checks above it), save the file,
and run the check cell under that section: it compares your output and every gradient with autograd and, when something
differs, shows which tensor and where. The notebooks pick up your saved edits without a restart.
A cell that needs an exercise you have not done yet says so and skips itself, so "Run All" always
works.

From a terminal:

```bash
course-lib check                    # every exercise: pass / fail / not started
course-lib check conv2d.backward    # one exercise's full report
```

(`python -m course_lib check` does the same.)

Write every exercise with tensor operations: autograd, `torch.nn` and `torch.optim` are not allowed
in your code, and the grader gives an exercise that uses them 0 points.

## Submit

Zip your `course_lib/` folder and name the zip by your student id, e.g. from this folder:

```bash
zip -r s1234567.zip course_lib
```

(or compress the folder with your file manager and rename the zip). The zip must hold the
`course_lib/` folder itself, not just the files inside it.

Only `course_lib/` is graded. The grader runs the checks on more cases than `course-lib check`
does; an exercise earns its points when every case matches autograd.
"""


class ReleaseError(Exception):
    """The source cannot be released as it is, or OUT cannot be written; the message says why."""


@dataclass(frozen=True)
class SolutionRegion:
    """The lines between one pair of markers. ``where`` is a file, or "<notebook>, cell <n>";
    ``begin`` and ``end`` are the 1-based lines of the two markers in it."""

    where: str
    begin: int
    end: int
    indent: str
    lines: tuple


# --- finding regions -------------------------------------------------------------------------

def find_regions(lines, where):
    """The marked regions in ``lines``; ReleaseError at the first malformed marker."""
    regions, begin, indent = [], None, ""
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin is not None:
                raise ReleaseError(f"{where}:{number}: {BEGIN} inside the region opened at line {begin}; "
                                   f"regions cannot nest. Close that region with {END} first.")
            begin, indent = number, line[:len(line) - len(line.lstrip())]
        elif stripped == END:
            if begin is None:
                raise ReleaseError(f"{where}:{number}: {END} without a {BEGIN} before it.")
            regions.append(SolutionRegion(where, begin, number, indent, tuple(lines[begin:number - 1])))
            begin = None
        elif re.match(r"#+\s*(BEGIN|END)\s+SOLUTION", stripped, re.IGNORECASE):
            # A misspelt marker would ship its solution to students.
            raise ReleaseError(f"{where}:{number}: {stripped!r} looks like a solution marker but is not "
                               f"exactly {BEGIN!r} or {END!r}; write the marker exactly.")
    if begin is not None:
        raise ReleaseError(f"{where}:{begin}: {BEGIN} is never closed; add {END} after the solution.")
    return regions


def solution_regions(path, root=None):
    """The marked regions of a .py file or of a notebook's code cells; ``where`` is relative to ``root``."""
    path = Path(path)
    where = path.relative_to(root).as_posix() if root else str(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return find_regions(text.splitlines(), where)
    cells = nbformat.reads(text, as_version=4).cells
    return [region for number, cell in enumerate(cells, 1) if cell.cell_type == "code"
            for region in find_regions(cell.source.splitlines(), f"{where}, cell {number}")]


def function_spans(text, where):
    """(qualname, first line, last line) of every function in a Python source, outer ones first."""
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise ReleaseError(f"{where}:{error.lineno}: cannot be parsed ({error.msg}).") from None
    spans = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                spans.append((prefix + child.name, child.lineno, child.end_lineno))
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def enclosing_function(spans, line):
    inside = [qualname for qualname, first, last in spans if first <= line <= last]
    return inside[-1] if inside else None


# --- the edition of each kind of file --------------------------------------------------------

def replace_spans(lines, replacements):
    """``lines`` with each (first, last, new lines) span, 1-based and inclusive, replaced; spans in order."""
    result, position = [], 0
    for first, last, new_lines in replacements:
        result += lines[position:first - 1] + list(new_lines)
        position = last
    return result + lines[position:]


def join_like(lines, original):
    return "\n".join(lines) + ("\n" if original.endswith("\n") else "")


def exercise_regions(text, where, exercises):
    """(exercise, region) for each region of a Python file; ``exercises``: this file's, by qualname."""
    lines = text.splitlines()
    regions = find_regions(lines, where)
    spans = function_spans(text, where) if regions else []
    found, problems = {}, []
    for region in regions:
        qualname = enclosing_function(spans, region.begin)
        if qualname not in exercises:
            place = f"function {qualname}" if qualname else "module-level code"
            problems.append(f"{where}:{region.begin}: marked region in {place}, which no exercise in "
                            "course_lib/exercises/ names; register the exercise or remove the markers.")
        elif qualname in found:
            problems.append(f"{where}:{region.begin}: a second marked region in {qualname} (the first is at "
                            f"line {found[qualname].begin}); each exercise function has exactly one.")
        else:
            found[qualname] = region
    for qualname, exercise in exercises.items():
        if qualname not in found:
            problems.append(f"{where}: exercise {exercise.id} names function {qualname}, which has no marked "
                            "region here; its code would be released with the solution in it.")
    if problems:
        raise ReleaseError("\n".join(problems))
    return [(exercises[qualname], region) for qualname, region in found.items()]


def student_python(text, where, exercises):
    regions = exercise_regions(text, where, exercises)
    stubs = sorted((region.begin, region.end, [region.indent + stub_line(exercise)])
                   for exercise, region in regions)
    student = join_like(replace_spans(text.splitlines(), stubs), text)
    try:
        ast.parse(student)
    except SyntaxError as error:
        raise ReleaseError(f"{where}:{error.lineno} (student edition): with its regions stubbed the file "
                           f"no longer parses ({error.msg}); check the markers around that line.") from None
    return student


def student_notebook(text, where):
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises several kinds for a damaged file
        raise ReleaseError(f"{where}: not a readable notebook ({error}).") from None
    section, kept = Path(where).stem, []
    for number, cell in enumerate(notebook.cells, 1):
        if INSTRUCTOR_ONLY_TAG in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "markdown":
            headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", cell.source, re.MULTILINE)
            section = headings[-1] if headings else section
        if cell.cell_type == "code":
            message = f"Exercise in {where}, section '{section}', is not done yet: write the code here."
            lines = cell.source.splitlines()
            regions = find_regions(lines, f"{where}, cell {number}")
            stub = f"raise NotImplementedError({json.dumps(message, ensure_ascii=False)})"
            stubs = [(region.begin, region.end, [region.indent + stub]) for region in regions]
            cell.source = join_like(replace_spans(lines, stubs), cell.source)
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        kept.append(cell)
    notebook.cells = kept
    notebook.metadata.pop("widgets", None)
    return nbformat.writes(notebook)


def student_pyproject(text, kept_names):
    """pyproject.toml without the pytest test paths the edition does not have (tests/)."""
    options = tomllib.loads(text).get("tool", {}).get("pytest", {}).get("ini_options", {})
    testpaths = options.get("testpaths")
    if not testpaths:
        return text
    kept = [path for path in testpaths if path.split("/")[0] in kept_names]
    student = re.sub(r"(?m)^testpaths\s*=.*\n", f"testpaths = {json.dumps(kept)}\n" if kept else "", text)
    rewritten = tomllib.loads(student).get("tool", {}).get("pytest", {}).get("ini_options", {})
    if rewritten.get("testpaths") != (kept or None):
        raise ReleaseError("pyproject.toml: could not rewrite [tool.pytest.ini_options] testpaths for the "
                           "student edition; write it on one line, e.g. testpaths = [\"tests\", \"notebooks\"].")
    return student


# --- the whole edition -----------------------------------------------------------------------

def student_text(path, relative, exercises):
    """The student edition of one file, or None to copy it as it is."""
    if relative.endswith(".py"):
        return student_python(path.read_text(encoding="utf-8"), relative, exercises)
    if relative.endswith(".ipynb"):
        return student_notebook(path.read_text(encoding="utf-8"), relative)
    if relative == "pyproject.toml":
        return student_pyproject(path.read_text(encoding="utf-8"), KEPT)
    return None


def load_registry(source):
    """The exercises registered in ``source``'s course_lib/exercises/ (a package, loaded on its own)."""
    if source == PACKAGE_ROOT:
        from course_lib.exercises import EXERCISES
        return EXERCISES
    path = source / "course_lib" / "exercises" / "__init__.py"
    if not path.is_file():
        raise ReleaseError(f"{path} not found: the registry says which exercise each marked region "
                           "belongs to. Pass --source the root of an instructor edition.")
    # Its modules import one another relatively: loaded as a package of its own name, it uses the
    # source's cases, twins and laws, not those of the course_lib this command runs from.
    name = f"_registry_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=[str(path.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        for loaded in [loaded for loaded in sys.modules if loaded == name or loaded.startswith(f"{name}.")]:
            del sys.modules[loaded]
    return module.EXERCISES


def exercises_by_file(exercises):
    """{file: {function qualname: exercise}}."""
    by_file = {}
    for exercise in exercises:
        by_file.setdefault(exercise.file, {})[exercise.function] = exercise
    return by_file


def edition_files(source):
    """Relative paths (posix) of the source files that go into the edition, in a stable order."""
    def left_out(relative):
        return relative in LEFT_OUT or any(fnmatch(relative.rsplit("/", 1)[-1], cache) for cache in CACHES)

    for name in KEPT:
        if (source / name).is_file():
            yield name
        for directory, subdirectories, files in os.walk(source / name):
            here = Path(directory).relative_to(source).as_posix()
            subdirectories[:] = sorted(d for d in subdirectories if not left_out(f"{here}/{d}"))
            yield from (f"{here}/{file}" for file in sorted(files) if not left_out(f"{here}/{file}"))


def edition_plan(source):
    """{relative path: text of the student edition, or None to copy the file as it is}.

    Validates the whole source first: ReleaseError lists every problem found, one per line.
    """
    if not (source / "course_lib").is_dir():
        raise ReleaseError(f"{source} has no course_lib/ folder; pass --source the repository root.")
    by_file = exercises_by_file(load_registry(source))
    plan, problems = {}, []
    for relative in edition_files(source):
        try:
            plan[relative] = student_text(source / relative, relative, by_file.pop(relative, {}))
        except ReleaseError as error:
            problems.append(str(error))
    for file, exercises in by_file.items():
        ids = ", ".join(exercise.id for exercise in exercises.values())
        problems.append(f"course_lib/exercises/: exercise(s) {ids} name {file}, which is not in the edition.")
    if problems:
        raise ReleaseError("\n".join(problems))
    plan["README.md"] = STUDENT_README
    return plan


def check_out(out, source, force):
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"{out} is a file; give a folder for the student edition.")
    if out.is_relative_to(source) or source.is_relative_to(out):
        raise ReleaseError(f"{out} overlaps the source {source}; write the student edition outside it, "
                           "e.g. ../student-edition.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ReleaseError(f"{out} exists and is not empty; release never overwrites it, so nothing there "
                           "is lost. Choose a new folder, or pass --force to replace this one.")


def release(out, source=None, force=False):
    """Write the student edition of ``source`` (default: this repository) to ``out``; return its path.

    Raises ReleaseError, having written nothing, if the source or ``out`` is not fit (see the module
    docstring).
    """
    source = Path(source or PACKAGE_ROOT).resolve()
    out = Path(out).resolve()
    check_out(out, source, force)
    plan = edition_plan(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = out.parent / f".{out.name}.release-{uuid.uuid4().hex[:8]}"
    try:
        for relative, text in plan.items():
            target = fresh / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if text is None:
                shutil.copy2(source / relative, target)
            else:
                target.write_text(text, encoding="utf-8")
                if (source / relative).exists():
                    shutil.copymode(source / relative, target)
        swap_in(fresh, out)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return out


def swap_in(fresh, out):
    """Move the finished folder ``fresh`` to ``out``, replacing what is there only once it is complete."""
    if not out.exists():
        fresh.rename(out)
        return
    retired = fresh.with_name(fresh.name + ".old")
    out.rename(retired)
    try:
        fresh.rename(out)
    except BaseException:
        retired.rename(out)
        raise
    shutil.rmtree(retired)


# --- back to the instructor's solutions ------------------------------------------------------

def restore_solutions(student_root, instructor_root):
    """Replace every exercise stub under ``student_root``/course_lib with the instructor's marked region.

    Works in place and returns the ids restored. Each stub gets its exercise's region, markers
    included, so a restored file equals the instructor's. A stub whose exercise the instructor edition
    does not register raises ReleaseError before any file is changed.
    """
    student_root, instructor_root = Path(student_root), Path(instructor_root).resolve()
    solution_of = {}
    for file, exercises in exercises_by_file(load_registry(instructor_root)).items():
        text = (instructor_root / file).read_text(encoding="utf-8")
        solution_of.update((exercise.id, region) for exercise, region in exercise_regions(text, file, exercises))
    restored, new_texts = [], {}
    for path in sorted((student_root / "course_lib").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines, replacements = text.splitlines(), []
        for number, line in enumerate(lines, 1):
            stub = STUB_PATTERN.match(line)
            if not stub:
                continue
            if stub["id"] not in solution_of:
                raise ReleaseError(f"{path}:{number}: stub of exercise {stub['id']}, which "
                                   f"{instructor_root} does not register.")
            region = solution_of[stub["id"]]
            replacements.append((number, number, reindented(region, stub["indent"])))
            restored.append(stub["id"])
        if replacements:
            new_texts[path] = join_like(replace_spans(lines, replacements), text)
    for path, text in new_texts.items():
        path.write_text(text, encoding="utf-8")
    return restored


def reindented(region, indent):
    """The region's lines, markers included, moved from its own indentation to ``indent``."""
    body = [indent + line.removeprefix(region.indent) if line.strip() else line for line in region.lines]
    return [indent + BEGIN, *body, indent + END]


# --- command line ----------------------------------------------------------------------------

def main(out, source=None, force=False):
    """The ``course-lib release`` command: returns the exit code, with any refusal on stderr."""
    try:
        written = release(out, source, force)
    except (ReleaseError, OSError) as error:  # OSError: OUT's folder cannot be written, for one
        print(f"course-lib release: nothing written.\n{error}", file=sys.stderr)
        return 1
    print(f"Student edition written to {written}")
    return 0
