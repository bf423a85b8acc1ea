"""Grading on Gradescope: ``course-lib export gradescope OUT.zip [--seed K]`` and the autograder it holds.

The zip follows Gradescope's autograder contract: ``setup.sh`` and ``run_autograder`` at its root,
extracted to ``/autograder/source``; ``setup.sh`` runs once, as root, when Gradescope builds the image;
``run_autograder`` (copied to ``/autograder/run_autograder``) runs from ``/autograder`` for each
submission, which Gradescope puts in ``/autograder/submission``, and must leave
``/autograder/results/results.json``. The zip also holds:

- ``course/course_lib/``: this instructor edition's package (solutions and grader), run from there
  with ``python3`` from PATH, never installed where a student's code could read it;
- ``requirements-torch.txt`` (the course's torch pin, installed from PyTorch's CPU-only index) and
  ``requirements.txt`` (the rest grading needs, from the package index);
- ``autograder.json``: the hidden cases' seed (``--seed``, or a new secret one), the course version.

The zip holds the solutions and the seed: keep it private (it is written readable by you only).

For each submission, ``python3 -m course_lib.grading.gradescope /autograder`` (run_autograder):

1. makes ``source/`` and ``results/`` readable and writable by root only, and removes any
   ``results.json`` already there;
2. finds the student's ``course_lib/`` under ``submission/``: the shallowest folder holding one (at
   most MAX_DEPTH folders down; two at the same depth are refused), else the one ``.zip`` there (the
   grader unpacks it as any zip, course_lib/ at its top or one folder down);
3. grades it with the grader of ``course-lib grade`` (grader.py), on the visible cases and on the
   hidden ones drawn from the seed: student code runs only in the grader's sandboxed children. Where
   bubblewrap cannot run (Docker's default profile forbids its namespaces), the grader falls back as
   it does anywhere: each child runs under a uid of its own, which can read neither ``source/`` nor
   ``results/``. Without bubblewrap and without root, nothing would keep a child from those folders:
   the autograder then refuses to grade (score 0, and a message saying why);
4. once grade() has returned, every child being dead, writes ``results.json``: one test per exercise
   (``name``: the exercise id, ``score``, ``max_score``, ``status``, ``output``: each case's verdict
   and the checker's hint, as in the feedback), ``score``: their sum, ``output``: the total, the
   status and notes, the integrity review's findings and what the code printed (visible phase only).
   Everything is ``visible``: the feedback never shows a hidden case's values. The grader's run
   summary goes to stdout, which Gradescope shows the instructor only (``stdout_visibility``).

A student's code cannot write results.json (it cannot reach ``results/``, and the file is written
last, by this process, replacing whatever is there), nor read the seed or the solutions.
"""

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

from course_lib import exercises as registry
from course_lib.grading import isolation
from course_lib.grading.gradebook import RunSettings, write_atomically
from course_lib.grading.grader import OWN_PACKAGE, course_version, grade
from course_lib.grading.names import clean
from course_lib.grading.report import case_items, notes_blocks, printed_blocks, render_markdown, review_blocks
from course_lib.grading.submissions import IGNORED_NAMES, PACKAGE, InvalidSubmission, copy_package

SCRIPTS = Path(__file__).with_name("scripts")
CONFIG = "autograder.json"
COURSE_FOLDER = "course"
STUDENT = "submission"
MAX_DEPTH = 3  # folders below submission/ searched for course_lib/
MAX_ZIP_BYTES = 50 * 2**20
TIMEOUT = 60.0  # seconds per child process, as course-lib grade's default
# What grading imports, besides torch (pinned, from the CPU-only index); the rest of the course's
# dependencies (JupyterLab, matplotlib, ...) are for the notebooks.
GRADING_REQUIREMENTS = ("numpy", "jinja2", "tqdm", "pyseccomp")


# --- on the instructor's machine ---------------------------------------------------------------------


def export(out, seed=None):
    """Write the autograder zip to ``out`` (readable by its owner only); returns what to do with it."""
    out = Path(out)
    seed = secrets.randbits(62) if seed is None else seed
    version = course_version()
    config = {"seed": seed, "seed_id": RunSettings(seed, (), version).seed_id, "course_version": version,
              "timeout": TIMEOUT}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file, zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("setup.sh", "run_autograder"):
            add_file(archive, name, (SCRIPTS / name).read_bytes(), executable=True)
        add_file(archive, "requirements-torch.txt", torch_requirement() + "\n")
        add_file(archive, "requirements.txt", "\n".join(GRADING_REQUIREMENTS) + "\n")
        add_file(archive, CONFIG, json.dumps(config, indent=1) + "\n")
        for path in sorted(OWN_PACKAGE.rglob("*")):
            if path.is_file() and not IGNORED_NAMES & set(path.relative_to(OWN_PACKAGE).parts) \
                    and path.suffix not in (".pyc", ".pyo"):
                add_file(archive, f"{COURSE_FOLDER}/{PACKAGE}/{path.relative_to(OWN_PACKAGE).as_posix()}",
                         path.read_bytes())
    os.replace(partial, out)
    return (f"wrote {out} (hidden cases: seed {config['seed_id']}; it holds the solutions and the seed: keep it "
            "private).\nOn Gradescope: a programming assignment, Configure Autograder, upload this zip "
            "(zip file upload, default Ubuntu image); students submit their course_lib/ folder, or a .zip of it.")


def add_file(archive, name, data, executable=False):
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    archive.writestr(info, data)


def torch_requirement():
    """The course's exact torch pin (``torch==X``), read from its installed metadata."""
    try:
        requirements = metadata.requires("backprop-by-hand") or ()
    except metadata.PackageNotFoundError:
        requirements = ()
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        if name.strip() == "torch" and version and ";" not in version:
            return f"torch=={version.strip()}"
    raise ValueError("the course's metadata pins no torch version (pyproject.toml: torch==X.Y.Z): "
                     "reinstall the course (pip install -e .).")


# --- in Gradescope's container -----------------------------------------------------------------------


def run(root):
    """Grade ``root/submission`` and write ``root/results/results.json``; returns the exit code."""
    root = Path(root)
    source, results = root / "source", root / "results"
    results.mkdir(parents=True, exist_ok=True)
    for folder in (source, results):
        os.chmod(folder, 0o700)  # a child under another uid can neither read nor write here
    (results / "results.json").unlink(missing_ok=True)
    started = time.monotonic()
    try:
        config = json.loads((source / CONFIG).read_text())
        outcome = grade_submission(root / "submission", config)
        code = 0
    except Exception as error:  # the autograder's own failure: a result saying so, never a student's file
        outcome = failed(f"The autograder could not grade this submission ({type(error).__name__}: "
                         f"{clean(error, 300)}). Please tell your instructor.")
        code = 1
    outcome["execution_time"] = round(time.monotonic() - started)
    write_atomically(results / "results.json", json.dumps(outcome, indent=1) + "\n")
    print(f"results: score {outcome['score']:g} of {sum(test['max_score'] for test in outcome['tests']):g}")
    return code


def grade_submission(submission, config):
    """The results.json of the submission in the folder ``submission``, graded by grader.grade."""
    protections = isolation.probe()
    if not (protections.has("bubblewrap") or protections.has("own uid")):
        print(protections.describe())
        return failed("The autograder cannot keep your code away from its own files in this container "
                      "(it needs bubblewrap or root). Please tell your instructor.")
    graded = []
    with tempfile.TemporaryDirectory(prefix="course-lib-gradescope-") as scratch:
        scratch = Path(scratch)
        try:
            place_submission(submission, scratch / "class")
        except InvalidSubmission as problem:
            return failed(str(problem))
        summary = grade(scratch / "class", scratch / "gradebook.csv", scratch / "feedback", jobs=1,
                        timeout=config["timeout"], seed=config["seed"], progress=False, on_graded=graded.append)
    print(summary)
    return results_of(graded[0], config)


def place_submission(submission, class_folder):
    """Put the student's package where the grader looks for it: ``class_folder/submission/course_lib``
    (copied, links skipped) or ``class_folder/submission.zip``. Raises InvalidSubmission."""
    class_folder.mkdir()
    folders, zips = package_parents(submission)
    if len(folders) > 1:
        raise InvalidSubmission(f"your submission holds several course_lib/ folders ({', '.join(folders[:3])}): "
                                "submit only one.")
    if folders:
        copy_package(submission / folders[0], class_folder / STUDENT)
    elif len(zips) == 1 and (submission / zips[0]).stat().st_size <= MAX_ZIP_BYTES:
        shutil.copyfile(submission / zips[0], class_folder / f"{STUDENT}.zip")
    else:
        found = f" and {len(zips)} .zip files" if zips else ""
        raise InvalidSubmission(f"no course_lib/ folder was found in your submission{found}: submit your "
                                "course_lib/ folder (with its __init__.py), the folder that holds it, or one .zip of it.")


def package_parents(submission):
    """(the shallowest folders, relative to ``submission``, holding a course_lib/ package, and the .zip
    files found), searching MAX_DEPTH folders down without following links."""
    level = [Path(".")]
    zips = []
    for _ in range(MAX_DEPTH + 1):
        found = [folder for folder in level if is_package(submission / folder / PACKAGE)]
        if found:
            return [str(folder) for folder in found], zips
        below = []
        for folder in level:
            for entry in sorted(os.scandir(submission / folder), key=lambda entry: entry.name):
                if entry.name in IGNORED_NAMES or entry.is_symlink():
                    continue
                if entry.is_dir():
                    below.append(folder / entry.name)
                elif entry.is_file() and entry.name.lower().endswith(".zip"):
                    zips.append(str(folder / entry.name))
        level = below
    return [], zips


def is_package(folder):
    return folder.is_dir() and not folder.is_symlink() and (folder / "__init__.py").is_file()


def results_of(graded, config):
    """Gradescope's results for one GradedSubmission: a test per exercise, the overall feedback."""
    scores = {score.exercise: score for score in graded.exercises}
    tests = []
    for exercise in registry.EXERCISES:
        score = scores.get(exercise.id)
        points = score.points if score else 0
        if score is None:
            output = "Not graded: " + (graded.note or "see the feedback above.")
        else:
            output = render_markdown([("list", case_items(score.cases))])
        tests.append({"name": exercise.id, "score": points, "max_score": exercise.points,
                      "status": "passed" if score is not None and points == exercise.points else "failed",
                      "output": output, "output_format": "md", "visibility": "visible"})
    return {"score": sum(test["score"] for test in tests), "output": render_markdown(overall_blocks(graded)),
            "output_format": "md", "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"status": graded.status, "seed_id": config["seed_id"],
                           "course_version": config["course_version"],
                           "review": [str(finding) for finding in graded.findings]}}


def overall_blocks(graded):
    """The feedback's blocks about the whole submission (rendered by report.py, as for feedback/)."""
    total = ("paragraph", f"Total: {graded.total:g} / {graded.max_points:g} points. Status: {graded.status}. An "
                          "exercise earns its points when every case, visible and hidden, matches PyTorch autograd.")
    return [total] + notes_blocks(graded) + review_blocks(graded) + printed_blocks(graded)


def failed(message):
    """Results giving 0 for every exercise, with ``message``."""
    tests = [{"name": exercise.id, "score": 0, "max_score": exercise.points, "status": "failed",
              "output": "Not graded.", "output_format": "text", "visibility": "visible"}
             for exercise in registry.EXERCISES]
    return {"score": 0, "output": message, "output_format": "text", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else "/autograder"))
