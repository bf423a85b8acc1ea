"""The cases every submission is graded on, made with their autograd reference once per run.

A case is one trial of one exercise (``course_lib.check.trials``): its JSON spec and input tensors go
to the child through the plan folder; its reference (``course_lib.check.reference``) stays here.
The child runs the checker's student side (``course_lib/check/student_side.py``, copied from this
instructor tree, never from the submission) and its outputs are judged by the checker's ``compare``.
"""

import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib import exercises as registry
from course_lib.check import student_side
from course_lib.check.compare import compare
from course_lib.check.reference import run_reference
from course_lib.check.trials import make_trial
from course_lib.grading.results import BadOutput, CaseResult, describe_error, load_output

TRIAL_NAME = "trusted_trial.py"
HIDDEN_CASES = 3
SHOWN_ROWS = 3


@dataclass
class Case:
    id: int
    exercise: str
    label: str
    trial: object
    reference: object


class Suite:
    """The exercises (from the registry), their visible and hidden cases, and how a case is judged."""

    def __init__(self, exercises, cases):
        self.exercises = exercises
        self.cases = cases
        self.by_id = {case.id: case for case in cases}
        self.trial_file = Path(student_side.__file__)

    @property
    def exercise_ids(self):
        return [exercise.id for exercise in self.exercises]

    @property
    def max_points(self):
        return sum(exercise.points for exercise in self.exercises)

    def case(self, case_id):
        return self.by_id[case_id]

    def cases_of(self, exercise_id):
        return [case for case in self.cases if case.exercise == exercise_id]

    def judge(self, case, status, blob):
        """The CaseResult of a finished case, from its status and, if ok, its outputs (in ``blob``)."""
        kind, message = status["status"], status.get("message", "")
        if kind == "not_done":
            return CaseResult(case.label, "not done yet", message)
        if kind == "forbidden":
            return CaseResult(case.label, "not allowed", message, note=f"{case.exercise} {message}")
        if kind == "rejected":
            return CaseResult(case.label, "invalid output", message, note=f"{case.exercise}: {message}")
        if kind == "error":
            return CaseResult(case.label, "error", describe_error(status), where=status.get("where", ""))
        return self.compare_outputs(case, status, blob)

    def compare_outputs(self, case, status, blob):
        saved = status.get("outputs") if isinstance(status.get("outputs"), dict) else {}
        outputs, problems = {}, []
        try:
            for name, expected in case.reference.expected.items():
                where = saved.get(name)
                if isinstance(where, list):
                    outputs[name] = load_output(blob, where, name)
                    problems += form_problems(name, outputs[name], expected)
                elif where not in (None, "NoneType"):
                    # compare names the type it got; only the name crossed over, not the object.
                    outputs[name] = type(str(where)[:40], (), {})()
        except BadOutput as problem:
            return CaseResult(case.label, "invalid output", str(problem))
        try:
            report = compare(case.trial, outputs, case.reference, case.exercise)
        except Exception as error:  # valid arrays the checker trips over must not stop the whole run
            return CaseResult(case.label, "invalid output",
                              f"the checker could not compare it ({type(error).__name__}: {error})")
        if report.passed and not problems:
            return CaseResult(case.label, "pass")
        failed = [row for row in report.rows if not row.passed]
        described = [f"{row.name}: {row_problem(row)}" for row in failed[:SHOWN_ROWS]]
        hints = list(dict.fromkeys(str(row.hint) for row in failed if row.hint))
        # The checker fails a wrong shape, dtype or NaN too; the grader's own checks are a second guard.
        return CaseResult(case.label, "wrong", "; ".join(described or problems), hint=" / ".join(hints))


def row_problem(row):
    if row.note:
        return row.note
    return "wrong" if row.max_abs_error is None else f"max error {row.max_abs_error:.3g}"


def form_problems(name, actual, expected):
    """What makes a student's tensor unacceptable whatever its values: dtype, shape, NaN or inf."""
    problems = []
    if actual.dtype != expected.dtype:
        problems.append(f"{name} has dtype {actual.dtype}, expected {expected.dtype}")
    if actual.shape != expected.shape:
        problems.append(f"{name} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    if actual.is_floating_point() and not bool(actual.isfinite().all()):
        problems.append(f"{name} contains NaN or infinite values")
    return problems


def lost(case, verdict, message):
    """The result of a case a child did not answer: ``timeout`` / ``crashed`` (it died) or ``not run``."""
    return CaseResult(case.label, verdict, message)


@functools.lru_cache(maxsize=2)
def build_suite(seed):
    """Every registered exercise's visible cases and HIDDEN_CASES hidden ones drawn from ``seed``
    (kept for the next run with the same seed in this process: a Suite is never modified)."""
    cases = []
    for exercise in registry.EXERCISES:
        for case in (*exercise.cases, *exercise.hidden_cases(seed, HIDDEN_CASES)):
            trial = make_trial(exercise, case, seed)
            label = case.label if case.label.startswith("hidden") else f"visible: {case.label}"
            cases.append(Case(len(cases), exercise.id, label, trial, run_reference(exercise, trial)))
    return Suite(list(registry.EXERCISES), cases)


def write_plan(suite, folder):
    """Everything a child needs and no reference: plan.json (each case's exercise, spec and where its
    input tensors are) and tensors.bin (their .npy bytes, one after the other)."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    cases = []
    blob = io.BytesIO()
    for case in suite.cases:
        places = {}
        for name, tensor in case.trial.tensors.items():
            start = blob.tell()
            np.save(blob, tensor.detach().cpu().numpy(), allow_pickle=False)
            places[name] = [start, blob.tell() - start]
        cases.append({"id": case.id, "exercise": case.exercise, "spec": case.trial.spec, "tensors": places})
    (folder / "plan.json").write_text(json.dumps({"cases": cases}))
    (folder / "tensors.bin").write_bytes(blob.getvalue())
