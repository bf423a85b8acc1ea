"""Fingerprints: the usual mistakes, recognised by what they do to a tensor.

When a tensor differs from torch's, each fingerprint is tried in order and the first that matches
becomes the row's hint. A fingerprint is a slug and a test; its text is the catalogue's
(``hints.py``), picked for the exercise (``<exercise>/<slug>``) or the generic ``any/<slug>``, and a
fingerprint with neither is skipped. First come the candidates: what a known mistake of this exercise
computes, made by the reference side with autograd (``candidates.py``), so that naming a mistake is a
comparison, not a guess. Then tests on the tensor alone: NaN, zeros, sign, a constant factor, a
transpose, a shift, a shape.
"""

import math
from dataclasses import dataclass
from typing import Callable

import torch

from course_lib.check.hints import Hint, hint, pick

RTOL = 1e-7
ATOL = 1e-12
TINY = 1e-30


def error_scale(expected):
    """What an error is relative to: the largest |expected| (never 0)."""
    return max(expected.abs().max().item(), TINY) if expected.numel() else TINY


def tolerance(expected, rtol=RTOL):
    return rtol * error_scale(expected) + ATOL


def close(actual, expected, rtol=RTOL):
    """Same shape and max |actual - expected| <= rtol * max |expected| + 1e-12 (float64)."""
    if actual.shape != expected.shape:
        return False
    if not actual.numel():
        return True
    return bool((actual - expected).abs().max() <= tolerance(expected, rtol))


@dataclass
class Evidence:
    """What a test sees: the output's name, the student's tensor and torch's (float64; the same shape
    unless a shape test runs), the candidates for this name (a list of candidates.Candidate), the
    input's shape (or None), the relative tolerance of the comparison and the scope hints are picked
    for (the exercise id, or a check's title)."""

    name: str
    actual: torch.Tensor
    expected: torch.Tensor
    candidates: list
    input_shape: tuple = None
    rtol: float = RTOL
    scope: str = "any"

    def close(self, actual, expected):
        return close(actual, expected, self.rtol)


@dataclass(frozen=True)
class Fingerprint:
    """slug: the mistake's slug in the catalogue (the id is picked for the evidence's scope);
    test(evidence) returns None when the mistake does not fit, else a detail string (maybe "")."""

    slug: str
    test: Callable

    def hint(self, evidence):
        hint_id = pick(evidence.scope, self.slug)
        if hint_id is None:
            return None
        detail = self.test(evidence)
        return None if detail is None else hint(hint_id, detail)


def first_hint(library, evidence):
    """The Hint of the first candidate that the student's tensor matches, else of the first fingerprint
    in ``library`` that matches, or None."""
    for candidate in evidence.candidates:
        if candidate.tensor.shape == evidence.actual.shape and evidence.close(evidence.actual, candidate.tensor):
            return hint(candidate.id, candidate.detail)
    for fingerprint in library:
        found = fingerprint.hint(evidence)
        if found:
            return found
    return None


# --- tests on values (same shape) ----------------------------------------------------------------


def not_finite(evidence):
    bad = ~torch.isfinite(evidence.actual)
    if not bad.any():
        return None
    first = tuple(int(i) for i in bad.nonzero()[0])
    return f"{int(bad.sum())} of {bad.numel()} values, first at {first}"


def all_zero(evidence):
    return "" if not evidence.actual.any() and evidence.expected.any() else None


def bias_grad_zero(evidence):
    return all_zero(evidence) if evidence.name.endswith("bias.grad") else None


def sign_flipped(evidence):
    return "" if evidence.close(evidence.actual, -evidence.expected) else None


def constant_factor(evidence):
    actual, expected = evidence.actual, evidence.expected
    energy = (expected * expected).sum()
    if energy == 0:
        return None
    factor = ((actual * expected).sum() / energy).item()
    if abs(factor) < 1e-12 or math.isclose(abs(factor), 1, rel_tol=1e-6):
        return None
    if not evidence.close(actual, factor * expected):
        return None
    names = [name for name, value in named_factors(evidence.input_shape).items()
             if math.isclose(factor, value, rel_tol=1e-6)]
    return f"factor {factor:.6g}" + (f" = {' = '.join(names)}" if names else "")


def named_factors(input_shape):
    """The factors a misplaced constant usually is, by name: 2, 1/2, N (batch size), numel..."""
    factors = {"2": 2.0, "1/2": 0.5}
    if input_shape:
        numel = math.prod(input_shape)
        factors.update({f"numel ({numel}, the input's number of elements)": numel,
                        f"1/numel (1/{numel})": 1 / numel})
        if len(input_shape) >= 2:
            batch = input_shape[0]
            factors.update({f"N ({batch}, the batch size)": batch, f"1/N (1/{batch})": 1 / batch,
                            f"numel/N ({numel // batch}: divided by N instead of numel)": numel / batch,
                            f"N/numel (divided by numel instead of N)": batch / numel})
    return factors


def transposed(evidence):
    actual, expected = evidence.actual, evidence.expected
    if actual.dim() != 2 or evidence.close(expected, expected.T):
        return None
    return "" if evidence.close(actual, expected.T) else None


def shifted(evidence):
    """actual[..., y, x] = expected[..., y + dy, x + dx] wherever both exist, for one step dy, dx."""
    actual, expected = evidence.actual, evidence.expected
    if actual.dim() < 2:
        return None
    height, width = actual.shape[-2:]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if (dy, dx) == (0, 0) or (dy and height < 3) or (dx and width < 3):
                continue
            rows_a, rows_e = overlap(height, dy)
            columns_a, columns_e = overlap(width, dx)
            part_a = actual[..., rows_a, columns_a]
            part_e = expected[..., rows_e, columns_e]
            if part_e.any() and evidence.close(part_a, part_e):
                return f"by {dy} row(s) and {dx} column(s): result[y, x] = expected[y {dy:+d}, x {dx:+d}]"
    return None


def summed_over_elements(evidence):
    """Every element (or the single number returned) equals the sum of the expected elements."""
    actual, expected = evidence.actual, evidence.expected
    if expected.numel() < 2 or not expected.any():
        return None
    total = expected.sum()
    if not evidence.close(actual.reshape(-1), total.expand(actual.numel())):
        return None
    return "one number, the sum of torch's elements" if actual.numel() == 1 else \
        "every element equals the sum of torch's elements"


def overlap(size, shift):
    """Slices of the result and of the expected tensor that line up for result[i] = expected[i + shift]."""
    if shift >= 0:
        return slice(0, size - shift), slice(shift, size)
    return slice(-shift, size), slice(0, size + shift)


VALUE_FINGERPRINTS = (
    Fingerprint("nan", not_finite),
    Fingerprint("bias-grad-missing", bias_grad_zero),
    Fingerprint("all-zeros", all_zero),
    Fingerprint("summed-over-elements", summed_over_elements),
    Fingerprint("sign-flipped", sign_flipped),
    Fingerprint("constant-factor", constant_factor),
    Fingerprint("transposed", transposed),
    Fingerprint("shifted", shifted),
)


# --- tests on shapes (the student's tensor has another shape) ---------------------------------------


def shape_transposed(evidence):
    actual, expected = evidence.actual, evidence.expected
    return "" if actual.dim() == 2 and tuple(actual.shape) == tuple(expected.shape)[::-1] else None


def is_bias(evidence):
    return evidence.name.endswith("bias.grad") or evidence.name.endswith("bias.grad (accumulated)")


def not_summed(evidence):
    """A parameter's gradient kept per sample or per position: more dimensions than the parameter, and the
    parameter's sizes among them. Detail: the dims whose sum gives torch's values, if some do."""
    actual, expected = evidence.actual, evidence.expected
    if not evidence.name.endswith((".grad", "(accumulated)")) or actual.dim() <= expected.dim():
        return None
    for kept in kept_dims(tuple(actual.shape), tuple(expected.shape)):
        summed = tuple(dim for dim in range(actual.dim()) if dim not in kept)
        if all(actual.shape[dim] == 1 for dim in summed):
            return None  # only dimensions of size 1 too many: a keepdim or unsqueeze, not a missing sum
        if evidence.close(actual.sum(dim=summed).reshape(expected.shape), expected):
            return f"summing dims {summed} gives the right values"
    return "" if any(True for _ in kept_dims(tuple(actual.shape), tuple(expected.shape))) else None


def kept_dims(actual_shape, expected_shape):
    """Each way of choosing dims of ``actual_shape``, in order, whose sizes are ``expected_shape``."""
    if not expected_shape:
        yield ()
        return
    for dim, size in enumerate(actual_shape):
        if size == expected_shape[0]:
            for rest in kept_dims(actual_shape[dim + 1:], expected_shape[1:]):
                yield (dim, *(dim + 1 + other for other in rest))


def size_one_dims(evidence):
    squeezed = [size for size in evidence.actual.shape if size != 1]
    return "" if squeezed == [size for size in evidence.expected.shape if size != 1] else None


def same_numel(evidence):
    return "" if evidence.actual.numel() == evidence.expected.numel() else None


SHAPE_FINGERPRINTS = (
    Fingerprint("summed-over-elements", summed_over_elements),
    Fingerprint("bias-not-summed", lambda evidence: not_summed(evidence) if is_bias(evidence) else None),
    Fingerprint("weight-grad-not-summed", lambda evidence: None if is_bias(evidence) else not_summed(evidence)),
    Fingerprint("shape-transposed", shape_transposed),
    Fingerprint("size-one-dims", size_one_dims),
    Fingerprint("same-numel-other-shape", same_numel),
)
