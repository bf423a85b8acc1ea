"""What the grader's tests share: the two editions, building a submission from one, reading a gradebook."""

import csv
import shutil
from pathlib import Path

from course_lib import exercises as registry
from course_lib.grading.names import from_csv_cell
from course_lib.release import release

ROOT = Path(__file__).resolve().parents[1]
POINTS = {exercise.id: exercise.points for exercise in registry.EXERCISES}
MAX_POINTS = sum(POINTS.values())


def make_editions(base):
    """A fresh student edition (stubs) and a copy of the instructor edition's course_lib under ``base``."""
    release(base / "student")
    shutil.copytree(ROOT / "course_lib", base / "instructor" / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return base


def submit(folder, edition_root, edits=(), prepend=""):
    """Copy an edition's course_lib to ``folder``; apply ``edits`` ((file, old, new), each old found
    exactly once) and put ``prepend`` at the top of course_lib/__init__.py (runs at import)."""
    shutil.copytree(edition_root / "course_lib", folder / "course_lib")
    for file, old, new in edits:
        path = folder / "course_lib" / file
        text = path.read_text()
        assert text.count(old) == 1, f"{file} no longer contains {old!r} exactly once"
        path.write_text(text.replace(old, new))
    init = folder / "course_lib" / "__init__.py"
    init.write_text(prepend + "\n" + init.read_text())
    return folder


def read_gradebook(path):
    """{student id: row}, ids as the grader knows them (a cell led by an apostrophe against spreadsheet
    formulas is read back without it)."""
    with open(path, newline="", encoding="utf-8") as file:
        return {from_csv_cell(row["student"]): row for row in csv.DictReader(file)}


def lost_only(row, *exercise_ids):
    """The row has every exercise's points except these, which are 0."""
    return all(float(row[exercise]) == (0 if exercise in exercise_ids else points)
               for exercise, points in POINTS.items()) and \
        float(row["total"]) == MAX_POINTS - sum(POINTS[exercise] for exercise in exercise_ids)
