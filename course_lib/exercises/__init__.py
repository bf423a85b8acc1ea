"""The registry: every exercise of the course, declared once.

An exercise is one marked region (``### BEGIN SOLUTION`` / ``### END SOLUTION``) in one function of
course_lib, named by ``file`` (relative to the repository root) and ``function`` (its qualname); the
release tool finds a region's exercise with ``by_location(file, function)``. Each entry also says
which notebook section explains it, how many points it is worth, what it is checked against (the
torch reference) and on which cases: the visible ``cases`` every student's check runs, and
``hidden_case(rng)`` that draws more from a ``random.Random`` for the grader.

Public: ``EXERCISES``, ``get(exercise_id)``, ``select(id_or_prefix)``, ``by_notebook(name)``,
``by_location(file, function)``, ``NOTEBOOKS``, and the classes ``Exercise`` and ``Case``.

The rooms of this package:

- ``cases.py``: ``Case`` (plain data, sent to the grader's child as JSON) and every visible case
- ``hidden.py``: the hidden-case generators
- ``twins.py``: torch twins of the containers (``TorchResidual``; a container case's nested lists)
- ``init_laws.py``: what each init function must draw, derived by hand (``InitLaw``)

Its modules import one another relatively, so the release tool can load the registry of any
instructor tree (``course_lib/exercises/__init__.py``) without importing that tree's course_lib.
"""

import difflib
import random
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch

from .cases import (ACTIVATION_CASES, ADAM_CASES, CONV2D_CASES, CONV_TRANSPOSE2D_CASES, FOLD_CASES, INIT_CASES,
                    LEAKY_RELU_CASES, LINEAR_CASES, MSE_CASES, RELU_CASES, RESIDUAL_CASES, SEQUENTIAL_CASES,
                    SGD_CASES, UNFOLD_CASES, UPSAMPLE_CASES, Case, relabel)
from .hidden import (HIDDEN_INIT, hidden_activation, hidden_adam, hidden_conv, hidden_fold, hidden_linear,
                     hidden_mse, hidden_residual, hidden_sequential, hidden_sgd, hidden_unfold, hidden_upsample)
from .init_laws import INIT_LAWS, InitLaw
from .twins import TorchResidual, build, torch_residual, torch_sequential

__all__ = ["EXERCISES", "NOTEBOOKS", "Exercise", "Case", "get", "select", "by_notebook", "by_location",
           "TorchResidual", "InitLaw"]


@dataclass(frozen=True)
class Exercise:
    """One marked region and how it is checked.

    kind: the protocol that checks it: "module" (a layer: output, grad input, parameter grads, used
        twice), "loss" (like a module, with a target and a 0-d output), "function" (unfold, fold),
        "optimizer" (a trajectory of parameters) or "init" (statistics of the values drawn)
    target: the student's object, as a path inside the package ("nn.Conv2d", "nn.init.zeros_")
    stage: "forward" compares outputs only, "backward" outputs and every gradient ("" otherwise)
    reference: what the student's object is compared with: a torch.nn module factory taking
        ``kwargs``, a torch function, a torch.optim class; for an init, a function
        ``(shape, **kwargs) -> InitLaw`` derived by hand
    hidden_case: draws one more case from a random.Random (the grader's hidden cases)
    """

    id: str
    title: str
    notebook: str
    section: str
    file: str
    function: str
    points: float
    kind: str
    target: str
    stage: str
    reference: Callable
    cases: tuple
    hidden_case: Callable[[random.Random], Case]

    def hidden_cases(self, seed, count=3):
        """``count`` hidden cases, the same for the same seed (labels "hidden 1", ...)."""
        rng = random.Random(f"{seed}/{self.id}")
        return [relabel(self.hidden_case(rng), f"hidden {index + 1}") for index in range(count)]


def module_exercises(name, title, notebook, file, target, reference, cases, hidden, points=(1, 1), kind="module"):
    """The forward and the backward exercise of one module (same cases, same reference)."""
    return tuple(
        Exercise(id=f"{name}.{stage}", title=f"{title}: {stage}", notebook=notebook, section=f"{title} {stage}",
                 file=file, function=f"{target.split('.')[-1]}.{stage}", points=stage_points, kind=kind,
                 target=target, stage=stage, reference=reference, cases=cases, hidden_case=hidden)
        for stage, stage_points in zip(("forward", "backward"), points))


def init_exercise(name):
    title = {"xavier_uniform_": "Xavier uniform", "xavier_normal_": "Xavier normal",
             "kaiming_uniform_": "Kaiming uniform", "kaiming_normal_": "Kaiming normal",
             "zeros_": "Zeros"}[name]
    return Exercise(id=f"init.{name}", title=f"init.{name}", notebook="06_sequential",
                    section=f"Initialisation: {title}", file="course_lib/nn/init.py", function=name, points=1,
                    kind="init", target=f"nn.init.{name}", stage="", reference=INIT_LAWS[name],
                    cases=INIT_CASES[name], hidden_case=HIDDEN_INIT[name])


ACTIVATION = ("01_activations", "course_lib/nn/activation.py")
CONV = "course_lib/nn/conv.py"

EXERCISES = (
    *module_exercises("relu", "ReLU", *ACTIVATION, "nn.ReLU", torch.nn.ReLU, RELU_CASES,
                      partial(hidden_activation, kink=True)),
    *module_exercises("leaky_relu", "LeakyReLU", *ACTIVATION, "nn.LeakyReLU", torch.nn.LeakyReLU,
                      LEAKY_RELU_CASES, partial(hidden_activation, slope=True, kink=True)),
    *module_exercises("sigmoid", "Sigmoid", *ACTIVATION, "nn.Sigmoid", torch.nn.Sigmoid, ACTIVATION_CASES,
                      hidden_activation),
    *module_exercises("tanh", "Tanh", *ACTIVATION, "nn.Tanh", torch.nn.Tanh, ACTIVATION_CASES, hidden_activation),
    Exercise(id="unfold", title="unfold (im2col)", notebook="02_unfold_convolution", section="unfold", file=CONV,
             function="unfold", points=1, kind="function", target="nn.unfold", stage="",
             reference=torch.nn.functional.unfold, cases=UNFOLD_CASES, hidden_case=hidden_unfold),
    Exercise(id="fold", title="fold (col2im)", notebook="02_unfold_convolution", section="fold", file=CONV,
             function="fold", points=1, kind="function", target="nn.fold", stage="",
             reference=torch.nn.functional.fold, cases=FOLD_CASES, hidden_case=hidden_fold),
    *module_exercises("conv2d", "Conv2d", "02_unfold_convolution", CONV, "nn.Conv2d", torch.nn.Conv2d,
                      CONV2D_CASES, hidden_conv, points=(1, 2)),
    *module_exercises("conv_transpose2d", "ConvTranspose2d", "03_transpose_convolution", CONV,
                      "nn.ConvTranspose2d", torch.nn.ConvTranspose2d, CONV_TRANSPOSE2D_CASES,
                      partial(hidden_conv, transposed=True), points=(1, 2)),
    *module_exercises("upsample", "Upsample", "03_transpose_convolution", CONV, "nn.Upsample", torch.nn.Upsample,
                      UPSAMPLE_CASES, hidden_upsample),
    *module_exercises("linear", "Linear", "04_mse_loss", "course_lib/nn/linear.py", "nn.Linear", torch.nn.Linear,
                      LINEAR_CASES, hidden_linear),
    *module_exercises("mse_loss", "MSELoss", "04_mse_loss", "course_lib/nn/loss.py", "nn.MSELoss",
                      torch.nn.MSELoss, MSE_CASES, hidden_mse, kind="loss"),
    Exercise(id="sgd.step", title="SGD.step", notebook="05_sgd", section="SGD", file="course_lib/optim/sgd.py",
             function="SGD.step", points=1, kind="optimizer", target="optim.SGD", stage="",
             reference=torch.optim.SGD, cases=SGD_CASES, hidden_case=hidden_sgd),
    Exercise(id="adam.step", title="Adam.step", notebook="05_sgd", section="Adam", file="course_lib/optim/adam.py",
             function="Adam.step", points=1, kind="optimizer", target="optim.Adam", stage="",
             reference=torch.optim.Adam, cases=ADAM_CASES, hidden_case=hidden_adam),
    *module_exercises("sequential", "Sequential", "06_sequential", "course_lib/nn/container.py", "nn.Sequential",
                      torch_sequential, SEQUENTIAL_CASES, hidden_sequential),
    *(init_exercise(name) for name in INIT_CASES),
    *module_exercises("residual", "Residual", "07_skip_layers", "course_lib/nn/container.py", "nn.Residual",
                      torch_residual, RESIDUAL_CASES, hidden_residual),
)

NOTEBOOKS = tuple(dict.fromkeys(exercise.notebook for exercise in EXERCISES))

_BY_ID = {exercise.id: exercise for exercise in EXERCISES}


def get(exercise_id):
    """The exercise with this id; an unknown id raises KeyError naming the closest ones."""
    try:
        return _BY_ID[exercise_id]
    except KeyError:
        raise KeyError(unknown_message(exercise_id)) from None


def select(id_or_prefix):
    """The exercises with this id, or whose id starts with it and a dot ("relu": relu.forward and
    relu.backward; "init": every init function), in course order. Unknown: KeyError naming close ids."""
    found = [exercise for exercise in EXERCISES
             if exercise.id == id_or_prefix or exercise.id.startswith(f"{id_or_prefix}.")]
    if not found:
        raise KeyError(unknown_message(id_or_prefix))
    return found


def by_notebook(name):
    """The exercises of a notebook ("01_activations"), in course order; unknown: KeyError."""
    found = [exercise for exercise in EXERCISES if exercise.notebook == name]
    if not found:
        raise KeyError(f"No notebook named {name!r}: the notebooks with exercises are {', '.join(NOTEBOOKS)}.")
    return found


def by_location(file, function):
    """The exercise whose marked region is in ``function`` (qualname) of ``file`` (relative to the
    repository root, "/" separators), or None when that function holds no exercise."""
    return next((exercise for exercise in EXERCISES
                 if (exercise.file, exercise.function) == (file, function)), None)


def unknown_message(exercise_id):
    names = list(_BY_ID) + sorted({exercise.id.split(".")[0] for exercise in EXERCISES if "." in exercise.id})
    close = difflib.get_close_matches(str(exercise_id), names, n=4, cutoff=0.5)
    suggestion = f"Did you mean {' or '.join(close)}? " if close else ""
    return (f"No exercise {exercise_id!r}. {suggestion}Exercise ids: {', '.join(_BY_ID)} "
            "(or a prefix such as 'relu' for relu.forward and relu.backward).")
