"""Step (a) of a check: the trial data for one case of one exercise, as plain values and tensors.

A Trial has two halves: ``spec``, JSON-able (what to build and run: kind, target, kwargs, stage, shape,
...), and ``tensors``, float64 (parameter values, inputs, grad outputs, gradients for optimizer
steps). Both are drawn from a seed, so the same (exercise, case, seed) always gives the same trial.
Inputs are kept away from 0 (|x| >= 0.1), so no input sits on a kink of ReLU or LeakyReLU, except in
cases with ``exact_zeros``, where a third of them are exactly 0 to check the derivative at the kink.
Every input of two or more elements holds both signs, so both pieces of a piecewise activation are
checked in every case.
"""

import copy
import hashlib
import json
from dataclasses import dataclass

import torch

from course_lib.check.student_side import as_tuples

DTYPE = torch.float64
SMALLEST_INPUT = 0.1
# What init trials start filled with: far outside anything an init draws, so unfilled values show.
INIT_FILL = 7.0


@dataclass
class Trial:
    """One case of one exercise, ready to run on both sides.

    spec: JSON-able dict: kind, target, stage, kwargs, shape (+ steps for optimizers, seed and fill
        for inits)
    tensors: {name: float64 tensor}, names as student_side.run_module / run_optimizer describe them
    """

    exercise_id: str
    label: str
    spec: dict
    tensors: dict


def make_trial(exercise, case, seed=0):
    """The Trial of ``case`` (an exercises.Case) of ``exercise``, drawn from ``seed``."""
    generator = torch.Generator().manual_seed(derived_seed(exercise.id, case.label, seed))
    spec = {"kind": exercise.kind, "target": exercise.target, "stage": exercise.stage,
            "kwargs": case.kwargs, "shape": case.shape}
    if exercise.kind in ("module", "loss"):
        twin = build_twin(exercise.reference, case.kwargs)
        tensors = module_tensors(twin, case.shape, generator, loss=exercise.kind == "loss",
                                 exact_zeros=case.exact_zeros)
    elif exercise.kind == "function":
        tensors = {"input": away_from_zero(case.shape, generator)}
    elif exercise.kind == "optimizer":
        spec["steps"] = case.steps
        tensors = optimizer_tensors(case.shape, case.steps, generator)
    elif exercise.kind == "init":
        spec.update(seed=derived_seed(exercise.id, case.label, seed, "init") % 2**31, fill=INIT_FILL)
        tensors = {}
    else:
        raise ValueError(f"{exercise.id}: unknown kind {exercise.kind!r}")
    # Through JSON and back: the spec is exactly what the grader's child process will read.
    return Trial(exercise.id, case.label, json.loads(json.dumps(spec)), tensors)


def derived_seed(*parts):
    """A seed that depends on every part, the same in every Python process (unlike hash())."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:15], 16)


def build_twin(reference, kwargs):
    """The torch twin of a module case in float64; building it leaves torch's global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        return reference(**as_tuples(kwargs)).to(DTYPE)


def away_from_zero(shape, generator, exact_zeros=False):
    """Random values with |x| in [0.1, 1] and random signs, both signs present when there are two or more
    values. shape: any. exact_zeros: a third of the values (at least one) are exactly 0 instead."""
    magnitude = torch.empty(tuple(shape), dtype=DTYPE).uniform_(SMALLEST_INPUT, 1, generator=generator)
    sign = torch.randint(0, 2, tuple(shape), generator=generator).to(DTYPE) * 2 - 1
    values = (magnitude * sign).reshape(-1)
    order = torch.randperm(values.numel(), generator=generator)
    zeros = max(1, values.numel() // 3) if exact_zeros else 0
    values[order[:zeros]] = 0
    rest = order[zeros:]
    if len(rest) >= 2 and not ((values[rest] > 0).any() and (values[rest] < 0).any()):
        values[rest[0]] = -values[rest[0]]
    return values.reshape(tuple(shape))


def normal(shape, generator):
    return torch.randn(tuple(shape), dtype=DTYPE, generator=generator)


def module_tensors(twin, input_shape, generator, loss=False, parameters=None, twice=True, exact_zeros=False):
    """Parameters, inputs and grad outputs for the module protocol (see student_side.run_module).

    twin: the torch module (float64), which gives parameter names and shapes and the output's shape
    input_shape: the input's shape
    loss: also draw targets (same shape as the input); the grad outputs are 0-d and the first pass
        has none (its backward takes the default 1.0)
    parameters: {name: tensor} to use instead of random values (check_module keeps the student's)
    twice: also draw the "_1" and "_2" tensors of the repeated-use pass
    exact_zeros: a third of every input's values are exactly 0 (see away_from_zero)
    returns {"param.<name>", "input", "input_1", "input_2", "grad_output", "grad_output_1",
        "grad_output_2" (+ "target", "target_1", "target_2")}
    """
    if parameters is None:
        parameters = {name: torch.empty(value.shape, dtype=DTYPE).uniform_(-1, 1, generator=generator)
                      for name, value in twin.state_dict().items()}
    tensors = {f"param.{name}": value.to(DTYPE) for name, value in parameters.items()}
    suffixes = ("", "_1", "_2") if twice else ("",)
    for suffix in suffixes:
        tensors["input" + suffix] = away_from_zero(input_shape, generator, exact_zeros)
        if loss:
            tensors["target" + suffix] = normal(input_shape, generator)
    output_shape = () if loss else output_of(twin, tensors).shape
    for suffix in suffixes:
        if suffix or not loss:
            tensors["grad_output" + suffix] = normal(output_shape, generator)
    return tensors


def output_of(twin, tensors):
    """The twin's output for tensors["input"], with the trial's parameters loaded."""
    twin = copy.deepcopy(twin)
    load_parameters(twin, tensors)
    with torch.no_grad():
        return twin(tensors["input"])


def load_parameters(twin, tensors):
    twin.load_state_dict({name[len("param."):]: value for name, value in tensors.items()
                          if name.startswith("param.")})


def optimizer_tensors(shapes, steps, generator):
    """{"param.<i>": start value (S_i), "grad.<i>": gradients for every step (steps, *S_i)}"""
    tensors = {}
    for index, shape in enumerate(shapes):
        tensors[f"param.{index}"] = normal(shape, generator)
        tensors[f"grad.{index}"] = normal((steps, *shape), generator)
    return tensors
