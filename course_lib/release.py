"""The student edition of the course: every solution replaced by a stub, notebooks cleaned.

    course-lib release OUT [--force] [--source DIR] [--repo URL [--branch B]]
                                                         (or: python -m course_lib release OUT ...)

Writes to OUT the edition students get from this repository (the folder holding course_lib/, or
``--source DIR``):

- ``course_lib/``: each region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes one line,
  indented like the region: ``raise NotImplementedError("Exercise <id> is not done yet: implement
  <function> in <file> — see notebooks/<notebook>.ipynb, section '<section>'.")``, from the registry
  (``course_lib/exercises/``). Everything outside the markers stays: signatures, docstrings, checks.
- ``notebooks/``: marked regions in code cells stubbed alike; outputs and execution counts cleared;
  cells tagged ``instructor-only`` dropped.
- ``pyproject.toml`` (without test paths the edition lacks), ``environment.yml``, ``conftest.py`` (one
  torch thread per notebook kernel under pytest), ``binder/`` (the Binder image) and a student README.

With ``--repo URL`` (the git repository students will get the edition from, https) and ``--branch B``
(default main), the edition is ready to be used online:

- its README gives the Binder link, an "Open in Colab" link per notebook (GitHub repositories only:
  Colab opens notebooks from nowhere else) and the nbgitpuller link for a JupyterHub, with ``HUB`` in
  place of the hub's address;
- each notebook starts with a setup cell that, on Colab only, installs the edition into the runtime and
  keeps the student's ``course_lib/`` on their Google Drive (``course_lib/colab.py``); elsewhere it does
  nothing.

Nothing else is copied (an allowlist, so nothing kept beside the course, such as submissions, can
leak): no tests, benchmarks, CI, CONTRIBUTING.md, no grader (``course_lib/grading/``), not this
module, no caches.

Everything is checked before anything is written. Malformed markers, a marked region outside every
registered function, or a registered exercise without one are refused with file:line. OUT must be
absent or empty, so a release never overwrites a student's work; ``--force`` replaces it, keeping its
``.git`` (so the instructor can commit and push an update of a published edition), and the edition is
built in a temporary folder first, so a failure never leaves a half-written one.

``restore_solutions`` puts the instructor's solutions back into a student edition (round-trip tests).
"""

import ast
import importlib.util
import json
import os
import re
import shutil
import sys
import textwrap
import tomllib
import urllib.parse
import uuid
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import nbformat

from course_lib.colab import COURSE_ON_DRIVE
from course_lib.notebook import STUB_PATTERN, stub_line

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
INSTRUCTOR_ONLY_TAG = "instructor-only"
STUDENT_KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
PACKAGE_ROOT = Path(__file__).resolve().parents[1]

KEPT = ("course_lib", "notebooks", "pyproject.toml", "environment.yml", "conftest.py", "binder")
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


def student_notebook(text, where, setup_cell=None):
    """The student edition of a notebook; ``setup_cell``, if given, becomes its first code cell."""
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
    if setup_cell:
        first_code = next((index for index, cell in enumerate(kept) if cell.cell_type == "code"), len(kept))
        kept.insert(first_code, nbformat.v4.new_code_cell(setup_cell))
    notebook.cells = kept
    notebook.metadata.pop("widgets", None)
    # As JupyterLab names the kernel: another name marks the notebook modified as soon as it opens, and
    # its autosave then makes it a student's change that nbgitpuller keeps over the instructor's updates.
    notebook.metadata["kernelspec"] = dict(STUDENT_KERNELSPEC)
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


# --- where students open the edition ---------------------------------------------------------

HUB_PLACEHOLDER = "https://HUB"
GITHUB = re.compile(r"https://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?")


@dataclass(frozen=True)
class Publication:
    """The git repository (and branch) students get the edition from, and the links that open it there."""

    repo: str
    branch: str = "main"

    def __post_init__(self):
        scheme = urllib.parse.urlsplit(self.repo).scheme
        if scheme not in ("https", "http", "file") or not self.folder:
            raise ReleaseError(f"--repo {self.repo}: give the repository's https address (or file:// for a "
                               "repository on this machine); students' servers clone it without any key.")
        if not re.fullmatch(r"[\w.][\w./-]*", self.branch):
            raise ReleaseError(f"--branch {self.branch!r} is not a branch name.")

    @property
    def folder(self):
        """The folder of a student's hub account that the course goes to: the repository's name."""
        return urllib.parse.urlsplit(self.repo).path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")

    @property
    def github(self):
        """(owner, name) for a GitHub repository, else None."""
        found = GITHUB.fullmatch(self.repo)
        return (found["owner"], found["name"]) if found else None

    def hub_link(self, notebook, hub=HUB_PLACEHOLDER):
        """nbgitpuller's link: clones the repository into the student's ``folder`` on the hub, or merges
        what is new into their copy, then opens ``notebook`` (e.g. "notebooks/00_welcome.ipynb")."""
        query = {"repo": self.repo, "branch": self.branch, "targetpath": self.folder,
                 "urlpath": f"lab/tree/{self.folder}/{notebook}"}
        return f"{hub}/hub/user-redirect/git-pull?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"

    def binder_link(self, notebook):
        github = self.github
        where = f"gh/{github[0]}/{github[1]}" if github else f"git/{urllib.parse.quote(self.repo, safe='')}"
        urlpath = urllib.parse.quote(f"lab/tree/{notebook}", safe="")
        return f"https://mybinder.org/v2/{where}/{self.branch}?urlpath={urlpath}"

    def colab_link(self, notebook):
        """Colab opens notebooks from GitHub (or Drive) only: None for a repository elsewhere."""
        if not self.github:
            return None
        owner, name = self.github
        return f"https://colab.research.google.com/github/{owner}/{name}/blob/{self.branch}/{notebook}"

    def setup_cell(self):
        """The first code cell of every notebook; see course_lib/colab.py."""
        return COLAB_SETUP_CELL.format(requirement=f"git+{self.repo}@{self.branch}")


# On Colab, find_spec finds course_lib once it is installed in this runtime (or taken from Drive), so
# running the cell again does not install it again; %pip installs into the kernel's own Python.
COLAB_SETUP_CELL = """\
# On Google Colab only: installs the course and keeps your course_lib/ on your Google Drive. Elsewhere it does nothing.
import sys, importlib.util
if "google.colab" in sys.modules and not importlib.util.find_spec("course_lib"):
    %pip install -q --no-deps {requirement}
from course_lib.colab import keep_course_on_drive; keep_course_on_drive()"""

BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def online_section(publication, notebooks):
    """The student README's section on opening the edition online; ``notebooks``: their paths, in order."""
    first = notebooks[0]
    lines = [
        "## Open the course online",
        "",
        "Nothing to install: open it where your instructor tells you.",
        "",
        f"- **Your university's JupyterHub**: follow the link your instructor gives you. The first time, it "
        f"copies the course into the folder `{publication.folder}/` of your hub account; after that, it brings "
        "in what is new and never overwrites your own changes: where you changed a line, your version stays. "
        "To get the instructor's new version of a notebook you have changed, rename yours and follow the link "
        "again.",
        f"- **Binder**: [![Binder]({BINDER_BADGE})]({publication.binder_link(first)}) — free, without an "
        "account, but a session ends after about 10 minutes without activity and everything in it is lost, "
        "your code too: before you leave, zip your `course_lib/` (`make_submission` at the end of "
        "`notebooks/00_welcome.ipynb` does it) and download the zip (right-click it in the file browser, "
        "Download).",
    ]
    if publication.github:
        lines += [
            "- **Google Colab**: open a notebook below. Its first cell asks to use your Google Drive and keeps your "
            f"`course_lib/` there, in `MyDrive/{COURSE_ON_DRIVE}/course_lib/`, so your code survives when Colab "
            "disconnects; edit your exercises there (Colab's file panel, on the left, shows it under "
            f"`drive/MyDrive/{COURSE_ON_DRIVE}/`). Colab runs its own version of torch.",
            "",
            "| notebook | |",
            "| --- | --- |",
            *(f"| `{Path(notebook).stem}` | [![Open In Colab]({COLAB_BADGE})]({publication.colab_link(notebook)}) |"
              for notebook in notebooks),
        ]
    lines = [textwrap.fill(line, 105, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)
             if line.startswith("- ") else line for line in lines]
    lines += [
        "",
        "For instructors, the JupyterHub link (replace HUB by your hub's address):",
        "",
        "```",
        publication.hub_link(first),
        "```",
        "",
    ]
    return "\n".join(lines)


def student_readme(publication, notebooks):
    if publication is None:
        return STUDENT_README
    introduction, start = STUDENT_README.split("## Start\n", 1)
    return f"{introduction}{online_section(publication, notebooks)}\n## Or on your own computer\n{start}"


# --- the whole edition -----------------------------------------------------------------------

def student_text(path, relative, exercises, publication=None):
    """The student edition of one file, or None to copy it as it is."""
    if relative.endswith(".py"):
        return student_python(path.read_text(encoding="utf-8"), relative, exercises)
    if relative.endswith(".ipynb"):
        setup_cell = publication.setup_cell() if publication else None
        return student_notebook(path.read_text(encoding="utf-8"), relative, setup_cell)
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


def edition_plan(source, publication=None):
    """{relative path: text of the student edition, or None to copy the file as it is}.

    Validates the whole source first: ReleaseError lists every problem found, one per line.
    """
    if not (source / "course_lib").is_dir():
        raise ReleaseError(f"{source} has no course_lib/ folder; pass --source the repository root.")
    by_file = exercises_by_file(load_registry(source))
    plan, problems = {}, []
    for relative in edition_files(source):
        try:
            plan[relative] = student_text(source / relative, relative, by_file.pop(relative, {}), publication)
        except ReleaseError as error:
            problems.append(str(error))
    for file, exercises in by_file.items():
        ids = ", ".join(exercise.id for exercise in exercises.values())
        problems.append(f"course_lib/exercises/: exercise(s) {ids} name {file}, which is not in the edition.")
    if problems:
        raise ReleaseError("\n".join(problems))
    notebooks = sorted(relative for relative in plan if relative.startswith("notebooks/")
                       and relative.endswith(".ipynb"))
    plan["README.md"] = student_readme(publication, notebooks)
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


def release(out, source=None, force=False, repo=None, branch="main"):
    """Write the student edition of ``source`` (default: this repository) to ``out``; return its path.
    With ``repo``, the edition is made ready to be published there, on ``branch`` (see the module docstring).

    Raises ReleaseError, having written nothing, if the source, ``out`` or ``repo`` is not fit.
    """
    source = Path(source or PACKAGE_ROOT).resolve()
    out = Path(out).resolve()
    publication = Publication(repo, branch) if repo else None
    check_out(out, source, force)
    plan = edition_plan(source, publication)
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
    """Move the finished folder ``fresh`` to ``out``, replacing what is there only once it is complete.

    ``out``'s .git goes along into the new edition, so a published edition's history goes on.
    """
    if not out.exists():
        fresh.rename(out)
        return
    retired = fresh.with_name(fresh.name + ".old")
    out.rename(retired)
    history = retired / ".git"
    try:
        if history.exists():
            history.rename(fresh / ".git")
        fresh.rename(out)
    except BaseException:
        if (fresh / ".git").exists():
            (fresh / ".git").rename(history)
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

def main(out, source=None, force=False, repo=None, branch="main"):
    """The ``course-lib release`` command: returns the exit code, with any refusal on stderr."""
    try:
        written = release(out, source, force, repo, branch)
    except (ReleaseError, OSError) as error:  # OSError: OUT's folder cannot be written, for one
        print(f"course-lib release: nothing written.\n{error}", file=sys.stderr)
        return 1
    print(f"Student edition written to {written}")
    return 0
