"""Candidate mistakes: what a known wrong implementation computes on a trial, by catalogue id.

The reference side (``reference.py``) runs these only when a comparison fails; the fingerprints
(``fingerprints.py``) then name the first candidate the student's tensor equals. A candidate is
computed the way torch would compute the mistake: autograd on a modified twin (a flipped kernel),
torch's own functions on modified arguments (a stride of 1), or the formula the mistake writes (the
derivative 1 - y instead of 1 - y**2), never by running the student's code.

Modules are grouped by family, the exercise id's first part ("conv2d"): a family's forward mistakes
give candidates for the output row ("conv2d.forward/..."), its backward mistakes for the gradient rows
("conv2d.backward/..."), so check_module names them too, for any torch twin of a course module.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from course_lib.exercises.twins import TorchResidual


@dataclass(frozen=True)
class Candidate:
    """What the mistake ``id`` (a catalogue id) would give for one output; ``detail`` goes in its hint."""

    id: str
    tensor: torch.Tensor
    detail: str = ""


def add(found, name, hint_id, tensor, detail=""):
    """Append a Candidate for output ``name`` to ``found`` ({name: [Candidate]})."""
    if isinstance(tensor, torch.Tensor):
        found.setdefault(name, []).append(Candidate(hint_id, tensor.detach(), detail))


def attempt(compute):
    """compute(), or None if the mistake cannot happen on this trial (shapes that do not fit)."""
    try:
        return compute()
    except Exception:  # noqa: BLE001 - any failure means this mistake does not apply here
        return None


# --- module families ------------------------------------------------------------------------------

FAMILIES = {torch.nn.ReLU: "relu", torch.nn.LeakyReLU: "leaky_relu", torch.nn.Sigmoid: "sigmoid",
            torch.nn.Tanh: "tanh", torch.nn.Conv2d: "conv2d", torch.nn.ConvTranspose2d: "conv_transpose2d",
            torch.nn.Upsample: "upsample", torch.nn.Linear: "linear", torch.nn.MSELoss: "mse_loss",
            torch.nn.Sequential: "sequential", TorchResidual: "residual"}


def family_of(twin):
    """The course family ("conv2d") of a torch twin, or None for a module the course has no exercise for."""
    return FAMILIES.get(type(twin))


@dataclass
class Run:
    """One pass of the twin on the trial: input (and target, for a loss), torch's output, the
    grad_output given to backward, torch's grad input and parameter grads ({name: tensor})."""

    twin: torch.nn.Module
    input: torch.Tensor
    target: torch.Tensor
    output: torch.Tensor
    grad_output: torch.Tensor
    grad_input: torch.Tensor
    grads: dict


def with_weight(twin, weight):
    """A copy of a convolution twin with another weight of the same shape."""
    import copy

    variant = copy.deepcopy(twin)
    with torch.no_grad():
        variant.weight.copy_(weight)
    return variant


def grad_input_of(module, input, grad_output):
    input = input.clone().requires_grad_()
    with torch.enable_grad():
        output = module(input)
        return torch.autograd.grad(output, input, grad_output)[0]


def slope_of(run):
    return run.twin.negative_slope


# Forward mistakes: {family: {slug: function(run) -> output}}.
FORWARD = {
    "relu": {"wrong-side": lambda run: run.input.clamp(max=0)},
    "leaky_relu": {
        "max-trick": lambda run: torch.maximum(run.input, slope_of(run) * run.input),
        "slope-on-positive-side": lambda run: torch.where(run.input > 0, slope_of(run) * run.input, run.input),
        "default-slope-hard-coded": lambda run: F.leaky_relu(run.input, 0.01),
    },
    "sigmoid": {
        "sign-in-exp": lambda run: torch.sigmoid(-run.input),
        "negative-branch-missing": lambda run: torch.sigmoid(run.input.abs()),
    },
    "tanh": {"half-argument": lambda run: torch.tanh(run.input / 2)},
    "conv2d": {
        "kernel-flipped": lambda run: with_weight(run.twin, run.twin.weight.flip(-2, -1))(run.input),
        "weight-flattened-wrong-order": lambda run: with_weight(
            run.twin, run.twin.weight.permute(0, 2, 3, 1).reshape(run.twin.weight.shape))(run.input),
        "bias-missing": lambda run: run.output - run.twin.bias[:, None, None],
    },
    "conv_transpose2d": {
        "kernel-flipped": lambda run: with_weight(run.twin, run.twin.weight.flip(-2, -1))(run.input),
        "weight-channel-order": lambda run: with_weight(run.twin, run.twin.weight.transpose(0, 1))(run.input),
        "bias-missing": lambda run: run.output - run.twin.bias[:, None, None],
    },
    "upsample": {"tiled": lambda run: run.input.repeat(1, 1, *scales(run))},
    "linear": {
        "weight-not-transposed": lambda run: linear_output(run, run.twin.weight.T),
        "bias-missing": lambda run: run.input @ run.twin.weight.T,
    },
    "mse_loss": {
        "not-divided": lambda run: ((run.input - run.target) ** 2).sum() if reduction(run) == "mean" else None,
        "divided-by-batch": lambda run: ((run.input - run.target) ** 2).sum() / run.input.shape[0]
        if reduction(run) == "mean" and run.input.dim() >= 2 else None,
        "mean-always": lambda run: ((run.input - run.target) ** 2).mean() if reduction(run) == "sum" else None,
    },
    "sequential": {"outputs-not-chained": lambda run: run.twin[-1](run.input)},
    "residual": {
        "skip-missing": lambda run: run.twin.module(run.input),
        "branch-missing": lambda run: run.input,
    },
}


def scales(run):
    factor = run.twin.scale_factor
    return tuple(int(f) for f in factor) if isinstance(factor, (tuple, list)) else (int(factor),) * 2


def reduction(run):
    return run.twin.reduction


def linear_output(run, weight):
    output = run.input @ weight.T
    return output if run.twin.bias is None else output + run.twin.bias


def elementwise(function):
    """A backward mistake of an elementwise activation: function(x, y, g, run) -> grad_input."""
    return lambda run: {"grad_input": function(run.input, run.output, run.grad_output, run)}


def positive(x):
    return (x > 0).to(x.dtype)


# Backward mistakes: {family: {slug: function(run) -> {"grad_input" | "<param>.grad": tensor}}}.
BACKWARD = {
    "relu": {
        "grad-output-forgotten": elementwise(lambda x, y, g, run: positive(x)),
        "relu-not-mask": elementwise(lambda x, y, g, run: g * x.clamp(min=0)),
        "mask-includes-zero": elementwise(lambda x, y, g, run: g * (x >= 0).to(x.dtype)),
    },
    "leaky_relu": {
        "grad-output-forgotten": elementwise(lambda x, y, g, run: torch.where(x > 0, 1.0, slope_of(run)).to(x.dtype)),
        "slope-on-positive-side": elementwise(lambda x, y, g, run: g * torch.where(x > 0, slope_of(run), 1.0)),
        "zero-on-negative-side": elementwise(lambda x, y, g, run: g * positive(x)),
        "one-at-zero": elementwise(lambda x, y, g, run: g * torch.where(x >= 0, 1.0, slope_of(run))),
    },
    "sigmoid": {
        "grad-output-forgotten": elementwise(lambda x, y, g, run: y * (1 - y)),
        "derivative-at-output": elementwise(lambda x, y, g, run: g * torch.sigmoid(y) * (1 - torch.sigmoid(y))),
        "input-used-as-output": elementwise(lambda x, y, g, run: g * x * (1 - x)),
    },
    "tanh": {
        "one-minus-y": elementwise(lambda x, y, g, run: g * (1 - y)),
        "grad-output-forgotten": elementwise(lambda x, y, g, run: 1 - y**2),
        "derivative-at-output": elementwise(lambda x, y, g, run: g * (1 - torch.tanh(y) ** 2)),
        "input-used-as-output": elementwise(lambda x, y, g, run: g * (1 - x**2)),
    },
    "conv2d": {
        "kernel-flipped": lambda run: {"grad_input": grad_input_of(
            with_weight(run.twin, run.twin.weight.flip(-2, -1)), run.input, run.grad_output)},
        "weight-grad-transposed": lambda run: {"weight.grad": run.grads["weight"].reshape(
            run.twin.out_channels, -1).T.reshape(run.twin.weight.shape)},
        "grads-averaged-over-batch": lambda run: {f"{name}.grad": grad / run.input.shape[0]
                                                  for name, grad in run.grads.items()},
    },
    "conv_transpose2d": {
        "weight-grad-transposed": lambda run: {"weight.grad": run.grads["weight"].reshape(
            run.twin.in_channels, -1).T.reshape(run.twin.weight.shape)},
    },
    "upsample": {
        "one-element-per-block": lambda run: {"grad_input": run.grad_output[..., ::scales(run)[0], ::scales(run)[1]]},
        "tiled-sum": lambda run: {"grad_input": tiled_sum(run)},
        "block-mean": lambda run: {"grad_input": run.grad_input / math.prod(scales(run))},
    },
    "linear": {
        "grad-input-weight-transposed": lambda run: {"grad_input": run.grad_output @ run.twin.weight.T},
    },
    "mse_loss": {
        "two-forgotten": lambda run: {"grad_input": run.grad_input / 2},
        "not-divided": lambda run: {"grad_input": run.grad_input * run.input.numel()}
        if reduction(run) == "mean" else {},
        "divided-by-batch": lambda run: {"grad_input": run.grad_input * run.input.numel() / run.input.shape[0]}
        if reduction(run) == "mean" and run.input.dim() >= 2 else {},
        "sign-flipped": lambda run: {"grad_input": -run.grad_input},
        "grad-output-ignored": lambda run: {"grad_input": run.grad_input / run.grad_output}
        if run.grad_output != 0 else {},
    },
    "residual": {
        "skip-missing": lambda run: {"grad_input": run.grad_input - run.grad_output},
        "branch-missing": lambda run: {"grad_input": run.grad_output,
                                       **{f"{name}.grad": torch.zeros_like(grad) for name, grad in run.grads.items()}},
    },
}


def tiled_sum(run):
    n, c, height, width = run.input.shape
    sh, sw = scales(run)
    return run.grad_output.reshape(n, c, sh, height, sw, width).sum(dim=(2, 4))


def module_candidates(family, runs, twice, backward=True):
    """{output name: [Candidate]} for a module trial of ``family``.

    runs: {"": Run, and "_1", "_2" for the repeated-use pass}; twice: whether that pass is checked;
    backward: whether gradients are checked (else only the output)
    """
    found = {}
    first = runs[""]
    for slug, mistake in FORWARD.get(family, {}).items():
        add(found, "output", f"{family}.forward/{slug}", attempt(lambda: mistake(first)))
    for slug, mistake in BACKWARD.get(family, {}).items() if backward else ():
        hint_id = f"{family}.backward/{slug}"
        wrong = {suffix: attempt(lambda: mistake(run)) or {} for suffix, run in runs.items()}
        for name, tensor in wrong[""].items():
            add(found, name, hint_id, tensor)
        if twice:
            for suffix in ("_1", "_2"):
                add(found, f"twice.grad_input{suffix}", hint_id, wrong[suffix].get("grad_input"))
            for name in first.grads:
                if all(f"{name}.grad" in wrong[suffix] for suffix in runs):
                    add(found, f"twice.{name}.grad", hint_id,
                        sum(wrong[suffix][f"{name}.grad"] for suffix in runs))
    return found


# --- unfold and fold --------------------------------------------------------------------------------
# Each mistake is computed from torch's own unfold and fold on changed arguments or rearranged columns, so
# that this file, which students get, holds no unfold or fold of its own.


def pairs(kwargs, *names):
    defaults = {"dilation": 1, "padding": 0, "stride": 1}
    return [tuple(value) if isinstance(value, (tuple, list)) else (value, value)
            for value in (kwargs.get(name, defaults.get(name)) for name in names)]


def grid(size, kernel, dilation, padding, stride):
    """(H_out, W_out): the patch positions of a kernel on an image of ``size`` (pairs throughout)."""
    return tuple((length + 2 * pad - dil * (k - 1) - 1) // step + 1
                 for length, k, dil, pad, step in zip(size, kernel, dilation, padding, stride))


def first_positions(columns, full, out):
    """columns (N, R, full_h * full_w) on a grid of ``full`` positions -> its top-left ``out`` ones."""
    return columns.reshape(*columns.shape[:2], *full)[..., :out[0], :out[1]].flatten(2)


def on_grid(columns, out, full):
    """columns (N, R, out_h * out_w) -> the top-left of a zero grid of ``full`` positions, flattened."""
    grid_columns = columns.new_zeros(*columns.shape[:2], *full)
    grid_columns[..., :out[0], :out[1]] = columns.reshape(*columns.shape[:2], *out)
    return grid_columns.flatten(2)


def swap_offsets(columns, kernel):
    """Columns whose kernel offsets (i, j) are read as (j, i) (a square kernel only)."""
    if kernel[0] != kernel[1]:
        return None
    n, rows, length = columns.shape
    return columns.reshape(n, -1, *kernel, length).transpose(2, 3).reshape(n, rows, length)


def unfold_variant(input, kwargs, mistake):
    kernel, dilation, padding, stride = pairs(kwargs, "kernel_size", "dilation", "padding", "stride")
    out = grid(input.shape[2:], kernel, dilation, padding, stride)
    right = F.unfold(input, kernel, dilation, padding, stride)
    n, rows, length = right.shape
    if mistake == "offsets-swapped":
        return swap_offsets(right, kernel) if dilation[0] == dilation[1] else None
    if mistake in ("stride-ignored", "dilation-ignored"):
        changed = dict(stride=(1, 1)) if mistake == "stride-ignored" else dict(dilation=(1, 1))
        arguments = {**dict(dilation=dilation, stride=stride), **changed}
        full = grid(input.shape[2:], kernel, arguments["dilation"], padding, arguments["stride"])
        return first_positions(F.unfold(input, kernel, padding=padding, **arguments), full, out)
    if mistake == "padding-one-side":
        padded = F.pad(input, (0, 2 * padding[1], 0, 2 * padding[0]))
        return F.unfold(padded, kernel, dilation, 0, stride)
    if mistake == "channel-order":
        return right.reshape(n, input.shape[1], -1, length).transpose(1, 2).reshape(n, rows, length)
    if mistake == "positions-transposed":
        return right.reshape(n, rows, *out).transpose(-1, -2).reshape(n, rows, length)
    raise ValueError(mistake)


def fold_variant(input, kwargs, mistake):
    size, kernel, dilation, padding, stride = pairs(kwargs, "output_size", "kernel_size", "dilation", "padding",
                                                    "stride")
    out = grid(size, kernel, dilation, padding, stride)
    if mistake == "overwrites-overlaps":
        # Kernel offsets in the order a loop visits them; each offset's patches do not overlap one another,
        # and every pixel keeps the value of the last offset that reaches it.
        n, rows, length = input.shape
        offsets = input.reshape(n, -1, kernel[0] * kernel[1], length)
        result = input.new_zeros(n, offsets.shape[1], *size)
        for offset in range(offsets.shape[2]):
            alone = torch.zeros_like(offsets)
            alone[:, :, offset] = offsets[:, :, offset]
            reached = torch.zeros_like(offsets)
            reached[:, :, offset] = 1
            value = F.fold(alone.reshape(n, rows, length), size, kernel, dilation, padding, stride)
            covered = F.fold(reached.reshape(n, rows, length), size, kernel, dilation, padding, stride) > 0
            result = torch.where(covered, value, result)
        return result
    if mistake == "crop-one-side":
        padded_size = (size[0] + 2 * padding[0], size[1] + 2 * padding[1])
        return F.fold(input, padded_size, kernel, dilation, 0, stride)[..., :size[0], :size[1]]
    if mistake == "offsets-swapped":
        swapped = swap_offsets(input, kernel) if dilation[0] == dilation[1] else None
        return None if swapped is None else F.fold(swapped, size, kernel, dilation, padding, stride)
    if mistake in ("stride-ignored", "dilation-ignored"):
        changed = dict(stride=(1, 1)) if mistake == "stride-ignored" else dict(dilation=(1, 1))
        arguments = {**dict(dilation=dilation, stride=stride), **changed}
        full = grid(size, kernel, arguments["dilation"], padding, arguments["stride"])
        if full[0] < out[0] or full[1] < out[1]:
            return None
        return F.fold(on_grid(input, out, full), size, kernel, padding=padding, **arguments)
    raise ValueError(mistake)


FUNCTION_MISTAKES = {
    "unfold": ("offsets-swapped", "stride-ignored", "dilation-ignored", "padding-one-side", "channel-order",
               "positions-transposed"),
    "fold": ("overwrites-overlaps", "crop-one-side", "offsets-swapped", "stride-ignored", "dilation-ignored"),
}


def function_candidates(exercise_id, input, kwargs):
    """{"output": [Candidate]} for unfold or fold."""
    variant = {"unfold": unfold_variant, "fold": fold_variant}[exercise_id]
    found = {}
    for slug in FUNCTION_MISTAKES[exercise_id]:
        add(found, "output", f"{exercise_id}/{slug}", attempt(lambda: variant(input, kwargs, slug)))
    return found


# --- optimizers ------------------------------------------------------------------------------------


def sgd_step_rule(mistake):
    def rule(p, g, state, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        if mistake == "weight-decay-sign":
            g = g - weight_decay * p
        elif mistake != "decay-after-momentum":
            g = g + weight_decay * p
        if momentum:
            buffer = None if mistake == "buffer-not-kept" else state.get("buffer")
            if state.pop("aliased", False):
                buffer = g  # the buffer was p.grad itself: zero_grad() and the next gradient refilled it
            if buffer is None:
                buffer = (1 - dampening) * g if mistake == "dampening-on-first-step" else g
                state["aliased"] = mistake == "buffer-aliases-grad"
            else:
                buffer = momentum * buffer + (1 - dampening) * g
            state["buffer"] = buffer
            g = g + momentum * buffer if nesterov else buffer
        if mistake == "decay-after-momentum":
            g = g + weight_decay * p
        return p - lr * g
    return rule


def adam_step_rule(mistake):
    def rule(p, g, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, counter=None):
        beta1, beta2 = betas
        if mistake == "decoupled-weight-decay":
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        if mistake == "step-counted-per-parameter":
            counter[0] += 1
            t = counter[0]
        else:
            state["t"] = t = state.get("t", 0) + 1
        m = beta1 * state.get("m", 0) + (1 - beta1) * g
        v = beta2 * state.get("v", 0) + (1 - beta2) * g**2
        if mistake == "no-bias-correction":
            m_hat, v_hat = m, v
        else:
            m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        state["m"], state["v"] = (m_hat, v_hat) if mistake == "bias-correction-stored" else (m, v)
        denominator = (v_hat + eps).sqrt() if mistake == "eps-inside-sqrt" else v_hat.sqrt() + eps
        return p - lr * m_hat / denominator
    return rule


OPTIMIZER_MISTAKES = {
    "sgd.step": (sgd_step_rule, ("decay-after-momentum", "dampening-on-first-step", "buffer-not-kept",
                                 "buffer-aliases-grad", "weight-decay-sign")),
    "adam.step": (adam_step_rule, ("no-bias-correction", "eps-inside-sqrt", "decoupled-weight-decay",
                                   "bias-correction-stored", "step-counted-per-parameter")),
}


def optimizer_candidates(exercise_id, kwargs, tensors, steps):
    """{"param.<i>": [Candidate]}: the trajectories of each mistake of this optimizer exercise."""
    if exercise_id not in OPTIMIZER_MISTAKES:
        return {}
    make_rule, slugs = OPTIMIZER_MISTAKES[exercise_id]
    found = {}
    count = sum(name.startswith("param.") for name in tensors)
    for slug in slugs:
        rule, counter = make_rule(slug), [0]
        extra = {"counter": counter} if exercise_id == "adam.step" else {}
        values = [tensors[f"param.{index}"].clone() for index in range(count)]
        states = [{} for _ in values]
        recorded = [[] for _ in values]
        for step in range(steps):
            for index in range(count):
                values[index] = rule(values[index], tensors[f"grad.{index}"][step], states[index], **kwargs, **extra)
                recorded[index].append(values[index])
        for index in range(count):
            add(found, f"param.{index}", f"{exercise_id}/{slug}", torch.stack(recorded[index]))
    return found
