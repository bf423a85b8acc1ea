"""How long `course-lib grade` takes for a class: N copies of the instructor edition (run by hand; not a test).

    python benchmarks/grading.py               # 100 submissions, --jobs 2
    python benchmarks/grading.py --students 20 --jobs 4

Grades N identical full-marks submissions with the `course-lib grade` command, in a temporary folder,
and prints the wall time, the time per submission, the isolation the run used, and whether every
student got full marks. The course's goal: 100 submissions within 3 minutes on 2 cores.
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 180


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--students", type=int, default=100, help="submissions to grade (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default: %(default)s)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for number in range(args.students):
            shutil.copytree(ROOT / "course_lib", work / "submissions" / f"student{number:03d}" / "course_lib",
                            ignore=shutil.ignore_patterns("__pycache__"))
        command = [sys.executable, "-m", "course_lib", "grade", str(work / "submissions"),
                   "--out", str(work / "gradebook.csv"), "--feedback", str(work / "feedback"),
                   "--jobs", str(args.jobs)]
        print(f"{os.cpu_count()} logical cores; course-lib grade <{args.students} copies of the instructor "
              f"edition> --jobs {args.jobs}", flush=True)
        started = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if run.returncode:
            sys.exit(f"course-lib grade exited with {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
        with open(work / "gradebook.csv", newline="") as file:
            rows = list(csv.DictReader(file))

    perfect = sum(row["status"] == "ok" and float(row["total"]) == float(row["max"]) for row in rows)
    print(next((line for line in (run.stdout + run.stderr).splitlines() if line.startswith("isolation:")), ""))
    print(f"{args.students} submissions in {seconds:.0f} s ({seconds / args.students:.2f} s each); "
          f"{perfect} of {len(rows)} rows with full marks")
    if args.students == 100:
        met = seconds <= GOAL_SECONDS
        print(f"[{'met' if met else 'MISSED'}] 100 submissions within {GOAL_SECONDS} s")


if __name__ == "__main__":
    main()
