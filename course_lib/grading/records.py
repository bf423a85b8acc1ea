"""The machine-readable record of a grading run: per student, each exercise's cases and the mistakes named.

``<out>.records.jsonl`` beside the gradebook, one JSON object per graded student, appended (and flushed
to disk) as each student is graded; a line cut short by an interrupted run is ignored. What the class
report (class_report.py) counts. A record holds no value of any case, visible or hidden, and no code or
message of the student's: verdicts, the catalogue ids of the mistakes, and the review's file:line notes::

    {"student": "alice", "status": "ok", "total": 32, "max": 33,
     "review": [{"file": "course_lib/nn/conv.py", "line": 12, "construct": "torch.ops", "why": "..."}],
     "exercises": [{"id": "relu.backward", "points": 0, "max_points": 1,
                    "cases": [{"label": "visible: batch 1", "hidden": false, "verdict": "wrong",
                               "hint_ids": ["relu.backward/grad-output-forgotten"]}]}]}

Resuming keeps the records of the students whose gradebook rows were kept, and no other.
"""

import json
import os
from dataclasses import asdict
from pathlib import Path

from course_lib.grading.gradebook import write_atomically


def records_path(gradebook):
    return Path(str(gradebook) + ".records.jsonl")


def record_of(graded):
    """The record (a JSON-able dict) of one GradedSubmission."""
    return {"student": graded.student, "status": graded.status, "total": graded.total, "max": graded.max_points,
            "review": [asdict(finding) for finding in graded.findings],
            "exercises": [{"id": score.exercise, "points": score.points, "max_points": score.max_points,
                           "cases": [{"label": case.label, "hidden": case.hidden, "verdict": case.verdict,
                                      "hint_ids": list(case.hint_ids)} for case in score.cases]}
                          for score in graded.exercises]}


def read_records(path):
    """{student: record} from a records file (the last record of a student wins; broken lines are skipped)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return {}
    records = {}
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("student"), str):
            records[record["student"]] = record
    return records


class Records:
    """Appends one line per graded student to ``<gradebook>.records.jsonl``."""

    def __init__(self, gradebook, kept_students, restart=False):
        self.path = records_path(gradebook)
        kept = {} if restart else read_records(self.path)
        lines = [json.dumps(record) + "\n" for student, record in sorted(kept.items()) if student in kept_students]
        write_atomically(self.path, "".join(lines))

    def add(self, graded):
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record_of(graded)) + "\n")
            file.flush()
            os.fsync(file.fileno())
