"""The class report: what a whole class got wrong, from a gradebook and its records.

    course-lib report GRADEBOOK.csv [--out class-report.html] [--json class-report.json]

Reads the gradebook, ``<gradebook>.run.json`` (seed id, course version) and ``<gradebook>.records.jsonl``
(records.py), and gives

- ``ClassReport.numbers``: the JSON, ``{"students", "course_version", "seed_id", "exercises": [{"id",
  "max_points", "mean_points", "pass_rate", "statuses", "mistakes": [{"id", "text", "count",
  "students"}]}], "review": [{"student", "notes"}]}``; mistakes ranked by how many students made them;
- ``ClassReport.html()``: one self-contained page (plots embedded as PNG, no script, no network);
- ``ClassReport.summary()``: a few lines for the terminal (the three most common mistakes, the weakest
  exercise).

A student counts once per mistake per exercise, however many cases showed it. An exercise's status
for a student: ``invalid`` or ``review`` as the student's row; else ``timeout`` or ``crashed`` when one
of its cases was lost that way; else ``ok``. The report shows verdicts, catalogue texts, ids and the
review's file:line notes: no case value and no student's code or message.
"""

import base64
import csv
import functools
import io
from dataclasses import dataclass
from pathlib import Path

from course_lib.check.hints import CATALOGUE
from course_lib.grading.gradebook import read_json
from course_lib.grading.names import clean, from_csv_cell
from course_lib.grading.records import read_records, records_path
from course_lib.grading.report import template

EXERCISE_STATUSES = ("ok", "timeout", "crashed", "invalid", "review")
LOST = {"timeout": "timeout", "crashed": "crashed", "not run": "crashed"}
FIXED_COLUMNS = ("student", "total", "max", "status", "note")


@dataclass
class ClassReport:
    gradebook: Path
    rows: dict  # {student: {column: cell}}
    records: dict  # {student: record}
    settings: dict  # run.json

    @classmethod
    def read(cls, gradebook):
        gradebook = Path(gradebook)
        if not gradebook.is_file():
            raise FileNotFoundError(f"{gradebook} is not a gradebook file: give the CSV course-lib grade wrote.")
        with open(gradebook, newline="", encoding="utf-8") as file:
            rows = {from_csv_cell(row["student"]): row for row in csv.DictReader(file)}
        settings = read_json(str(gradebook) + ".run.json")
        if settings is None:
            raise ValueError(f"{gradebook}.run.json is missing: report on a gradebook written by course-lib grade.")
        records = read_records(records_path(gradebook))
        missing = sorted(set(rows) - set(records))
        if missing:
            raise ValueError(f"{records_path(gradebook).name} has no record of {len(missing)} student(s) of the "
                             f"gradebook (first: {clean(missing[0], 60)}): grade them again (course-lib grade "
                             "resumes), or merge the shards' records with their gradebooks.")
        return cls(gradebook, rows, {student: records[student] for student in rows}, settings)

    @property
    def exercise_points(self):
        return dict(self.settings["exercises"])

    @functools.cached_property
    def numbers(self):
        exercises = []
        for exercise, max_points in self.exercise_points.items():
            points = [float(row[exercise]) for row in self.rows.values()]
            statuses = dict.fromkeys(EXERCISE_STATUSES, 0)
            mistakes = {}
            for student, record in self.records.items():
                cases = next((item["cases"] for item in record["exercises"] if item["id"] == exercise), [])
                statuses[exercise_status(record["status"], cases)] += 1
                for hint_id in {hint_id for case in cases for hint_id in case["hint_ids"]}:
                    mistakes.setdefault(hint_id, []).append(student)
            count = len(points)
            exercises.append({
                "id": exercise, "max_points": max_points, "mean_points": sum(points) / count if count else 0.0,
                "pass_rate": sum(value == max_points for value in points) / count if count else 0.0,
                "statuses": statuses,
                "mistakes": [{"id": hint_id, "text": hint_text(hint_id), "count": len(students),
                              "students": sorted(students)}
                             for hint_id, students in sorted(mistakes.items(), key=lambda item: (-len(item[1]), item[0]))],
            })
        review = [{"student": student, "notes": [f"{finding['file']}:{finding['line']}: {finding['construct']} "
                                                 f"({finding['why']})" for finding in record["review"]]}
                  for student, record in sorted(self.records.items()) if record["review"]]
        return {"students": len(self.rows), "course_version": self.settings.get("course_version"),
                "seed_id": self.settings.get("seed_id"), "exercises": exercises, "review": review}

    def most_common_mistakes(self, count=3):
        """The ``count`` mistakes most students made, each with its exercise, over the whole class."""
        every = [(mistake, exercise["id"]) for exercise in self.numbers["exercises"] for mistake in exercise["mistakes"]]
        return sorted(every, key=lambda item: (-item[0]["count"], item[0]["id"]))[:count]

    def weakest_exercise(self):
        exercises = self.numbers["exercises"]
        return min(exercises, key=lambda item: (item["pass_rate"], item["mean_points"] / item["max_points"]),
                   default=None)

    def summary(self):
        numbers = self.numbers
        lines = [f"{numbers['students']} students (course {numbers['course_version']}, seed {numbers['seed_id']})."]
        common = self.most_common_mistakes()
        if common:
            lines.append("Most common mistakes:")
            lines += [f"  {rank}. {mistake['count']} of {numbers['students']}: {mistake['id']} "
                      f"({clean(mistake['text'].split(':')[0], 80)})" for rank, (mistake, _) in enumerate(common, 1)]
        weakest = self.weakest_exercise()
        if weakest:
            lines.append(f"Weakest exercise: {weakest['id']} ({weakest['pass_rate']:.0%} pass, mean "
                         f"{weakest['mean_points']:.2g} / {weakest['max_points']:g} points).")
        if numbers["review"]:
            lines.append(f"{len(numbers['review'])} student(s) flagged for review.")
        return "\n".join(lines)

    def html(self):
        totals = [float(row["total"]) for row in self.rows.values()]
        most = sum(self.exercise_points.values())
        return template("class_report.html").render(numbers=self.numbers, gradebook=self.gradebook.name, most=most,
                                 distribution=score_plot(totals, most),
                                 pass_rates=pass_rate_plot(self.numbers["exercises"]),
                                 common=self.most_common_mistakes(), weakest=self.weakest_exercise())


def exercise_status(student_status, cases):
    if student_status in ("invalid", "review"):
        return student_status
    lost = [LOST[case["verdict"]] for case in cases if case["verdict"] in LOST]
    return "timeout" if "timeout" in lost else lost[0] if lost else "ok"


def hint_text(hint_id):
    hint = CATALOGUE.get(hint_id)
    return f"{hint.name}: {hint.cause}" if hint else "(not in this course's hint catalogue)"


# --- plots, as PNG embedded in the page ----------------------------------------------------------------


def png(figure):
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def score_plot(totals, most):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 2.6))
    bins = min(max(int(most), 1), 40)
    axes.hist(totals, bins=bins, range=(0, most), color="#4878a8", edgecolor="white")
    axes.set_xlabel(f"total points (of {most:g})")
    axes.set_ylabel("students")
    axes.set_title("Score distribution")
    return png(figure)


def pass_rate_plot(exercises):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 0.22 * len(exercises) + 0.8))
    names = [exercise["id"] for exercise in exercises][::-1]
    rates = [100 * exercise["pass_rate"] for exercise in exercises][::-1]
    axes.barh(names, rates, color=["#c0504d" if rate < 50 else "#4878a8" for rate in rates])
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of students with full points")
    axes.tick_params(axis="y", labelsize=7)
    axes.set_title("Pass rate per exercise")
    return png(figure)

