"""The grader's subcommands: ``course-lib grade`` (see course_lib/grading/__init__.py), ``course-lib report``
(see class_report.py), ``course-lib merge`` (shards.py) and ``course-lib export gradescope|slurm``
(gradescope.py, slurm.py)."""

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
    parser.add_argument("--seed-file", metavar="FILE",
                        help="keep the secret seed in FILE instead of <out>.seed (made if missing): give every "
                             "shard of a class the same one")
    parser.add_argument("--shard", type=shard_argument, metavar="I/N",
                        help="grade only shard I of N (0 <= I < N) of the class, for a cluster's job array; "
                             "merge the shards' gradebooks with course-lib merge")
    add_lms_options(parser)
    parser.set_defaults(run=run_grade)


def add_lms_options(parser):
    from course_lib.grading import lms

    parser.add_argument("--format", choices=lms.FORMATS, dest="lms",
                        help="also write the gradebook an LMS imports, beside --out (gradebook.canvas.csv or "
                             "gradebook.moodle.csv)")
    parser.add_argument("--roster", metavar="CSV",
                        help="for --format: maps submission names to the LMS's students (columns Submission, "
                             "Student, ID, SIS User ID, SIS Login ID, Section, User ID, Username, ID number, Email; "
                             "a Canvas gradebook export works)")
    parser.add_argument("--assignment", default=lms.DEFAULT_ASSIGNMENT, metavar="NAME",
                        help=f"for --format: the assignment's column (default {lms.DEFAULT_ASSIGNMENT!r})")


def add_merge_command(subcommands):
    parser = subcommands.add_parser(
        "merge", help="merge the gradebooks of a class graded in shards (instructors)",
        description="Merge the gradebooks written by course-lib grade --shard I/N into one, the same as a one-machine "
                    "run's. Refuses shards that do not make one finished class: a shard missing or unfinished, a "
                    "student in two shards, another seed, course version or class.")
    parser.add_argument("shards", nargs="+", metavar="SHARD_CSV", help="every shard's gradebook (shard-*.csv)")
    parser.add_argument("--out", required=True, metavar="CSV", help="the merged gradebook to write")
    add_lms_options(parser)
    parser.set_defaults(run=run_merge)


def add_export_command(subcommands):
    parser = subcommands.add_parser(
        "export", help="write an autograder for Gradescope, or the Slurm script (instructors)",
        description="gradescope OUT.zip: the autograder to upload to a Gradescope programming assignment (it "
                    "holds this course, solutions included, and the hidden cases' seed: keep it private). "
                    "slurm OUT.sbatch: the job-array script that grades a class in shards on a Slurm cluster.")
    parser.add_argument("target", choices=("gradescope", "slurm"))
    parser.add_argument("out", metavar="OUT", help="the file to write")
    parser.add_argument("--seed", type=int, default=None, metavar="K",
                        help="gradescope: seed of the hidden cases (default: a new secret one)")
    parser.set_defaults(run=run_export)


def shard_argument(text):
    from course_lib.grading.shards import Shard

    try:
        return Shard.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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

    if arguments.shard is not None and arguments.lms:
        print("course-lib grade: --format goes with the whole class: give it to course-lib merge.", file=sys.stderr)
        return 2
    try:
        summary = grade(arguments.submissions, arguments.out, arguments.feedback, jobs=arguments.jobs,
                        timeout=arguments.timeout, seed=arguments.seed, restart=arguments.restart,
                        require_isolation=arguments.require_isolation, seed_file=arguments.seed_file,
                        shard=arguments.shard)
        print(summary)
        return write_lms_gradebook("grade", arguments)
    except (FileNotFoundError, ValueError) as error:
        print(f"course-lib grade: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ncourse-lib grade: interrupted; run the same command again to resume ({arguments.out} keeps "
              "every student graded so far).", file=sys.stderr)
        return 130


def run_merge(arguments):
    from course_lib.grading.shards import merge

    try:
        print(merge(arguments.shards, arguments.out))
        return write_lms_gradebook("merge", arguments)
    except ValueError as error:
        print(f"course-lib merge: {error}", file=sys.stderr)
        return 2


def write_lms_gradebook(command, arguments):
    """The LMS's gradebook beside --out, when --format asks for one; its problems go to stderr."""
    from course_lib.grading import lms

    if not arguments.lms:
        return 0
    path, problems = lms.export(arguments.out, arguments.lms, arguments.roster, arguments.assignment)
    print(f"{arguments.lms} gradebook: {path}")
    for problem in problems:
        print(f"course-lib {command}: {problem}", file=sys.stderr)
    return 0


def run_export(arguments):
    from course_lib.grading import gradescope, slurm

    try:
        if arguments.target == "gradescope":
            print(gradescope.export(arguments.out, arguments.seed))
        else:
            print(slurm.export(arguments.out))
    except (FileExistsError, ValueError) as error:
        print(f"course-lib export: {error}", file=sys.stderr)
        return 2
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


GRADING_COMMANDS = {"grade": add_grade_command, "report": add_report_command, "merge": add_merge_command,
                    "export": add_export_command}
