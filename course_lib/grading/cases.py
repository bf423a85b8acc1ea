"""The cases every submission is graded on, made with their autograd reference once per run.

A case is one trial of one exercise (``course_lib.check.trials``): its JSON spec and input tensors go
to the child through a plan folder (``visible/`` for the visible cases, ``hidden/`` for the hidden
ones, which a child gets only once its visible phase is sealed); its reference
(``course_lib.check.reference``) stays here. The child runs the checker's student side
(``course_lib/check/student_side.py``, copied from this instructor tree, never from the submission)
and its outputs are judged by the checker's ``compare``.

Nothing a child writes about a hidden case reaches the student as text: its verdict says pass,
wrong (which tensors differ, and the checker's hint), not done, not allowed or error (with the
exception's type when it is one of Python's own), and no message, value or shape the child chose.
"""

import builtins
import functools
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib import exercises as registry
from course_lib.check import advice_for, student_side
from course_lib.check.compare import compare
from course_lib.check.reference import run_reference
from course_lib.check.trials import make_trial
from course_lib.grading.names import clean
from course_lib.grading.results import BadOutput, CaseResult, WrongShape, describe_error, load_output

TRIAL_NAME = "trusted_trial.py"
HIDDEN_CASES = 3
SHOWN_ROWS = 3
TYPE_NAME_CHARS = 40


@dataclass
class Case:
    id: int
    exercise: str
    label: str
    hidden: bool
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
        kind, message = status["status"], clean(status.get("message", ""))
        if case.hidden:
            return self.judge_hidden(case, status, blob)
        if kind == "not_done":
            return CaseResult(case.label, "not done yet", message)
        if kind == "forbidden":
            return CaseResult(case.label, "not allowed", message, note=f"{case.exercise} {message}")
        if kind == "rejected":
            return CaseResult(case.label, "invalid output", message, note=f"{case.exercise}: {message}")
        if kind == "error":
            where = clean(status.get("where", ""))
            advice = advice_for(case.exercise, status.get("type", ""), status.get("message", ""), source_line(where))
            return CaseResult(case.label, "error", clean(describe_error(status)), where=where,
                              hint=str(advice) if advice else "", hint_ids=(advice.id,) if advice else ())
        return self.compare_outputs(case, status, blob)

    def judge_hidden(self, case, status, blob):
        """A hidden case's CaseResult, with no text of the child's in it."""
        kind = status["status"]
        if kind == "not_done":
            return CaseResult(case.label, "not done yet")
        if kind == "forbidden":
            return CaseResult(case.label, "not allowed", "a forbidden torch call",
                              note=f"{case.exercise}: a forbidden torch call in a hidden case")
        if kind == "rejected":
            return CaseResult(case.label, "invalid output", "not a plain tensor")
        if kind == "error":
            kind_name = status.get("type", "")
            known = isinstance(getattr(builtins, kind_name, None), type) and kind_name.isidentifier()
            advice = advice_for(case.exercise, kind_name, status.get("message", ""),
                                source_line(status.get("where", "")))
            return CaseResult(case.label, "error", f"{kind_name if known else 'an exception'} was raised "
                                                   "(hidden cases show no message: see the visible cases)",
                              hint=advice.name if advice else "", hint_ids=(advice.id,) if advice else ())
        return self.compare_outputs(case, status, blob)

    def compare_outputs(self, case, status, blob):
        saved = status.get("outputs") if isinstance(status.get("outputs"), dict) else {}
        outputs, problems, shapes = {}, [], []
        for name, expected in case.reference.expected.items():
            where = saved.get(name)
            try:
                if isinstance(where, list):
                    outputs[name] = load_output(blob, where, name, tuple(expected.shape))
                    problems += form_problems(name, outputs[name], expected)
                elif where not in (None, "NoneType"):
                    # Only the type's name crossed over, not the object: compare names a stand-in of it.
                    shown = "NotATensor" if case.hidden else clean(where, TYPE_NAME_CHARS)
                    outputs[name] = type(shown, (), {})()
            except WrongShape as wrong:
                shape = "another shape" if case.hidden else f"shape {wrong.shape}"
                shapes.append(f"{name} has {shape}, expected {tuple(expected.shape)}")
            except BadOutput as problem:
                return CaseResult(case.label, "invalid output", "an unreadable output" if case.hidden else str(problem))
        if shapes:  # not loaded, so not compared
            return CaseResult(case.label, "wrong", "; ".join(shapes[:SHOWN_ROWS]))
        try:
            report = compare(case.trial, outputs, case.reference, case.exercise)
        except Exception as error:  # valid arrays the checker trips over must not stop the whole run
            return CaseResult(case.label, "invalid output",
                              f"the checker could not compare it ({type(error).__name__}: {clean(error, 200)})")
        if report.passed and not problems:
            return CaseResult(case.label, "pass")
        failed = [row for row in report.rows if not row.passed]
        described = [row.name + (" differs" if case.hidden else f": {row_problem(row)}") for row in failed[:SHOWN_ROWS]]
        # The checker fails a wrong dtype or NaN too; the grader's own checks are a second guard.
        described = described or problems
        hinted = [row.hint for row in failed if row.hint]
        hints = list(dict.fromkeys((hint.name if case.hidden else str(hint)) for hint in hinted))
        return CaseResult(case.label, "wrong", "; ".join(described), hint=" / ".join(hints),
                          hint_ids=tuple(dict.fromkeys(hint.id for hint in hinted)))


def source_line(where):
    """The student's source line in a child's "file, line N, in name: <source line>" (or "")."""
    return str(where).split(": ", 1)[1] if ": " in str(where) else ""


def row_problem(row):
    if row.note:
        return row.note
    return "wrong" if row.max_abs_error is None else f"max error {row.max_abs_error:.3g}"


def form_problems(name, actual, expected):
    """What makes a student's tensor of the right shape unacceptable whatever its values: dtype, NaN, inf."""
    problems = []
    if actual.dtype != expected.dtype:
        problems.append(f"{name} has dtype {actual.dtype}, expected {expected.dtype}")
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
        for hidden, exercise_cases in ((False, exercise.cases), (True, exercise.hidden_cases(seed, HIDDEN_CASES))):
            for case in exercise_cases:
                trial = make_trial(exercise, case, seed)
                label = case.label if hidden else f"visible: {case.label}"
                cases.append(Case(len(cases), exercise.id, label, hidden, trial, run_reference(exercise, trial)))
    return Suite(list(registry.EXERCISES), cases)


def write_plan(suite, folder):
    """The plans a child reads, without any reference: ``folder/visible`` (readable by every child) and
    ``folder/hidden`` (for this process only: hidden cases reach a child through links made when it is
    sealed). Each holds plan.json (each case's exercise, spec and where its input tensors are) and
    tensors.bin (their .npy bytes, one after the other). Returns {"visible": folder, "hidden": folder}."""
    folders = {}
    for part, hidden in (("visible", False), ("hidden", True)):
        target = Path(folder, part)
        target.mkdir(parents=True)
        os.chmod(target, 0o700 if hidden else 0o755)
        cases = []
        blob = io.BytesIO()
        for case in suite.cases:
            if case.hidden != hidden:
                continue
            places = {}
            for name, tensor in case.trial.tensors.items():
                start = blob.tell()
                np.save(blob, tensor.detach().cpu().numpy(), allow_pickle=False)
                places[name] = [start, blob.tell() - start]
            cases.append({"id": case.id, "exercise": case.exercise, "spec": case.trial.spec, "tensors": places})
        (target / "plan.json").write_text(json.dumps({"cases": cases}))
        (target / "tensors.bin").write_bytes(blob.getvalue())
        for name in ("plan.json", "tensors.bin"):
            os.chmod(target / name, 0o644)
        folders[part] = target
    return folders


def registry_digest():
    """A digest of what the registry grades (exercises, points, visible cases): part of the course version."""
    described = [(exercise.id, exercise.points, exercise.kind, exercise.target,
                  [(case.label, case.shape, case.kwargs) for case in exercise.cases])
                 for exercise in registry.EXERCISES]
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:12]
