"""How long `course-lib report` takes for a large class: synthetic records, every exercise of the registry.

    python benchmarks/class_report.py               # 1,000 students
    python benchmarks/class_report.py --students 300

Writes a gradebook, its run.json and records for N students (each exercise passed, or failed with one to
three mistakes drawn from the hint catalogue, a few students timed out, invalid or flagged for review), runs
the `course-lib report` command on them and prints the wall time and the page's size. The course's goal: a
class of 1,000 students reported in under 10 s on 2 cores.
"""

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_lib import exercises as registry
from course_lib.check.hints import CATALOGUE
from course_lib.grading.records import records_path

GOAL_SECONDS = 10
STATUSES = ["ok"] * 90 + ["partial"] * 4 + ["timeout", "crashed", "invalid"] + ["review"] * 3


def synthetic_class(folder, students, rng):
    exercises = [(exercise.id, exercise.points) for exercise in registry.EXERCISES]
    mistakes = {exercise: [hint_id for hint_id in CATALOGUE if hint_id.startswith(exercise + "/")] or
                [hint_id for hint_id in CATALOGUE if hint_id.startswith("any/")] for exercise, _ in exercises}
    gradebook = folder / "gradebook.csv"
    with open(gradebook, "w", newline="") as file, open(records_path(gradebook), "w") as records:
        writer = csv.writer(file, quoting=csv.QUOTE_ALL)
        writer.writerow(["student", *(exercise for exercise, _ in exercises), "total", "max", "status", "note"])
        for number in range(students):
            student, status = f"student{number:05d}", rng.choice(STATUSES)
            graded = []
            for exercise, points in exercises:
                passed = status != "invalid" and rng.random() < 0.8
                verdict = "pass" if passed else "timeout" if status == "timeout" else "wrong"
                named = [] if passed else rng.sample(mistakes[exercise], min(len(mistakes[exercise]), rng.randint(1, 3)))
                graded.append({"id": exercise, "points": points if passed else 0, "max_points": points,
                               "cases": [{"label": f"visible: case {index}", "hidden": index > 3, "verdict": verdict,
                                          "hint_ids": named} for index in range(6)]})
            total = sum(item["points"] for item in graded)
            review = [{"file": "course_lib/nn/conv.py", "line": 12, "construct": "torch.ops",
                       "why": "not allowed"}] if status == "review" else []
            writer.writerow([student, *(f"{item['points']:g}" for item in graded), f"{total:g}",
                             f"{sum(points for _, points in exercises):g}", status, ""])
            records.write(json.dumps({"student": student, "status": status, "total": total, "review": review,
                                      "exercises": graded}) + "\n")
    Path(str(gradebook) + ".run.json").write_text(json.dumps(
        {"seed_id": "synthetic", "exercises": [list(item) for item in exercises], "course_version": "benchmark"}))
    return gradebook


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--students", type=int, default=1000, help="class size (default: %(default)s)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        gradebook = synthetic_class(Path(folder), arguments.students, random.Random(0))
        command = [sys.executable, "-m", "course_lib", "report", str(gradebook), "--out", f"{folder}/report.html",
                   "--json", f"{folder}/report.json"]
        started = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if run.returncode:
            sys.exit(f"course-lib report failed:\n{run.stderr}")
        size = Path(folder, "report.html").stat().st_size
    print(run.stdout)
    print(f"{arguments.students} students reported in {seconds:.1f} s (the whole command); page {size / 1e6:.1f} MB")
    if arguments.students == 1000:
        print(f"[{'met' if seconds < GOAL_SECONDS else 'MISSED'}] 1,000 students in under {GOAL_SECONDS} s")


if __name__ == "__main__":
    main()
