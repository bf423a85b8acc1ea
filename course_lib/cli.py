"""The ``course-lib`` command (also ``python -m course_lib``).

    course-lib check          every exercise: pass / fail / not started, by notebook, with points
    course-lib check ID       one exercise's full report (or an id prefix: "relu", "init")
    course-lib check ID --speed   the same, then its speed at the capstone's shapes beside torch's
    course-lib release OUT    (instructors) write the student edition to OUT [--force] [--source DIR]
                              [--repo URL [--branch B]]
    course-lib grade, report, merge, export   (instructors) grade a class, on one machine, in shards or on
                              Gradescope; what the class got wrong (course_lib/grading)

Each subcommand is a function ``add_<name>_command(subcommands)`` that adds its parser and sets
``run`` (a function of the parsed arguments returning the exit code); list it in ``COMMANDS``.
"""

import argparse
import importlib.util
import sys
from functools import partial


def add_check_command(subcommands):
    parser = subcommands.add_parser(
        "check", help="check your exercises against PyTorch autograd",
        description="Without ID: the status of every exercise (pass / fail / not started) and your points. "
                    "With ID: that exercise's full report, tensor by tensor.")
    parser.add_argument("id", nargs="?", metavar="ID",
                        help='an exercise id such as "conv2d.backward", or a prefix such as "relu"')
    parser.add_argument("--speed", action="store_true",
                        help="also time your code at the capstone's shapes beside torch's, and say what slows it "
                             "down (without ID: every exercise the capstone runs)")
    parser.set_defaults(run=run_check)


def run_check(arguments):
    from course_lib import exercises
    from course_lib.check import check_exercise, progress

    if arguments.id is None:
        print(progress())
    else:
        try:
            exercises.select(arguments.id)
        except KeyError as error:
            print(f"course-lib check: {error.args[0]}", file=sys.stderr)
            return 2
        print(check_exercise(arguments.id))
    if arguments.speed:
        from course_lib.speed import speed_report

        chosen = [arguments.id] if arguments.id else []
        print()
        print(speed_report(*chosen))
    return 0


def add_release_command(subcommands):
    parser = subcommands.add_parser(
        "release", help="write the student edition (instructors)",
        description="Write the student edition of this repository to OUT: solutions replaced by stubs, notebooks "
                    "without outputs or instructor-only cells, no tests or grader. OUT must be absent or empty.")
    parser.add_argument("out", metavar="OUT", help="the folder to write")
    parser.add_argument("--force", action="store_true", help="replace OUT even if it is not empty")
    parser.add_argument("--source", metavar="DIR", help="the instructor edition to release (default: this one)")
    parser.add_argument("--repo", metavar="URL",
                        help="the git repository (https) students get the edition from: adds the JupyterHub, "
                             "Binder and Colab links to its README and the Colab setup cell to its notebooks")
    parser.add_argument("--branch", metavar="B", default="main", help="the branch of --repo (default: main)")
    parser.set_defaults(run=run_release)


def run_release(arguments):
    from course_lib.release import main

    if arguments.branch != "main" and not arguments.repo:
        print("course-lib release: --branch goes with --repo.", file=sys.stderr)
        return 2
    return main(arguments.out, arguments.source, arguments.force, arguments.repo, arguments.branch)


def add_instructors_only_command(name, subcommands):
    """In the student edition, which leaves the instructors' tools out: a command that says so."""
    # No prefix characters: every argument, "--help" included, is taken and ignored.
    parser = subcommands.add_parser(name, help="(instructors only)", prefix_chars="\0", add_help=False)
    parser.add_argument("ignored", nargs="*")
    parser.set_defaults(run=lambda arguments: instructors_only(name))


def instructors_only(name):
    print(f"course-lib {name} is for instructors: it is not part of the student edition. "
          "Use course-lib check to check your exercises.", file=sys.stderr)
    return 2


COMMANDS = (add_check_command,)
if importlib.util.find_spec("course_lib.grading"):  # the grader is left out of the student edition
    from course_lib.grading.command import GRADING_COMMANDS

    COMMANDS += tuple(GRADING_COMMANDS.values())
else:
    COMMANDS += tuple(partial(add_instructors_only_command, name)
                      for name in ("grade", "report", "merge", "export"))
# So is the release tool; importing it only when it runs keeps the other commands quick.
COMMANDS += (add_release_command if importlib.util.find_spec("course_lib.release")
             else partial(add_instructors_only_command, "release"),)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="course-lib", description="Backprop by Hand: the course's command line.")
    subcommands = parser.add_subparsers(metavar="COMMAND", required=True)
    for add_command in COMMANDS:
        add_command(subcommands)
    arguments = parser.parse_args(argv)
    return arguments.run(arguments)
