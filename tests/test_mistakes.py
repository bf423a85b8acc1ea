"""The hint catalogue, proved: each realistic wrong implementation in tests/mistakes.py, typed into a copy
of this (instructor) edition's exercise code, fails its exercise's check with exactly the hint it names,
and every hint of the catalogue has such a mistake.

The copies are checked in this process: each is a course_lib package of its own (its nn/ and optim/, the
only code students edit), imported under the name course_lib while it loads and then put back, and passed
to check_exercise(id, package=...), as the grader passes a submission.
"""

import importlib
import shutil
import sys
import types
from pathlib import Path

import pytest

from course_lib.check import CATALOGUE, check_exercise
from course_lib.exercises import EXERCISES
from mistakes import MISTAKES

ROOT = Path(__file__).resolve().parents[1]
EXERCISE_CODE = ("nn", "optim")


def apply_edits(package_root, edits):
    """Apply (file, old, new) edits to the files under package_root (each ``old`` found exactly once)."""
    for file, old, new in edits:
        path = package_root / file
        text = path.read_text()
        assert text.count(old) == 1, f"{file} no longer contains {old!r} exactly once"
        path.write_text(text.replace(old, new))


def load_copy(package_root):
    """The nn and optim packages of the course_lib at ``package_root``, imported on their own: while they
    load, ``course_lib`` is a bare package at package_root; then the imported course_lib comes back."""
    def ours(name):
        return name == "course_lib" or name.startswith(("course_lib.nn", "course_lib.optim"))

    saved = {name: module for name, module in sys.modules.items() if ours(name)}
    for name in saved:
        del sys.modules[name]
    parent = types.ModuleType("course_lib")
    parent.__path__ = [str(package_root)]
    sys.modules["course_lib"] = parent
    try:
        nn = importlib.import_module("course_lib.nn")
        optim = importlib.import_module("course_lib.optim")
        return types.SimpleNamespace(nn=nn, optim=optim)
    finally:
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


def copy_with(tmp_path, edits):
    root = tmp_path / "course_lib"
    for part in EXERCISE_CODE:
        shutil.copytree(ROOT / "course_lib" / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    apply_edits(root, edits)
    return load_copy(root)


@pytest.mark.parametrize("hint_id, exercise_id, edits", MISTAKES, ids=[f"{m[0]}" for m in MISTAKES])
def test_a_mistake_gets_its_hint(tmp_path, hint_id, exercise_id, edits):
    report = check_exercise(exercise_id, package=copy_with(tmp_path, edits))
    assert not report.passed
    assert hint_id in {hint.id for hint in report.hints}, str(report)
    text = str(report)
    assert CATALOGUE[hint_id].name in text and CATALOGUE[hint_id].cause in text


def test_every_hint_of_the_catalogue_is_proved_by_a_mistake():
    proved = {hint_id for hint_id, _, _ in MISTAKES}
    assert sorted(set(CATALOGUE) - proved) == []
    assert sorted(proved - set(CATALOGUE)) == []
    assert len(MISTAKES) >= 60


def test_catalogue_ids_are_scoped_to_an_exercise_a_family_or_any():
    exercise_ids = {exercise.id for exercise in EXERCISES}
    families = {exercise.id.split(".")[0] for exercise in EXERCISES}
    for hint_id, found in CATALOGUE.items():
        scope, slug = hint_id.split("/")
        assert scope in exercise_ids or scope in families or scope == "any", hint_id
        assert slug == slug.lower() and " " not in slug and "_" not in slug, hint_id
        assert found.id == hint_id and found.name and found.cause.endswith((".", ")")), hint_id


def test_a_mistakes_hint_is_written_for_its_exercise_when_the_catalogue_has_one():
    """A mistake proves a generic hint only where its exercise has no text of its own for that slug."""
    for hint_id, exercise_id, _ in MISTAKES:
        scope, slug = hint_id.split("/")
        if scope == "any":
            assert f"{exercise_id}/{slug}" not in CATALOGUE, (hint_id, exercise_id)
        else:
            assert exercise_id == scope or exercise_id.startswith(f"{scope}."), (hint_id, exercise_id)
