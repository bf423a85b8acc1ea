"""Fingerprints: the usual mistakes, recognised by what they do to a tensor.

When a tensor differs from torch's, each fingerprint is tried in order and the first that matches
becomes the row's hint. A fingerprint is a name, a test and a sentence saying what usually causes
it. Some tests look at the tensor alone (NaN, zeros, sign, a constant factor, a shift, a transpose);
others compare it with a candidate the reference side computed with autograd for that mistake
(``reference.py``), so that naming a mistake is a comparison, not a guess.
"""

import math
from dataclasses import dataclass
from typing import Callable

import torch

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


@dataclass(frozen=True)
class Hint:
    """A recognised mistake: its name, details for this tensor, and what usually causes it."""

    name: str
    cause: str
    detail: str = ""

    def __str__(self):
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.name}{detail}: {self.cause}"


@dataclass
class Evidence:
    """What a test sees: the output's name, the student's tensor and torch's (float64; the same shape
    unless a shape test runs), the candidates for this name, the input's shape (or None) and the
    relative tolerance of the comparison."""

    name: str
    actual: torch.Tensor
    expected: torch.Tensor
    candidates: dict
    input_shape: tuple = None
    rtol: float = RTOL

    def close(self, actual, expected):
        return close(actual, expected, self.rtol)


@dataclass(frozen=True)
class Fingerprint:
    """test(evidence) returns None when the mistake does not fit, else a detail string (maybe "")."""

    name: str
    cause: str
    test: Callable

    def hint(self, evidence):
        detail = self.test(evidence)
        return None if detail is None else Hint(self.name, self.cause, detail)


def first_hint(library, evidence):
    """The Hint of the first fingerprint in ``library`` that matches, or None."""
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


def matches_candidate(key):
    def test(evidence):
        candidate = evidence.candidates.get(key)
        return "" if candidate is not None and evidence.close(evidence.actual, candidate) else None

    return test


def ignored_hyperparameter(evidence):
    for key, candidate in evidence.candidates.items():
        if key.startswith("ignored:") and evidence.close(evidence.actual, candidate):
            return f"matches torch with {key.split(':', 1)[1]} left at its default"
    return None


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
    Fingerprint("NaN or infinite values", "usually a division by zero, exp of a large number (write sigmoid "
                "with exp(-|x|)), or a tensor made with torch.empty and never filled.", not_finite),
    Fingerprint("bias gradient missing", "backward never adds d loss / d bias to bias.grad: it is grad_output "
                "summed over every dimension except the output-channel one.", bias_grad_zero),
    Fingerprint("all zeros", "the result was never filled in: a gradient that is never added to, a new zero "
                "tensor returned, or a mask that is never true.", all_zero),
    Fingerprint("summed over the elements", "the gradient of each element was replaced by their sum: a "
                "derivative written for the whole vector at once (like -(2/N) sum(e) for the mean squared "
                "error) instead of per element (d loss / d input_i = (2/N) (input_i - target_i)).",
                summed_over_elements),
    Fingerprint("gradient overwritten instead of accumulated", "backward assigns the parameter's gradient "
                "(p.grad = ...) instead of adding to it (p.grad += ...): when the module is used twice, or "
                "backward runs again without zero_grad, only the last contribution is left.",
                matches_candidate("overwritten")),
    Fingerprint("input stored in an attribute", "forward keeps its input (or output) in an attribute such as "
                "self.input, so a second forward call overwrites it and the first call's backward uses the "
                "second call's input. Use self.save_for_backward(...) in forward and "
                "self.saved_for_backward() in backward.", matches_candidate("stored_input")),
    Fingerprint("derivative taken at the output", "the derivative is evaluated at the output instead of the "
                "input: e.g. for Sigmoid, with s the saved output, the derivative is s * (1 - s), not "
                "sigmoid(s) * (1 - sigmoid(s)).", matches_candidate("at_output")),
    Fingerprint("kernel flipped", "the kernel is flipped in both spatial dimensions: a textbook convolution "
                "instead of torch's cross-correlation (or, in a transposed convolution, one flip too many or "
                "too few).", matches_candidate("flipped_kernel")),
    Fingerprint("kernel transposed", "the kernel's rows and columns are swapped (kh and kw, or the offsets i "
                "and j, mixed up when reshaping or indexing).", matches_candidate("transposed_kernel")),
    Fingerprint("channel dimensions swapped", "the weight's two channel dimensions are read the wrong way "
                "round: Conv2d's weight is (C_out, C_in, kh, kw), ConvTranspose2d's is (C_in, C_out, kh, kw).",
                matches_candidate("swapped_channels")),
    Fingerprint("hyper-parameter ignored", "step() never uses this hyper-parameter (or only on some path).",
                ignored_hyperparameter),
    Fingerprint("sign flipped", "a minus sign missing or extra: in a derivative (d/dx of (x - t)**2 is "
                "+2 (x - t)), or an update that adds the gradient instead of subtracting it.", sign_flipped),
    Fingerprint("off by a constant factor", "a constant missing or extra: the 2 from the derivative of a "
                "square, a mean divided by the batch size N instead of every element (numel), a sum where a "
                "mean was meant, or the other way round.", constant_factor),
    Fingerprint("transposed", "rows and columns swapped: e.g. a weight gradient computed as input.T @ "
                "grad_output (in, out) instead of grad_output.T @ input (out, in).", transposed),
    Fingerprint("shifted by one position", "padding applied on one side only, or a slice or index that starts "
                "one position too early or too late (stride or padding off by one).", shifted),
)


# --- tests on shapes (the student's tensor has another shape) ---------------------------------------


def shape_transposed(evidence):
    actual, expected = evidence.actual, evidence.expected
    return "" if actual.dim() == 2 and tuple(actual.shape) == tuple(expected.shape)[::-1] else None


def batch_not_summed(evidence):
    actual, expected = evidence.actual, evidence.expected
    if actual.dim() != expected.dim() + 1 or tuple(actual.shape[1:]) != tuple(expected.shape):
        return None
    return "summing dim 0 gives the right values" if evidence.close(actual.sum(dim=0), expected) else ""


def size_one_dims(evidence):
    squeezed = [size for size in evidence.actual.shape if size != 1]
    return "" if squeezed == [size for size in evidence.expected.shape if size != 1] else None


def same_numel(evidence):
    return "" if evidence.actual.numel() == evidence.expected.numel() else None


SHAPE_FINGERPRINTS = (
    Fingerprint("summed over the elements", "the gradient of each element was replaced by their sum: a "
                "derivative written for the whole vector at once (like -(2/N) sum(e) for the mean squared "
                "error) instead of per element (d loss / d input_i = (2/N) (input_i - target_i)).",
                summed_over_elements),
    Fingerprint("transposed shape", "rows and columns swapped: e.g. a weight gradient computed as "
                "input.T @ grad_output (in, out) instead of grad_output.T @ input (out, in).", shape_transposed),
    Fingerprint("missing the sum over the batch", "one value per sample was kept: a parameter is shared by "
                "every sample, so its gradient is the sum over the batch (dimension 0).", batch_not_summed),
    Fingerprint("extra or missing dimension of size 1", "a dimension of size 1 was added or dropped: check "
                "keepdim, squeeze/unsqueeze, or the reshape at the end.", size_one_dims),
    Fingerprint("same elements, other shape", "the number of elements is right but the layout is not: check "
                "the final reshape or view (and that it keeps the dimensions in torch's order).", same_numel),
)
