"""Grading a class in shards, one per machine (a cluster's job array), and merging their gradebooks.

    course-lib grade SUBMISSIONS --shard I/N --seed-file CLASS.seed --out shard-I.csv --feedback DIR
    course-lib merge shard-*.csv --out gradebook.csv

Shard I of N (0 <= I < N, as Slurm numbers array tasks) grades the students at places I, I + N,
I + 2N, ... of the class sorted by student id: each shard reads the same submissions folder, so the N
shards cover the class exactly once, whatever machine runs which. A shard is an ordinary grading run
(resumable, with its own ``<out>.run.json``) whose settings also name the shard and the class: its
number of students and a digest of their ids.

The hidden cases' seed is secret and must be one for the whole class: every shard is given the same
``--seed-file``. The first shard to start makes it (readable by its owner only); the others, even
starting in the same second, read that one (gradebook.kept_seed).

``merge`` refuses to write anything unless the shards make exactly one class: the same seed, course
version, exercises and class in each, every shard from 0 to N-1 there once and finished (all its
students graded), no student in two shards. Its gradebook, and ``<out>.run.json``, are those a
one-machine run with the same seed writes; ``<out>.records.jsonl`` holds every shard's records, for
``course-lib report``.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from course_lib.grading.gradebook import read_csv, read_json, write_atomically, write_csv
from course_lib.grading.records import read_records, records_path

SHARD_PATTERN = re.compile(r"(\d+)/(\d+)")
SHARED_SETTINGS = ("seed_id", "exercises", "course_version")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text):
        """``I/N`` with 0 <= I < N; ValueError saying what is expected otherwise."""
        match = SHARD_PATTERN.fullmatch(text.strip())
        if not match or not 0 <= int(match[1]) < int(match[2]):
            raise ValueError(f"--shard takes I/N with 0 <= I < N (shard I of N, numbered from 0 as Slurm's "
                             f"array tasks are), not {text!r}")
        return cls(int(match[1]), int(match[2]))

    def __str__(self):
        return f"{self.index}/{self.count}"

    def select(self, submissions):
        """This shard's part of the class (``submissions`` sorted by student id, as find_submissions gives)."""
        return submissions[self.index::self.count]

    def settings(self, submissions):
        """What ``<out>.run.json`` records of this shard: enough for merge to tell that shards fit."""
        students = [submission.student for submission in submissions]
        return {"index": self.index, "count": self.count, "students": len(self.select(submissions)),
                "class_size": len(students), "class_digest": class_digest(students)}


def class_digest(students):
    """Names a class (its sorted student ids) without listing it."""
    return hashlib.sha256("\n".join(sorted(students)).encode("utf-8", "surrogatepass")).hexdigest()[:16]


class MergeRefused(ValueError):
    """The shards given do not make one finished class; the message says what to run or fix."""


@dataclass
class ShardGradebook:
    path: Path
    settings: dict
    header: list
    rows: list

    @property
    def shard(self):
        return self.settings["shard"]


def read_shard(path):
    path = Path(path)
    settings = read_json(f"{path}.run.json")
    if not path.is_file():
        raise MergeRefused(f"{path} does not exist.")
    if not isinstance(settings, dict) or not isinstance(settings.get("shard"), dict):
        raise MergeRefused(f"{path} is not a shard's gradebook ({path}.run.json is missing or names no shard): "
                           "grade with --shard I/N.")
    rows = read_csv(path)
    if not rows:
        raise MergeRefused(f"{path} is not a gradebook (no CSV header).")
    return ShardGradebook(path, settings, rows[0], rows[1:])


def merge(paths, out):
    """Merge the shard gradebooks at ``paths`` into ``out`` (and ``<out>.run.json``); returns a summary.
    Raises MergeRefused, writing nothing, unless they make exactly one finished class."""
    shards = [read_shard(path) for path in paths]
    if not shards:
        raise MergeRefused("no shard gradebook was given.")
    first = shards[0]
    for other in shards[1:]:
        for key in SHARED_SETTINGS:
            if other.settings.get(key) != first.settings.get(key):
                raise MergeRefused(f"{other.path} and {first.path} were graded with a different {key.replace('_', ' ')}: "
                                   "grade every shard with the same --seed-file and the same course.")
        for key in ("count", "class_digest", "class_size"):
            if other.shard.get(key) != first.shard.get(key):
                raise MergeRefused(f"{other.path} and {first.path} are shards of different classes or shard counts "
                                   "(each shard must read the same submissions folder, with the same N).")
        if other.header != first.header:
            raise MergeRefused(f"{other.path} and {first.path} have different columns.")
    count = first.shard["count"]
    by_index = {}
    for shard in shards:
        if shard.shard["index"] in by_index:
            raise MergeRefused(f"{shard.path} and {by_index[shard.shard['index']].path} are both shard "
                               f"{shard.shard['index']}/{count}: give each shard once.")
        by_index[shard.shard["index"]] = shard
    missing = [index for index in range(count) if index not in by_index]
    if missing:
        listed = ", ".join(f"{index}/{count}" for index in missing)
        raise MergeRefused(f"shard(s) {listed} missing: grade them (sbatch --array={','.join(map(str, missing))} ..., "
                           "or course-lib grade ... --shard I/N), then merge again.")
    merged = {}
    for shard in shards:
        if len(shard.rows) != shard.shard["students"]:
            raise MergeRefused(f"{shard.path} (shard {shard.shard['index']}/{count}) has {len(shard.rows)} of its "
                               f"{shard.shard['students']} students: it stopped before the end; run it again with the "
                               "same command to finish it, then merge again.")
        for row in shard.rows:
            student = row[0] if row else ""
            if student in merged:
                raise MergeRefused(f"{student!r} is graded in two shards ({shard.path} and {merged[student][0]}): "
                                   "each student must be in exactly one shard.")
            merged[student] = (shard.path, row)
    if class_digest(merged) != first.shard["class_digest"]:
        raise MergeRefused("the shards' students are not the class they were cut from (a shard's gradebook was "
                           "edited, or comes from another run): grade the shards again.")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_csv(out, [first.header] + [merged[student][1] for student in sorted(merged)])
    public = {key: first.settings[key] for key in SHARED_SETTINGS}
    # The very settings file a one-machine run writes: its gradebook can be resumed or compared alike.
    write_atomically(Path(f"{out}.run.json"), json.dumps(public, indent=1) + "\n")
    records = {}
    for shard in shards:
        records |= read_records(records_path(shard.path))
    kept = [records[student] for student in sorted(merged) if student in records]
    write_atomically(records_path(out), "".join(json.dumps(record) + "\n" for record in kept))
    missing = len(merged) - len(kept)
    unrecorded = f"; {missing} student(s) without a record, whom course-lib report will not count" if missing else ""
    return f"merged {count} shard(s): {len(merged)} student(s) in {out}{unrecorded}"
