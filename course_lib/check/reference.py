"""Step (c) of a check: what torch computes on a trial, with autograd, and the usual wrong answers.

``expected`` holds, under the names the student side uses, the tensors the student's code must
produce. ``candidates`` holds, for some of those names, what a known mistake would produce instead,
computed the same way (autograd on a modified twin or a modified call), so that naming a mistake is a
comparison, not a guess: gradients overwritten instead of accumulated, the input kept in an
attribute, a derivative taken at the output, a kernel flipped or transposed, a hyper-parameter ignored.
"""

import copy
import inspect
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import torch

from course_lib.check.student_side import as_tuples
from course_lib.check.trials import build_twin, load_parameters


@dataclass
class Reference:
    """expected: {name: tensor}; law: an init's InitLaw; ``candidates``: {name: {mistake: tensor}}.

    Candidates cost extra autograd passes and matter only when a comparison fails, so they are
    computed on first use, by ``make_candidates()``.
    """

    expected: dict
    law: object = None
    make_candidates: Callable = dict

    @cached_property
    def candidates(self):
        return self.make_candidates()


def run_reference(exercise, trial):
    """The Reference of ``trial`` (made by make_trial for ``exercise``)."""
    spec, tensors = trial.spec, trial.tensors
    kwargs = as_tuples(spec["kwargs"])
    if exercise.kind in ("module", "loss"):
        return module_reference(build_twin(exercise.reference, spec["kwargs"]), tensors, spec["stage"])
    if exercise.kind == "function":
        return Reference({"output": exercise.reference(tensors["input"], **kwargs)})
    if exercise.kind == "optimizer":
        return optimizer_reference(exercise.reference, kwargs, tensors, spec["steps"])
    if exercise.kind == "init":
        return init_reference(exercise, spec, kwargs)
    raise ValueError(f"{exercise.id}: unknown kind {exercise.kind!r}")


# --- modules -----------------------------------------------------------------------------------------


@dataclass
class Pass:
    """One forward and backward with autograd. output: the twin's output; grad_input: d/d input;
    grads: {parameter name: d/d parameter} (zeros for a parameter the output does not use)."""

    output: torch.Tensor
    grad_input: torch.Tensor
    grads: dict


def autograd_pass(twin, inputs, grad_output):
    """The Pass of twin(*inputs) with ``grad_output`` (inputs[0] is differentiated; a target is not)."""
    input = inputs[0].clone().requires_grad_()
    names, parameters = zip(*twin.named_parameters()) if list(twin.parameters()) else ((), ())
    with torch.enable_grad():
        output = twin(input, *inputs[1:])
        grads = torch.autograd.grad(output, (input, *parameters), grad_output, allow_unused=True)
    grads = [torch.zeros_like(value) if grad is None else grad
             for value, grad in zip((input, *parameters), grads)]
    return Pass(output.detach(), grads[0], dict(zip(names, grads[1:])))


def module_reference(twin, tensors, stage):
    """Expected tensors and candidates of the module protocol (see student_side.run_module).

    twin: the torch twin (it is copied; the trial's parameters are loaded into the copy)
    tensors: the trial's tensors; stage: "forward" or "backward"
    """
    twin = copy.deepcopy(twin).to(torch.float64)
    load_parameters(twin, tensors)
    is_loss = "target" in tensors
    twice = stage == "backward" and "input_1" in tensors

    def inputs(suffix):
        return (tensors["input" + suffix],) + ((tensors["target" + suffix],) if is_loss else ())

    grad_outputs = {"": tensors.get("grad_output", torch.tensor(1.0, dtype=torch.float64))}
    passes = {"": autograd_pass(twin, inputs(""), grad_outputs[""])}
    expected = {"output": passes[""].output}
    if stage == "backward":
        expected["grad_input"] = passes[""].grad_input
        expected.update((f"{name}.grad", grad) for name, grad in passes[""].grads.items())
    if twice:
        for suffix in ("_1", "_2"):
            grad_outputs[suffix] = tensors["grad_output" + suffix]
            passes[suffix] = autograd_pass(twin, inputs(suffix), grad_outputs[suffix])
            expected[f"twice.grad_input{suffix}"] = passes[suffix].grad_input
        expected.update((f"twice.{name}.grad", grad + passes["_1"].grads[name] + passes["_2"].grads[name])
                        for name, grad in passes[""].grads.items())

    def candidates():
        found = {}
        for mistake, transform in kernel_transforms(twin).items():
            variant = autograd_pass(kernel_variant(twin, transform), inputs(""), grad_outputs[""])
            add_candidates(found, "output", {mistake: variant.output})
            add_candidates(found, "grad_input", {mistake: variant.grad_input})
            add_candidates(found, "weight.grad", {mistake: transform(variant.grads["weight"])})
        if twice:
            # An input kept in an attribute is overwritten by the second forward: the first use's
            # backward then runs with the second use's input.
            stale = autograd_pass(twin, inputs("_2"), grad_outputs["_1"])
            add_candidates(found, "twice.grad_input_1", {"stored_input": stale.grad_input})
            for name, grad in passes[""].grads.items():
                add_candidates(found, f"twice.{name}.grad", {
                    "overwritten": passes["_1"].grads[name],
                    "stored_input": grad + passes["_2"].grads[name] + stale.grads[name]})
        if not is_loss and not passes[""].grads and passes[""].output.shape == tensors["input"].shape:
            # The derivative evaluated at the output, e.g. sigmoid'(sigmoid(x)) instead of sigmoid'(x).
            for suffix, name in (("", "grad_input"), ("_1", "twice.grad_input_1"), ("_2", "twice.grad_input_2")):
                if suffix in passes:
                    at_output = autograd_pass(twin, (passes[suffix].output,), grad_outputs[suffix]).grad_input
                    add_candidates(found, name, {"at_output": at_output})
        return found

    return Reference(expected, make_candidates=candidates)


def add_candidates(found, name, candidates):
    """Add {mistake: tensor} to found[name]."""
    found.setdefault(name, {}).update(candidates)


def kernel_transforms(twin):
    """For a convolution twin, the usual ways of misreading its kernel (each its own inverse).

    weight: (C_out, C_in, kh, kw) for Conv2d, (C_in, C_out, kh, kw) for ConvTranspose2d
    """
    if not isinstance(twin, torch.nn.modules.conv._ConvNd):
        return {}
    weight = twin.weight
    transforms = {"flipped_kernel": lambda w: w.flip(-2, -1)}
    if weight.shape[-1] == weight.shape[-2] > 1:
        transforms["transposed_kernel"] = lambda w: w.transpose(-2, -1)
    if weight.shape[0] == weight.shape[1] > 1:
        transforms["swapped_channels"] = lambda w: w.transpose(0, 1)
    return transforms


def kernel_variant(twin, transform):
    variant = copy.deepcopy(twin)
    with torch.no_grad():
        variant.weight.copy_(transform(variant.weight).clone())
    return variant


# --- optimizers and inits -------------------------------------------------------------------------------


def optimizer_reference(optimizer_class, kwargs, tensors, steps):
    """torch.optim's trajectories; candidates: those with each non-default hyper-parameter ignored."""

    def candidates():
        found = {}
        signature = inspect.signature(optimizer_class).parameters.items()
        defaults = {name: parameter.default for name, parameter in signature
                    if parameter.default is not inspect.Parameter.empty}
        for name, value in kwargs.items():
            if name == "lr" or name not in defaults or value == defaults[name]:
                continue
            try:
                ignored = trajectories(optimizer_class, {**kwargs, name: defaults[name]}, tensors, steps)
            except ValueError:  # torch refuses the combination (nesterov without momentum)
                continue
            for trajectory_name, trajectory in ignored.items():
                add_candidates(found, trajectory_name, {f"ignored:{name}": trajectory})
        return found

    return Reference(trajectories(optimizer_class, kwargs, tensors, steps), make_candidates=candidates)


def trajectories(optimizer_class, kwargs, tensors, steps):
    """{"param.<i>": (steps, *S_i)}: each parameter after each step of torch's optimizer."""
    count = sum(name.startswith("param.") for name in tensors)
    parameters = [tensors[f"param.{index}"].clone().requires_grad_() for index in range(count)]
    optimizer = optimizer_class(parameters, **kwargs)
    recorded = [[] for _ in parameters]
    for step in range(steps):
        for index, parameter in enumerate(parameters):
            parameter.grad = tensors[f"grad.{index}"][step].clone()
        optimizer.step()
        for trajectory, parameter in zip(recorded, parameters):
            trajectory.append(parameter.detach().clone())
    return {f"param.{index}": torch.stack(trajectory) for index, trajectory in enumerate(recorded)}


def init_reference(exercise, spec, kwargs):
    """The law derived by hand, and torch.nn.init's own draw (the shape and dtype to expect)."""
    torch_init = getattr(torch.nn.init, exercise.function)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec["seed"])
        drawn = torch_init(torch.empty(tuple(spec["shape"]), dtype=torch.float64), **kwargs)
    expected = {"tensor": drawn, "returned_argument": torch.tensor(1.0, dtype=torch.float64)}
    return Reference(expected, law=exercise.reference(tuple(spec["shape"]), **kwargs))
