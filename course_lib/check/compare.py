"""Step (d) of a check: compare the student's tensors with the reference, row by row, and name mistakes.

Tensors are compared in float64: a row passes when max |actual - expected| <= 1e-7 * max |expected|
+ 1e-12. A wrong dtype, a wrong shape or something that is not a tensor is a failed row with a hint,
never an exception. Inits are judged by statistics against the law derived by hand: every value
filled in place, the argument returned, the bound reached and never exceeded, the std and mean.
"""

import math

import torch

from course_lib.check.fingerprints import (RTOL, SHAPE_FINGERPRINTS, VALUE_FINGERPRINTS, Evidence, Hint,
                                           error_scale, first_hint, tolerance)
from course_lib.check.report import CaseReport, Row

WRONG_DTYPE = Hint("wrong dtype", "a tensor was made without a dtype (torch.zeros(...) is float32) or was "
                   "converted: make new tensors with torch.zeros_like(x) or x.new_zeros(...), or pass "
                   "dtype=x.dtype.")
NOTHING_RETURNED = Hint("nothing returned", "the function returned None: forward must return its output and "
                        "backward the gradient w.r.t. its input (a missing return statement?).")
NOT_IN_PLACE = Hint("not filled in place", "an init must write into the tensor it is given (tensor.uniform_(...), "
                    "tensor.normal_(...), tensor.zero_()); building a new tensor leaves the argument unchanged.")
NOT_RETURNED = Hint("argument not returned", "like torch.nn.init, return the tensor you filled, so that "
                    "w = init(w) works.")
NORMAL_NOT_UNIFORM = Hint("normal instead of uniform", "the values look normally distributed: this law is "
                          "uniform, use tensor.uniform_(-bound, bound).")
UNIFORM_NOT_NORMAL = Hint("uniform instead of normal", "the values look uniformly distributed: this law is "
                          "normal, use tensor.normal_(0, std).")
# Spread errors that do not depend on the formula: (name, factor on the std or bound).
GENERIC_FACTORS = {"uniform": {"the std was used as the bound (U(-b, b) has std b / sqrt(3))": 1 / math.sqrt(3)},
                   "normal": {"the bound was used as the std (U(-b, b) has std b / sqrt(3))": math.sqrt(3)}}
SIMPLE_FACTORS = {"2": 2, "1/2": 0.5, "sqrt(2)": math.sqrt(2), "1/sqrt(2)": 1 / math.sqrt(2),
                  "sqrt(3)": math.sqrt(3), "1/sqrt(3)": 1 / math.sqrt(3)}
# Statistics of n independent draws: how far, in standard errors, a correct init may stray.
STANDARD_ERRORS = 7
UNIFORM_KURTOSIS, NORMAL_KURTOSIS = 1.8, 3.0


def compare(trial, outputs, reference, title=None):
    """The CaseReport for the student's ``outputs`` ({name: tensor}) on ``trial`` against ``reference``."""
    if trial.spec["kind"] == "init":
        rows = init_rows(trial.spec, outputs, reference)
    else:
        input_shape = tuple(trial.spec["shape"]) if trial.spec["kind"] != "optimizer" else None
        rows = [tensor_row(name, outputs.get(name), expected, candidates_of(reference, name), input_shape,
                           trajectory=trial.spec["kind"] == "optimizer")
                for name, expected in reference.expected.items()]
    status = "pass" if all(row.passed for row in rows) else "fail"
    return CaseReport(title or trial.exercise_id, trial.label, status, rows)


def candidates_of(reference, name):
    return lambda: reference.candidates.get(name, {})


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


def tensor_row(name, actual, expected, candidates=None, input_shape=None, trajectory=False, rtol=RTOL):
    """The Row comparing one student tensor with torch's.

    name: the output's name; actual: the student's value (anything); expected: torch's tensor
    candidates: a function giving {mistake: tensor} for the fingerprints, called only if the tensor differs
    input_shape: for naming factors (N, numel)
    trajectory: expected is (steps, ...): also say after which step it first goes wrong
    rtol: the relative tolerance
    """
    label = display_name(name)
    problem = form_problem(label, actual, expected, input_shape)
    if problem:
        return problem
    hint, note = None, ""
    if actual.dtype != expected.dtype:
        hint, note = WRONG_DTYPE, f"dtype {actual.dtype}, expected {expected.dtype}"
        actual = actual.detach().to(expected.dtype)
    errors = (actual - expected).abs()
    if not errors.numel():
        return Row(label, hint is None, 0.0, 0.0, hint=hint, note=note)
    finite = bool(torch.isfinite(errors).all())
    worst_flat = int(errors.argmax()) if finite else int((~torch.isfinite(errors)).flatten().nonzero()[0])
    max_abs = errors.max().item() if finite else math.inf
    passed = hint is None and max_abs <= tolerance(expected, rtol)
    if not passed and hint is None:
        evidence = Evidence(name, actual, expected, candidates() if candidates else {}, input_shape, rtol)
        hint = first_hint(VALUE_FINGERPRINTS, evidence)
    if not passed and trajectory:
        bad_steps = (errors.reshape(len(errors), -1).amax(dim=1) > tolerance(expected, rtol)).nonzero()
        if len(bad_steps):
            note = ", ".join(filter(None, (note, f"first wrong after step {int(bad_steps[0]) + 1}")))
    worst = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst_flat), errors.shape)) if errors.dim() \
        else None
    return Row(label, passed, max_abs, max_abs / error_scale(expected), worst, hint, note)


def form_problem(label, actual, expected, input_shape=None):
    """A failed Row when ``actual`` is not a tensor of ``expected``'s shape, else None."""
    wanted = f"a torch.Tensor {tuple(expected.shape)}"
    if actual is None:
        return Row(label, False, hint=NOTHING_RETURNED, note=f"got None, expected {wanted}")
    if not isinstance(actual, torch.Tensor):
        return Row(label, False, note=f"got a {type(actual).__name__}, expected {wanted}")
    if actual.shape != expected.shape:
        evidence = Evidence(label, actual.detach().to(expected.dtype), expected, {}, input_shape)
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
    rows = [Row("filled in place", unfilled == 0, hint=None if unfilled == 0 else NOT_IN_PLACE,
                note="" if unfilled == 0 else f"{unfilled} of {values.numel()} values still hold the starting "
                                              f"value {spec['fill']}")]
    returned_ok = isinstance(returned, torch.Tensor) and returned.numel() == 1 and returned.item() == 1
    rows.append(Row("returns its argument", returned_ok, hint=None if returned_ok else NOT_RETURNED))
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
        hint = None if reached else NORMAL_NOT_UNIFORM if looks == "normal" else spread_hint(largest / bound, law)
        rows.append(Row("max |value| (the bound)", reached, abs(largest - bound), abs(largest - bound) / bound,
                        hint=hint, note=f"max |value| {largest:.5g}, bound {bound:.5g}"))
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
                        hint=None if shape_ok or looks == "normal" else UNIFORM_NOT_NORMAL,
                        note=f"kurtosis {kurtosis:.3f}, expected {NORMAL_KURTOSIS} (uniform: {UNIFORM_KURTOSIS})"))
    return rows


def spread_hint(ratio, law):
    """Name the factor the spread is off by: a cause of this law, a generic one, or a simple number."""
    causes = {**law.causes, **GENERIC_FACTORS[law.distribution]}
    for cause, factor in causes.items():
        if math.isclose(ratio, factor, rel_tol=0.03):
            return Hint("spread off by a factor", cause, f"{ratio:.3f}")
    named = [name for name, factor in SIMPLE_FACTORS.items() if math.isclose(ratio, factor, rel_tol=0.03)]
    return Hint("spread off by a factor", "check the fan (fan_in, fan_out or their sum), the gain and the square "
                "root in the formula; U(-b, b) has std b / sqrt(3).",
                f"{ratio:.3f}" + (f" = {named[0]}" if named else ""))

