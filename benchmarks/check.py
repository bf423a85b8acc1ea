"""How long one `check` takes, per exercise: right, and wrong in each known way (run by hand; not a test).

    python benchmarks/check.py            # every exercise, best of 3 runs each
    python benchmarks/check.py --repeat 1

For each exercise: the time of check_exercise(id) on this instructor edition (every case passes) and
the slowest over the wrong implementations of tests/mistakes.py for that exercise (a failing check also
computes the candidate mistakes it compares with). The course's goal: under 1 s per exercise. Torch is
imported and warmed up before timing, as it is in a notebook by the time a check cell runs.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from course_lib.check import check_exercise  # noqa: E402
from course_lib.exercises import EXERCISES  # noqa: E402
from mistakes import MISTAKES  # noqa: E402
from test_mistakes import copy_with  # noqa: E402

GOAL_SECONDS = 1.0


def best_time(check, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        check()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per check, the best counts (default: 3)")
    args = parser.parse_args()

    check_exercise("relu")  # imports and first-call costs, paid once per kernel
    print(f"{'exercise':28} {'right':>8} {'slowest wrong':>14}  mistakes")
    slowest = 0.0
    with tempfile.TemporaryDirectory() as work:
        for exercise in EXERCISES:
            right = best_time(lambda: check_exercise(exercise.id), args.repeat)
            wrong = []
            for number, (hint_id, exercise_id, edits) in enumerate(MISTAKES):
                if exercise_id == exercise.id:
                    package = copy_with(Path(work) / str(number), edits)
                    wrong.append(best_time(lambda: check_exercise(exercise.id, package=package), args.repeat))
            worst = max(wrong, default=0.0)
            slowest = max(slowest, right, worst)
            print(f"{exercise.id:28} {right:7.3f}s {worst:13.3f}s  {len(wrong)}")
    verdict = "meets" if slowest < GOAL_SECONDS else "misses"
    print(f"slowest check: {slowest:.3f} s ({verdict} the goal of {GOAL_SECONDS:g} s per exercise)")


if __name__ == "__main__":
    main()
