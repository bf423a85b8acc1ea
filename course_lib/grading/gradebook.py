"""The gradebook CSV, the run's settings beside it, and the secret seed of the hidden cases.

``<out>``: ``student, <one column per exercise>, total, max, status, note``, one row per student, every
cell quoted, control characters escaped, a cell that would start a spreadsheet formula led by an
apostrophe. The whole file is rewritten (to a temporary file, then renamed) each time a student is
graded, sorted by student id: an interrupted run keeps every row it finished and never a half row,
and a resumed run ends with the same file as an uninterrupted one.

``<out>.run.json``: the settings the grades depend on (which seed, which exercises and points, which
version of the course, and for a shard which part of the class); a resume with other settings is
refused. ``<out>.seed``: the hidden cases' seed, made at random on the first run and readable by the
instructor only (``--seed`` overrides it; ``--seed-file`` keeps it elsewhere, for shards to share).

Resuming reads back only rows this grader could have written: the header must be this run's, and a row
is kept only when it has every column, names a student of the submissions folder, has a known status
and points that add up; any other row is dropped, and its student graded again.
"""

import csv
import hashlib
import io
import json
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from course_lib.grading.names import csv_cell, from_csv_cell

STATUSES = ("ok", "partial", "review", "timeout", "crashed", "invalid")


@dataclass(frozen=True)
class RunSettings:
    seed: int
    exercises: tuple  # (exercise id, points)
    course_version: str
    shard: dict = None  # which part of the class this gradebook covers (shards.py), None for all of it

    @property
    def seed_id(self):
        """Names the seed without revealing it (the hidden cases cannot be drawn from it)."""
        return hashlib.sha256(f"course-lib hidden cases {self.seed}".encode()).hexdigest()[:12]

    def public(self):
        public = {"seed_id": self.seed_id, "exercises": [list(item) for item in self.exercises],
                  "course_version": self.course_version}
        return public | ({"shard": self.shard} if self.shard is not None else {})


def seed_for(out, seed=None, seed_file=None):
    """``seed`` if given, else the one kept in ``seed_file`` (default ``<out>.seed``), made at random on
    first use."""
    if seed is not None:
        return seed
    return kept_seed(seed_file or Path(str(out) + ".seed"))


def kept_seed(path):
    """The seed kept in the file ``path``, readable by its owner only; made at random if the file is
    missing. Processes that start together (the shards of a class) all get the first one made: each
    writes its own candidate, and only one can link it to ``path``."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f"{path.name}.{secrets.token_hex(8)}.partial")
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(f"{secrets.randbits(62)}\n")
                file.flush()
                os.fsync(file.fileno())
            os.link(candidate, path)
        except FileExistsError:
            pass  # another process made it first: its seed is the one
        finally:
            candidate.unlink()
    try:
        return int(path.read_text().strip())
    except ValueError:
        raise ValueError(f"{path} does not hold a seed (one integer): restore it, or pass --seed.") from None


class Gradebook:
    def __init__(self, path, settings, known_students, restart=False):
        self.path = Path(path)
        self.points = dict(settings.exercises)
        self.header = ["student", *self.points, "total", "max", "status", "note"]
        self.run_file = Path(str(self.path) + ".run.json")
        self.dropped = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if restart or not self.path.exists():
            self.rows = {}
        else:
            self.check_settings(settings)
            self.rows = self.read_existing(set(known_students))
        write_atomically(self.run_file, json.dumps(settings.public(), indent=1) + "\n")
        self.write()

    def check_settings(self, settings):
        stored = read_json(self.run_file)
        current = settings.public()
        if stored == current:
            return
        if stored is None:
            started = f"unknown settings ({self.run_file.name} is missing or unreadable)"
        elif stored.get("seed_id") != current["seed_id"]:
            started = "another seed (--seed, or the one in <out>.seed)"
        elif stored.get("exercises") != current["exercises"]:
            started = "other exercises or points (the registry changed since)"
        elif stored.get("shard") != current.get("shard"):
            started = "another shard of the class, or another class (--shard, or the submissions folder)"
        else:
            started = f"course version {stored.get('course_version')}, not {current['course_version']}"
        raise ValueError(f"{self.path} was started with {started}: resume with the same settings, or pass "
                         "--restart to grade everyone again.")

    def read_existing(self, known_students):
        rows = read_csv(self.path)
        if not rows or rows[0] != self.header:
            raise ValueError(f"{self.path} does not have this run's columns (expected {self.header}); pass "
                             "--restart to replace it, or choose another --out.")
        rows = rows[1:]
        students = [row[0] if row else None for row in rows]
        kept = {row[0]: row for row in rows
                if students.count(row[0] if row else None) == 1 and self.is_ours(row, known_students)}
        self.dropped = len(rows) - len(kept)
        return kept

    def is_ours(self, row, known_students):
        """Whether ``row`` is one this grader writes, for a student of this class."""
        if len(row) != len(self.header) or row[0] not in known_students:
            return False
        values = dict(zip(self.header, row))
        try:
            points = {exercise: float(values[exercise]) for exercise in self.points}
            total, most = float(values["total"]), float(values["max"])
        except ValueError:
            return False
        return (values["status"] in STATUSES
                and all(value in (0, self.points[exercise]) for exercise, value in points.items())
                and math.isclose(total, sum(points.values())) and math.isclose(most, sum(self.points.values())))

    def __contains__(self, student):
        return student in self.rows

    def add(self, row):
        """Store one student's row (a list in header order) and rewrite the file."""
        self.rows[row[0]] = [str(value) for value in row]
        self.write()

    def write(self):
        write_csv(self.path, [self.header] + [self.rows[student] for student in sorted(self.rows)])


def write_csv(path, rows):
    """Rows of text, written as every CSV of the grader is: each cell cleaned, quoted and kept from
    starting a formula (names.csv_cell), lines ended by CRLF, the file replaced atomically."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(
        [[csv_cell(cell) for cell in row] for row in rows])
    write_atomically(path, buffer.getvalue())


def read_csv(path):
    """The rows of a CSV that write_csv wrote, each cell as it was given (names.from_csv_cell); [] when
    the file is not UTF-8 CSV."""
    try:
        rows = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        return []
    return [[from_csv_cell(cell) for cell in row] for row in rows]


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_atomically(path, text):
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a part."""
    partial = Path(str(path) + ".partial")
    with open(partial, "w", encoding="utf-8", newline="") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
