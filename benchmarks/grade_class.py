"""How long grading a class takes: 100 copies of the instructor edition, --jobs 2 (goal: <= 3 minutes).

    python benchmarks/grade_class.py [--students 100] [--jobs 2]

Prints the wall time of the whole run, the time per submission, and the isolation used.
"""

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

from course_lib.grading import grade

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 180


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        submissions = Path(scratch, "submissions")
        for number in range(args.students):
            shutil.copytree(ROOT / "course_lib", submissions / f"student{number:03d}" / "course_lib",
                            ignore=shutil.ignore_patterns("__pycache__"))
        started = time.perf_counter()
        summary = grade(submissions, Path(scratch, "gradebook.csv"), Path(scratch, "feedback"), jobs=args.jobs)
        seconds = time.perf_counter() - started
        with open(Path(scratch, "gradebook.csv"), newline="") as file:
            full_marks = sum(row["total"] == row["max"] for row in csv.DictReader(file))
    print(summary)
    print(f"{args.students} submissions, --jobs {args.jobs}: {seconds:.1f} s wall "
          f"({seconds / args.students:.2f} s per submission; goal {GOAL_SECONDS} s); "
          f"{full_marks} with full marks")


if __name__ == "__main__":
    main()
