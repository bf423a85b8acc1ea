"""The checker: compare students' layers, losses and optimisers with PyTorch autograd, tensor by tensor.

For notebooks and students::

    from course_lib.check import check_exercise, check_module, check_optimizer, check_numerically, progress
    check_exercise("conv2d.backward")       # or a prefix: check_exercise("relu")

Every check returns a ``Report`` (``.passed``; text when printed, an HTML table in Jupyter) with one row
per tensor compared and, when a tensor is wrong, a hint naming the likely mistake.

For the grader, the four steps run apart, so student code can run in another process:

    trial = make_trial(exercise, case, seed)           # (a) plain data: trial.spec (JSON), trial.tensors
    outputs = student_side.run(course_lib, exercise.id, trial.spec, trial.tensors)
                                                       # (b) in the child: STUDENT_SIDE_FILE, standalone
    reference = run_reference(exercise, trial)         # (c) torch autograd, with candidate mistakes
    case_report = compare(trial, outputs, reference)   # (d) a CaseReport: .passed, .summary, .hints

Every hint comes from the catalogue (``hints.py``: ``CATALOGUE``, one entry per mistake with a stable
id such as "conv2d.backward/bias-not-summed"); ``hint.id`` names it. When the student's code raises,
``advice_for(exercise_id, error type name, message, source line)`` gives the hint the exception
usually means, or None: the grader calls it with what its child process reported.
"""

from pathlib import Path

from course_lib.check import student_side
from course_lib.check.advice import advice_for
from course_lib.check.checks import (check_exercise, check_module, check_numerically, check_optimizer,
                                     failure_report, progress)
from course_lib.check.compare import compare
from course_lib.check.fingerprints import ATOL, RTOL
from course_lib.check.hints import CATALOGUE, Hint, hint
from course_lib.check.reference import Reference, run_reference
from course_lib.check.report import CaseReport, Progress, Report, Row
from course_lib.check.trials import Trial, make_trial

STUDENT_SIDE_FILE = Path(student_side.__file__)

__all__ = [
    "check_exercise", "check_module", "check_optimizer", "check_numerically", "progress",
    "Report", "CaseReport", "Row", "Hint", "Progress", "CATALOGUE", "hint", "advice_for",
    "make_trial", "run_reference", "compare", "failure_report", "student_side", "STUDENT_SIDE_FILE",
    "Trial", "Reference", "RTOL", "ATOL",
]
