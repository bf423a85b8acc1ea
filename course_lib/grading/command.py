"""The grader's subcommands: ``course-lib grade`` (see course_lib/grading/__init__.py) and ``course-lib report``
(see class_report.py)."""

import argparse
import sys


def add_grade_command(subcommands):
    parser = subcommands.add_parser(
        "grade", help="grade a folder of submissions (instructors)",
        description="Run every submission in its own sandboxed process, compare with PyTorch autograd, and "
                    "write a gradebook CSV and one feedback file per student. Points are all or nothing per "
                    "exercise: every visible and hidden case must match.")
    parser.add_argument("submissions", metavar="SUBMISSIONS",
                        help="folder with one entry per student, named by the student id: a folder or a .zip "
                             "holding course_lib/ (at the top or one folder down)")
    parser.add_argument("--out", required=True, metavar="CSV", help="the gradebook to write (or resume)")
    parser.add_argument("--feedback", required=True, metavar="DIR", help="folder for <student>.md and .html")
    parser.add_argument("--jobs", type=positive_int, default=2, metavar="N", help="submissions graded at once (2)")
    parser.add_argument("--timeout", type=positive_float, default=60.0, metavar="SECONDS",
                        help="wall-time limit of one submission's process (60)")
    parser.add_argument("--seed", type=int, default=None, metavar="K",
                        help="seed of the hidden cases (default: a secret one, made on the first run and kept in "
                             "<out>.seed; the same seed gives the same grades)")
    parser.add_argument("--require-isolation", action="store_true",
                        help="refuse to grade unless every kernel-enforced protection works on this machine "
                             "(bubblewrap, seccomp, memory cgroup, output tmpfs, own uid)")
    parser.add_argument("--restart", action="store_true",
                        help="grade everyone again instead of resuming after the students already in --out")
    parser.set_defaults(run=run_grade)


def positive_int(text):
    return positive(text, int)


def positive_float(text):
    return positive(text, float)


def positive(text, kind):
    try:
        value = kind(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def run_grade(arguments):
    from course_lib.grading import grade

    try:
        summary = grade(arguments.submissions, arguments.out, arguments.feedback, jobs=arguments.jobs,
                        timeout=arguments.timeout, seed=arguments.seed, restart=arguments.restart,
                        require_isolation=arguments.require_isolation)
    except (FileNotFoundError, ValueError) as error:
        print(f"course-lib grade: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ncourse-lib grade: interrupted; run the same command again to resume ({arguments.out} keeps "
              "every student graded so far).", file=sys.stderr)
        return 130
    print(summary)
    return 0


def add_report_command(subcommands):
    parser = subcommands.add_parser(
        "report", help="what a graded class got wrong, at a glance (instructors)",
        description="Read a gradebook written by course-lib grade (and its .run.json and .records.jsonl beside "
                    "it) and write the class report: score distribution, each exercise's mean, pass rate and "
                    "statuses, the mistakes the class made most with the students behind them, and the "
                    "submissions flagged for review.")
    parser.add_argument("gradebook", metavar="GRADEBOOK.csv", help="the gradebook course-lib grade wrote")
    parser.add_argument("--out", default="class-report.html", metavar="HTML",
                        help="the page to write: one self-contained file (class-report.html)")
    parser.add_argument("--json", metavar="JSON", help="also write the report's numbers as JSON to this file")
    parser.set_defaults(run=run_report)


def run_report(arguments):
    import json

    from course_lib.grading.class_report import ClassReport
    from course_lib.grading.gradebook import write_atomically

    try:
        report = ClassReport.read(arguments.gradebook)
    except (FileNotFoundError, ValueError) as error:
        print(f"course-lib report: {error}", file=sys.stderr)
        return 2
    write_atomically(arguments.out, report.html())
    if arguments.json:
        write_atomically(arguments.json, json.dumps(report.numbers, indent=1) + "\n")
    print(report.summary())
    print(f"report: {arguments.out}" + (f"; numbers: {arguments.json}" if arguments.json else ""))
    return 0


GRADING_COMMANDS = {"grade": add_grade_command, "report": add_report_command}
