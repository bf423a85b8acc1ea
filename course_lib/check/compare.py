"""Step (d) of a check: compare the student's tensors with the reference, row by row, and name mistakes.

Tensors are compared in float64: a row passes when max |actual - expected| <= 1e-7 * max |expected|
+ 1e-12. A wrong dtype, a wrong shape or something that is not a tensor is a failed row with a hint,
never an exception. Inits are judged by statistics against the law derived by hand: every value
filled in place, the argument returned, the bound reached and never exceeded, the std and mean.
"""

import math

import torch

from course_lib.check.fingerprints import (RTOL, SHAPE_FINGERPRINTS, VALUE_FINGERPRINTS, Evidence, error_scale,
                                           first_hint, tolerance)
from course_lib.check.hints import hint
from course_lib.check.report import CaseReport, Row

# Spread errors that do not depend on the formula: {hint id: factor on the std or bound}.
GENERIC_FACTORS = {"uniform": {"init/std-as-bound": 1 / math.sqrt(3)},
                   "normal": {"init/bound-as-std": math.sqrt(3)}}
SIMPLE_FACTORS = {"2": 2, "1/2": 0.5, "sqrt(2)": math.sqrt(2), "1/sqrt(2)": 1 / math.sqrt(2),
                  "sqrt(3)": math.sqrt(3), "1/sqrt(3)": 1 / math.sqrt(3)}
# Statistics of n independent draws: how far, in standard errors, a correct init may stray.
STANDARD_ERRORS = 7
UNIFORM_KURTOSIS, NORMAL_KURTOSIS = 1.8, 3.0


def compare(trial, outputs, reference, title=None):
    """The CaseReport for the student's ``outputs`` ({name: tensor}) on ``trial`` against ``reference``.

    Hints are picked for the trial's exercise (``trial.exercise_id``). When the student's forward
    returned the wrong shape, the student side does not run backward: the gradient rows say so.
    """
    if trial.spec["kind"] == "init":
        rows = init_rows(trial.spec, outputs, reference)
    else:
        input_shape = tuple(trial.spec["shape"]) if trial.spec["kind"] != "optimizer" else None
        rows = []
        for name, expected in reference.expected.items():
            if name != "output" and outputs.get(name) is None and wrong_shape(outputs.get("output"),
                                                                              reference.expected.get("output")):
                rows.append(backward_not_run(name, outputs["output"], reference.expected["output"]))
                continue
            rows.append(tensor_row(name, outputs.get(name), expected, candidates_of(reference, name), input_shape,
                                   trajectory=trial.spec["kind"] == "optimizer", scope=trial.exercise_id))
    status = "pass" if all(row.passed for row in rows) else "fail"
    return CaseReport(title or trial.exercise_id, trial.label, status, rows)


def wrong_shape(output, expected):
    """Whether a module's output is not a tensor of torch's output's shape (then backward was not run)."""
    return expected is not None and (not isinstance(output, torch.Tensor) or output.shape != expected.shape)


def backward_not_run(name, output, expected):
    got = f"shape {tuple(output.shape)}" if isinstance(output, torch.Tensor) else f"a {type(output).__name__}"
    return Row(display_name(name), False, hint=hint("any/forward-wrong-shape"),
               note=f"not run: forward returned {got}, expected {tuple(expected.shape)}")


def candidates_of(reference, name):
    return lambda: reference.candidates.get(name, [])


def display_name(name):
    """How an output name reads in a report: "twice.grad_input_1" -> "used twice: grad input, 1st use"."""
    if name.startswith("twice."):
        inner = name[len("twice."):]
        if inner.startswith("grad_input_"):
            return f"used twice: grad input, {'1st' if inner.endswith('1') else '2nd'} use"
        return f"used twice: {inner} (accumulated)"
    if name.startswith("param."):
        return f"parameter {name[len('param.'):]} after each step"
    return "grad input" if name == "grad_input" else name


def tensor_row(name, actual, expected, candidates=None, input_shape=None, trajectory=False, rtol=RTOL,
               scope="any"):
    """The Row comparing one student tensor with torch's.

    name: the output's name; actual: the student's value (anything); expected: torch's tensor
    candidates: a function giving [candidates.Candidate] for the fingerprints, called only if the tensor
        differs
    input_shape: for naming factors (N, numel)
    trajectory: expected is (steps, ...): also say after which step it first goes wrong
    rtol: the relative tolerance
    scope: the exercise id (or a check's title) the hints are picked for
    """
    label = display_name(name)
    problem = form_problem(label, actual, expected, input_shape, scope, name)
    if problem:
        return problem
    found, note = None, ""
    if actual.dtype != expected.dtype:
        found, note = hint("any/wrong-dtype"), f"dtype {actual.dtype}, expected {expected.dtype}"
        actual = actual.detach().to(expected.dtype)
    errors = (actual - expected).abs()
    if not errors.numel():
        return Row(label, found is None, 0.0, 0.0, hint=found, note=note)
    finite = bool(torch.isfinite(errors).all())
    worst_flat = int(errors.argmax()) if finite else int((~torch.isfinite(errors)).flatten().nonzero()[0])
    max_abs = errors.max().item() if finite else math.inf
    passed = found is None and max_abs <= tolerance(expected, rtol)
    if not passed and found is None:
        evidence = Evidence(name, actual, expected, candidates() if candidates else [], input_shape, rtol, scope)
        found = first_hint(VALUE_FINGERPRINTS, evidence)
    if not passed and trajectory:
        bad_steps = (errors.reshape(len(errors), -1).amax(dim=1) > tolerance(expected, rtol)).nonzero()
        if len(bad_steps):
            note = ", ".join(filter(None, (note, f"first wrong after step {int(bad_steps[0]) + 1}")))
    worst = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst_flat), errors.shape)) if errors.dim() \
        else None
    return Row(label, passed, max_abs, max_abs / error_scale(expected), worst, found, note)


def form_problem(label, actual, expected, input_shape=None, scope="any", name=None):
    """A failed Row when ``actual`` is not a tensor of ``expected``'s shape, else None."""
    wanted = f"a torch.Tensor {tuple(expected.shape)}"
    if actual is None:
        return Row(label, False, hint=hint("any/nothing-returned"), note=f"got None, expected {wanted}")
    if not isinstance(actual, torch.Tensor):
        return Row(label, False, hint=hint("any/not-a-tensor"),
                   note=f"got a {type(actual).__name__}, expected {wanted}")
    if actual.shape != expected.shape:
        evidence = Evidence(name or label, actual.detach().to(expected.dtype), expected, [], input_shape, scope=scope)
        return Row(label, False, hint=first_hint(SHAPE_FINGERPRINTS, evidence),
                   note=f"shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    return None


# --- inits ------------------------------------------------------------------------------------------


def init_rows(spec, outputs, reference):
    """Rows for an init: filled in place, argument returned, then the statistics of its law."""
    values, returned = outputs.get("tensor"), outputs.get("returned_argument")
    problem = form_problem("tensor", values, reference.expected["tensor"])
    if problem:
        return [problem]
    values = values.detach().to(torch.float64)
    unfilled = int((values == spec["fill"]).sum())
    rows = [Row("filled in place", unfilled == 0, hint=None if unfilled == 0 else hint("init/not-in-place"),
                note="" if unfilled == 0 else f"{unfilled} of {values.numel()} values still hold the starting "
                                              f"value {spec['fill']}")]
    returned_ok = isinstance(returned, torch.Tensor) and returned.numel() == 1 and returned.item() == 1
    rows.append(Row("returns its argument", returned_ok,
                    hint=None if returned_ok else hint("init/argument-not-returned")))
    if unfilled:
        return rows
    law = reference.law
    if law.distribution == "zeros":
        largest = values.abs().max().item()
        note = "" if largest == 0 else f"max |value| {largest:.4g}"
        return rows + [Row("all zero", largest == 0, largest, note=note)]
    return rows + spread_rows(values, law)


def spread_rows(values, law):
    """max |value| against the bound (uniform), std, mean and the shape of the distribution (normal)."""
    count = values.numel()
    std, mean = values.std().item(), values.mean().item()
    kurtosis = (((values - mean) / std) ** 4).mean().item() if std else 0.0
    looks = "normal" if abs(kurtosis - NORMAL_KURTOSIS) < abs(kurtosis - UNIFORM_KURTOSIS) else "uniform"
    rows = []
    if law.distribution == "uniform":
        bound = math.sqrt(3) * law.std
        largest = values.abs().max().item()
        # n draws of U(-b, b) all stay below b * (1 - k / n) with probability about exp(-k).
        reached = bound * (1 - 30 / count) <= largest <= bound * (1 + 1e-9)
        found = None if reached else hint("init/normal-not-uniform") if looks == "normal" else \
            spread_hint(largest / bound, law)
        rows.append(Row("max |value| (the bound)", reached, abs(largest - bound), abs(largest - bound) / bound,
                        hint=found, note=f"max |value| {largest:.5g}, bound {bound:.5g}"))
        std_error = math.sqrt((UNIFORM_KURTOSIS - 1) / (4 * count))
    else:
        std_error = math.sqrt((NORMAL_KURTOSIS - 1) / (4 * count))
    std_ok = abs(std / law.std - 1) <= STANDARD_ERRORS * std_error
    rows.append(Row("std", std_ok, abs(std - law.std), abs(std / law.std - 1),
                    hint=None if std_ok else spread_hint(std / law.std, law),
                    note=f"std {std:.5g}, expected {law.std:.5g}"))
    mean_ok = abs(mean) <= STANDARD_ERRORS * law.std / math.sqrt(count)
    rows.append(Row("mean", mean_ok, abs(mean), abs(mean) / law.std, note=f"mean {mean:.3g}, expected 0"))
    if law.distribution == "normal":
        shape_ok = abs(kurtosis - NORMAL_KURTOSIS) <= STANDARD_ERRORS * math.sqrt(24 / count)
        rows.append(Row("normal shape (kurtosis)", shape_ok, abs(kurtosis - NORMAL_KURTOSIS),
                        hint=None if shape_ok or looks == "normal" else hint("init/uniform-not-normal"),
                        note=f"kurtosis {kurtosis:.3f}, expected {NORMAL_KURTOSIS} (uniform: {UNIFORM_KURTOSIS})"))
    return rows


def spread_hint(ratio, law):
    """Name the factor the spread is off by: a mistake of this law, a generic one, or a simple number."""
    causes = {**law.causes, **GENERIC_FACTORS[law.distribution]}
    for hint_id, factor in causes.items():
        if math.isclose(ratio, factor, rel_tol=0.03):
            return hint(hint_id, f"spread off by {ratio:.3f}")
    named = [name for name, factor in SIMPLE_FACTORS.items() if math.isclose(ratio, factor, rel_tol=0.03)]
    return hint("init/spread-off", f"{ratio:.3f}" + (f" = {named[0]}" if named else ""))

