"""Step (c) of a check: what torch computes on a trial, with autograd, and the usual wrong answers.

``expected`` holds, under the names the student side uses, the tensors the student's code must
produce. ``candidates`` holds, for some of those names, what known mistakes would produce instead,
each under its catalogue id (``candidates.py``: a family's own mistakes; here: gradients overwritten
instead of accumulated, the input kept in an attribute, a hyper-parameter ignored), so that naming a
mistake is a comparison, not a guess.
"""

import copy
import inspect
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import torch

from course_lib.check.candidates import (Run, add, family_of, function_candidates, module_candidates,
                                         optimizer_candidates)
from course_lib.check.hints import pick
from course_lib.check.student_side import as_tuples
from course_lib.check.trials import build_twin, load_parameters


@dataclass
class Reference:
    """expected: {name: tensor}; law: an init's InitLaw; ``candidates``: {name: [candidates.Candidate]}.

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
        return Reference({"output": exercise.reference(tensors["input"], **kwargs)},
                         make_candidates=lambda: function_candidates(exercise.id, tensors["input"], kwargs))
    if exercise.kind == "optimizer":
        return optimizer_reference(exercise.reference, kwargs, tensors, spec["steps"], exercise.id)
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
        runs = {suffix: Run(twin, *inputs(suffix)[:1], tensors.get("target" + suffix), passes[suffix].output,
                            grad_outputs[suffix], passes[suffix].grad_input, passes[suffix].grads)
                for suffix in passes}
        found = module_candidates(family_of(twin), runs, twice, backward=stage == "backward")
        if twice:
            # An input kept in an attribute is overwritten by the second forward: the first use's
            # backward then runs with the second use's input.
            stale = autograd_pass(twin, inputs("_2"), grad_outputs["_1"])
            add(found, "twice.grad_input_1", "any/input-in-attribute", stale.grad_input)
            for name, grad in passes[""].grads.items():
                add(found, f"twice.{name}.grad", "any/grad-overwritten", passes["_1"].grads[name])
                add(found, f"twice.{name}.grad", "any/input-in-attribute",
                    grad + passes["_2"].grads[name] + stale.grads[name])
        return found

    return Reference(expected, make_candidates=candidates)


# --- optimizers and inits -------------------------------------------------------------------------------


def optimizer_reference(optimizer_class, kwargs, tensors, steps, scope="any"):
    """torch.optim's trajectories; candidates: those with each non-default hyper-parameter ignored
    (``<scope>/<name>-ignored`` or any/hyper-parameter-ignored), then the mistakes of the exercise
    ``scope`` (candidates.py)."""

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
            hint_id = pick(scope, f"{name.replace('_', '-')}-ignored") or "any/hyper-parameter-ignored"
            detail = f"matches torch with {name} left at its default" if hint_id.startswith("any/") else ""
            for trajectory_name, trajectory in ignored.items():
                add(found, trajectory_name, hint_id, trajectory, detail)
        for name, listed in optimizer_candidates(scope, kwargs, tensors, steps).items():
            found.setdefault(name, []).extend(listed)
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
