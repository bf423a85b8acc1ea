"""The registry: every exercise of the course, declared once.

An exercise is one marked region (``### BEGIN SOLUTION`` / ``### END SOLUTION``) in one function of
course_lib, named by ``file`` (relative to the repository root) and ``function`` (its qualname); the
release tool finds a region's exercise with ``by_location(file, function)``. Each entry also says
which notebook section explains it, how many points it is worth, what it is checked against (the
torch reference) and on which cases: the visible ``cases`` every student's check runs, and
``hidden_case(rng)`` that draws more from a ``random.Random`` for the grader.

A case holds plain data only (``shape``, ``kwargs``: numbers, strings and lists), so it can be sent to
the grader's child process as JSON. Containers are described by small nested lists (see ``build``).

Public: ``EXERCISES``, ``get(exercise_id)``, ``select(id_or_prefix)``, ``by_notebook(name)``,
``by_location(file, function)``, ``NOTEBOOKS``, and the classes ``Exercise`` and ``Case``.
"""

import difflib
import math
import random
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch


@dataclass(frozen=True)
class Case:
    """One setting an exercise is checked on.

    label: a few words shown in reports ("stride > kernel")
    shape: the input's shape (modules, functions, inits), or the parameters' shapes (optimizers)
    kwargs: constructor arguments or hyper-parameters, with torch's names; for containers the
        modules inside, as lists (see ``build``)
    steps: how many optimizer steps the trajectory has (optimizers only)
    """

    label: str
    shape: tuple
    kwargs: dict = field(default_factory=dict)
    steps: int = 12


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


def relabel(case, prefix):
    return Case(f"{prefix}: {case.label}", case.shape, case.kwargs, case.steps)


# --- torch twins of containers ------------------------------------------------------------------------


class TorchResidual(torch.nn.Module):
    """The reference of Residual (torch has none): output = input + module(input)."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, input):
        return input + self.module(input)


def build(item, built):
    """The torch module an item of a container case describes.

    ["affine", in, out]: an affine map of the last dimension (torch.nn.Linear; the student side uses
        its own, so a container exercise never depends on the student's Linear)
    ["tanh"]: elementwise tanh
    ["residual", item]: Residual around the module ``item`` describes
    ["again", k]: the k-th module of the enclosing list once more (the same instance, shared weights)
    built: the modules built so far in the enclosing list
    """
    kind = item[0]
    if kind == "affine":
        return torch.nn.Linear(item[1], item[2])
    if kind == "tanh":
        return torch.nn.Tanh()
    if kind == "residual":
        return TorchResidual(build(item[1], []))
    if kind == "again":
        return built[item[1]]
    raise ValueError(f"unknown container item {item!r}: expected affine, tanh, residual or again.")


def torch_sequential(modules):
    built = []
    for item in modules:
        built.append(build(item, built))
    return torch.nn.Sequential(*built)


def torch_residual(module):
    return TorchResidual(build(module, []))


# --- hand-derived laws of the init functions -----------------------------------------------------------


@dataclass(frozen=True)
class InitLaw:
    """What an init function must draw.

    distribution: "uniform" (U(-bound, bound), bound = sqrt(3) * std), "normal" (N(0, std**2)) or "zeros"
    std: the standard deviation
    causes: {what usually goes wrong: the factor it puts on the std}, to name a wrong spread
    """

    distribution: str
    std: float
    causes: dict = field(default_factory=dict)


def fans(shape):
    """(fan_in, fan_out) of a weight of ``shape`` (out, in, *kernel)."""
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def gain(nonlinearity, slope):
    if nonlinearity == "leaky_relu":
        return math.sqrt(2 / (1 + slope**2))
    return {"linear": 1.0, "sigmoid": 1.0, "tanh": 5 / 3, "relu": math.sqrt(2)}[nonlinearity]


def xavier_law(distribution, shape, gain=1.0):
    fan_in, fan_out = fans(shape)
    std = gain * math.sqrt(2 / (fan_in + fan_out))
    causes = {"fan_in alone was used instead of fan_in + fan_out": math.sqrt((fan_in + fan_out) / fan_in)}
    if gain != 1:
        causes["the gain was left out"] = 1 / gain
    return InitLaw(distribution, std, causes)


def kaiming_law(distribution, shape, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    fan_in, fan_out = fans(shape)
    fan, other, other_mode = (fan_in, fan_out, "fan_out") if mode == "fan_in" else (fan_out, fan_in, "fan_in")
    layer_gain = gain(nonlinearity, a)
    causes = {f"{other_mode} was used instead of {mode}": math.sqrt(fan / other),
              "the gain was left out": 1 / layer_gain}
    return InitLaw(distribution, layer_gain / math.sqrt(fan), causes)


def zeros_law(shape):
    return InitLaw("zeros", 0.0)


# --- case helpers ------------------------------------------------------------------------------------


def positions(size, kernel, dilation, padding, stride):
    """How many places a kernel takes along one dimension (0 or less: it does not fit)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def transposed_size(size, kernel, dilation, padding, stride, output_padding):
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def fold_case(label, batch, channels, output_size, **geometry):
    """A fold case: its input is the columns unfold would make of an image of ``output_size``."""
    kernel = pair(geometry["kernel_size"])
    spans = zip(output_size, kernel, pair(geometry.get("dilation", 1)), pair(geometry.get("padding", 0)),
                pair(geometry.get("stride", 1)))
    count = math.prod(positions(*span) for span in spans)
    return Case(label, (batch, channels * kernel[0] * kernel[1], count),
                dict(output_size=list(output_size), **geometry))


def pair(value):
    return list(value) if isinstance(value, (list, tuple)) else [value, value]


def random_pair(rng, low, high):
    """An int or, half the time, a pair of two different draws (non-square kernels, strides...)."""
    first, second = rng.randint(low, high), rng.randint(low, high)
    return first if rng.random() < 0.5 else [first, second]


def random_geometry(rng, transposed=False):
    """kernel_size, stride, padding, dilation (and output_padding) and an (H, W) they fit on."""
    while True:
        geometry = dict(kernel_size=random_pair(rng, 1, 4), stride=random_pair(rng, 1, 3),
                        padding=random_pair(rng, 0, 2), dilation=random_pair(rng, 1, 2))
        if transposed:
            geometry["output_padding"] = [rng.randint(0, max(s, d) - 1) for s, d in
                                          zip(pair(geometry["stride"]), pair(geometry["dilation"]))]
        size = [rng.randint(1, 5) if transposed else rng.randint(3, 9) for _ in range(2)]
        spans = list(zip(size, pair(geometry["kernel_size"]), pair(geometry["dilation"]),
                         pair(geometry["padding"]), pair(geometry["stride"])))
        if transposed:
            fits = all(transposed_size(*span, extra) >= 1
                       for span, extra in zip(spans, geometry["output_padding"]))
        else:
            fits = all(positions(*span) >= 1 for span in spans)
        if fits:
            return geometry, size


def describe(shape, kwargs):
    settings = ", ".join(f"{name}={value}" for name, value in kwargs.items())
    return f"{tuple(shape)}" + (f", {settings}" if settings else "")


def random_shape(rng, dims_low=1, dims_high=4):
    return [rng.randint(1, 5) for _ in range(rng.randint(dims_low, dims_high))]


# --- hidden-case generators ------------------------------------------------------------------------


def hidden_activation(rng, slope=False):
    shape = random_shape(rng)
    kwargs = {"negative_slope": round(rng.uniform(0.01, 0.5), 3)} if slope else {}
    return Case(describe(shape, kwargs), tuple(shape), kwargs)


def hidden_unfold(rng):
    geometry, size = random_geometry(rng)
    shape = (rng.randint(1, 3), rng.randint(1, 3), *size)
    return Case(describe(shape, geometry), shape, geometry)


def hidden_fold(rng):
    geometry, size = random_geometry(rng)
    case = fold_case("", rng.randint(1, 3), rng.randint(1, 3), size, **geometry)
    return Case(describe(case.shape, case.kwargs), case.shape, case.kwargs)


def hidden_conv(rng, transposed=False):
    geometry, size = random_geometry(rng, transposed)
    kwargs = dict(in_channels=rng.randint(1, 4), out_channels=rng.randint(1, 4), **geometry,
                  bias=rng.random() < 0.7)
    shape = (rng.randint(1, 3), kwargs["in_channels"], *size)
    return Case(describe(shape, kwargs), shape, kwargs)


def hidden_upsample(rng):
    kwargs = {"scale_factor": random_pair(rng, 1, 3)}
    shape = (rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 4), rng.randint(1, 4))
    return Case(describe(shape, kwargs), shape, kwargs)


def hidden_linear(rng):
    kwargs = dict(in_features=rng.randint(1, 6), out_features=rng.randint(1, 6), bias=rng.random() < 0.7)
    shape = (*random_shape(rng, 1, 2), kwargs["in_features"])
    return Case(describe(shape, kwargs), shape, kwargs)


def hidden_mse(rng):
    kwargs = {"reduction": rng.choice(["mean", "sum"])}
    shape = tuple(random_shape(rng))
    return Case(describe(shape, kwargs), shape, kwargs)


def hidden_sgd(rng):
    kwargs = dict(lr=round(rng.uniform(0.01, 0.2), 3))
    if rng.random() < 0.7:
        kwargs["momentum"] = round(rng.uniform(0.5, 0.95), 2)
        if rng.random() < 0.5:
            kwargs["nesterov"] = True
        else:
            kwargs["dampening"] = round(rng.uniform(0, 0.5), 2)
    if rng.random() < 0.6:
        kwargs["weight_decay"] = round(rng.uniform(0.01, 0.2), 3)
    return hidden_optimizer_case(rng, kwargs)


def hidden_adam(rng):
    kwargs = dict(lr=round(rng.uniform(0.001, 0.1), 4),
                  betas=[round(rng.uniform(0.5, 0.95), 2), round(rng.uniform(0.9, 0.999), 3)],
                  eps=rng.choice([1e-8, 1e-3]))
    if rng.random() < 0.5:
        kwargs["weight_decay"] = round(rng.uniform(0.01, 0.2), 3)
    return hidden_optimizer_case(rng, kwargs)


def hidden_optimizer_case(rng, kwargs):
    shapes = tuple(tuple(random_shape(rng, 1, 3)) for _ in range(rng.randint(1, 3)))
    return Case(describe(shapes, kwargs), shapes, kwargs, steps=rng.randint(10, 15))


def hidden_sequential(rng):
    sizes = [rng.randint(1, 5) for _ in range(rng.randint(2, 4))]
    modules = []
    for size_in, size_out in zip(sizes, sizes[1:]):
        modules.append(["affine", size_in, size_out])
        if rng.random() < 0.6:
            modules.append(["tanh"])
    shape = (*random_shape(rng, 1, 2), sizes[0])
    return Case(describe(shape, {"modules": modules}), shape, {"modules": modules})


def hidden_residual(rng):
    features = rng.randint(1, 5)
    module = rng.choice([["affine", features, features], ["tanh"]])
    if rng.random() < 0.3:
        module = ["residual", module]
    shape = (*random_shape(rng, 1, 2), features)
    return Case(describe(shape, {"module": module}), shape, {"module": module})


def random_weight_shape(rng, minimum=8000):
    """A Linear (out, in) or Conv2d (out, in, k, k) weight shape with at least ``minimum`` elements:
    enough values for the spread to be measured within a few percent."""
    while True:
        shape = ([rng.randint(16, 256), rng.randint(16, 256)] if rng.random() < 0.5 else
                 [rng.randint(8, 64), rng.randint(8, 64), *[rng.choice([1, 3, 5])] * 2])
        if math.prod(shape) >= minimum:
            return tuple(shape)


def hidden_xavier(rng):
    kwargs = {"gain": rng.choice([1.0, round(math.sqrt(2), 6), round(5 / 3, 6)])}
    shape = random_weight_shape(rng)
    return Case(describe(shape, kwargs), shape, kwargs)


def hidden_kaiming(rng):
    kwargs = {"mode": rng.choice(["fan_in", "fan_out"]),
              "nonlinearity": rng.choice(["relu", "leaky_relu", "linear", "tanh"])}
    if kwargs["nonlinearity"] == "leaky_relu":
        kwargs["a"] = round(rng.uniform(0, 0.3), 3)
    shape = random_weight_shape(rng)
    return Case(describe(shape, kwargs), shape, kwargs)


def hidden_zeros(rng):
    shape = tuple(random_shape(rng))
    return Case(describe(shape, {}), shape)


# --- the exercises ---------------------------------------------------------------------------------

ACTIVATION_CASES = (
    Case("batch 1", (1, 6)),
    Case("(N, C, H, W)", (2, 3, 4, 5)),
    Case("1-d input", (7,)),
)

LEAKY_RELU_CASES = (
    Case("default slope, batch 1", (1, 6)),
    Case("negative_slope=0.2, (N, C, H, W)", (2, 3, 4, 5), {"negative_slope": 0.2}),
    Case("negative_slope=1.5, 1-d input", (7,), {"negative_slope": 1.5}),
)

UNFOLD_CASES = (
    Case("3x3 kernel", (2, 3, 5, 5), dict(kernel_size=3)),
    Case("non-square 2x3 kernel, stride 2", (2, 2, 6, 7), dict(kernel_size=[2, 3], stride=2)),
    Case("stride > kernel", (2, 1, 7, 8), dict(kernel_size=2, stride=3)),
    Case("dilation and padding", (1, 2, 5, 6), dict(kernel_size=[3, 2], dilation=[2, 1], padding=[1, 2])),
    Case("1x1 kernel, batch 1", (1, 4, 3, 3), dict(kernel_size=1)),
)

FOLD_CASES = (
    fold_case("3x3 kernel", 2, 3, (5, 5), kernel_size=3),
    fold_case("non-square 2x3 kernel, stride 2", 2, 2, (6, 7), kernel_size=[2, 3], stride=2),
    fold_case("stride > kernel", 2, 1, (7, 8), kernel_size=2, stride=3),
    fold_case("dilation and padding", 1, 2, (5, 6), kernel_size=[3, 2], dilation=[2, 1], padding=[1, 2]),
    fold_case("1x1 kernel, batch 1", 1, 4, (3, 3), kernel_size=1),
)

CONV2D_CASES = (
    Case("3x3, padding 1", (2, 3, 6, 6), dict(in_channels=3, out_channels=3, kernel_size=3, padding=1)),
    Case("non-square 2x3 kernel, stride 2", (2, 2, 7, 8),
         dict(in_channels=2, out_channels=3, kernel_size=[2, 3], stride=2)),
    Case("stride > kernel", (2, 2, 8, 7), dict(in_channels=2, out_channels=2, kernel_size=2, stride=3)),
    Case("dilation 2, padding (2, 1)", (2, 2, 7, 6),
         dict(in_channels=2, out_channels=3, kernel_size=3, dilation=2, padding=[2, 1])),
    Case("no bias, batch 1", (1, 3, 5, 5), dict(in_channels=3, out_channels=2, kernel_size=3, bias=False)),
    Case("1x1 kernel", (2, 4, 3, 3), dict(in_channels=4, out_channels=2, kernel_size=1)),
)

CONV_TRANSPOSE2D_CASES = (
    Case("3x3, stride 2, padding 1, output_padding 1", (2, 3, 4, 4),
         dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, padding=1, output_padding=1)),
    Case("non-square 2x3 kernel, stride (2, 1)", (2, 2, 3, 5),
         dict(in_channels=2, out_channels=3, kernel_size=[2, 3], stride=[2, 1])),
    Case("stride > kernel", (2, 2, 3, 3), dict(in_channels=2, out_channels=2, kernel_size=2, stride=3)),
    Case("dilation 2, output_padding 1 with stride 1", (2, 2, 4, 3),
         dict(in_channels=2, out_channels=3, kernel_size=2, dilation=2, output_padding=1)),
    Case("no bias, batch 1", (1, 3, 3, 4),
         dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, bias=False)),
    Case("as many channels in as out", (2, 3, 3, 3), dict(in_channels=3, out_channels=3, kernel_size=2)),
)

UPSAMPLE_CASES = (
    Case("scale 2", (2, 3, 3, 4), {"scale_factor": 2}),
    Case("scale (2, 3)", (2, 2, 3, 2), {"scale_factor": [2, 3]}),
    Case("scale 3, batch 1", (1, 1, 2, 2), {"scale_factor": 3}),
    Case("scale (1, 2)", (2, 2, 3, 3), {"scale_factor": [1, 2]}),
)

LINEAR_CASES = (
    Case("(N, in_features)", (4, 3), dict(in_features=3, out_features=5)),
    Case("no bias", (3, 4), dict(in_features=4, out_features=2, bias=False)),
    Case("3-d input (N, T, in_features)", (2, 3, 4), dict(in_features=4, out_features=3)),
    Case("batch 1, square", (1, 4), dict(in_features=4, out_features=4)),
)

MSE_CASES = (
    Case("mean", (4, 3)),
    Case("sum", (2, 3, 4), {"reduction": "sum"}),
    Case("mean, batch 1, (N, C, H, W)", (1, 2, 3, 3)),
)

PARAMETER_SHAPES = ((3, 4), (4,))

SGD_CASES = (
    Case("plain", PARAMETER_SHAPES, dict(lr=0.1)),
    Case("momentum", PARAMETER_SHAPES, dict(lr=0.05, momentum=0.9)),
    Case("momentum and dampening", PARAMETER_SHAPES, dict(lr=0.05, momentum=0.9, dampening=0.5)),
    Case("nesterov", PARAMETER_SHAPES, dict(lr=0.05, momentum=0.9, nesterov=True)),
    Case("weight decay", PARAMETER_SHAPES, dict(lr=0.1, weight_decay=0.1)),
    Case("momentum, dampening and weight decay", PARAMETER_SHAPES,
         dict(lr=0.05, momentum=0.8, dampening=0.1, weight_decay=0.05)),
    Case("nesterov and weight decay", PARAMETER_SHAPES,
         dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
)

ADAM_CASES = (
    Case("defaults", PARAMETER_SHAPES, {}),
    Case("lr 0.1, betas (0.5, 0.9)", PARAMETER_SHAPES, dict(lr=0.1, betas=[0.5, 0.9])),
    Case("weight decay", PARAMETER_SHAPES, dict(lr=0.01, weight_decay=0.1)),
    Case("large eps", PARAMETER_SHAPES, dict(lr=0.05, eps=0.1)),
)

SEQUENTIAL_CASES = (
    Case("affine, tanh, affine", (2, 4), {"modules": [["affine", 4, 5], ["tanh"], ["affine", 5, 3]]}),
    Case("one module, batch 1", (1, 3), {"modules": [["affine", 3, 3]]}),
    Case("the same layer twice", (3, 4), {"modules": [["affine", 4, 4], ["tanh"], ["again", 0]]}),
    Case("3-d input", (2, 3, 4), {"modules": [["tanh"], ["affine", 4, 2]]}),
    Case("empty", (2, 3), {"modules": []}),
)

RESIDUAL_CASES = (
    Case("around an affine layer", (3, 4), {"module": ["affine", 4, 4]}),
    Case("around tanh (no parameters)", (2, 5), {"module": ["tanh"]}),
    Case("nested: Residual(Residual(affine))", (2, 3), {"module": ["residual", ["affine", 3, 3]]}),
    Case("3-d input, batch 1", (1, 3, 4), {"module": ["affine", 4, 4]}),
)

RELU_GAIN = round(math.sqrt(2), 6)

INIT_CASES = {
    "xavier_uniform_": (
        Case("Linear weight", (200, 40)),
        Case("Conv2d weight, gain sqrt(2)", (32, 16, 5, 5), {"gain": RELU_GAIN}),
    ),
    "xavier_normal_": (
        Case("Linear weight", (40, 240)),
        Case("Conv2d weight, gain 5/3", (32, 16, 5, 5), {"gain": round(5 / 3, 6)}),
    ),
    "kaiming_uniform_": (
        Case("defaults, Linear weight", (200, 40)),
        Case("Conv2d weight, a=sqrt(5) (torch's layer default)", (32, 64, 3, 3), {"a": round(math.sqrt(5), 6)}),
        Case("mode fan_out, relu", (40, 200), {"mode": "fan_out", "nonlinearity": "relu"}),
    ),
    "kaiming_normal_": (
        Case("relu, Linear weight", (200, 40), {"nonlinearity": "relu"}),
        Case("mode fan_out, Conv2d weight", (20, 100, 3, 3), {"mode": "fan_out"}),
        Case("leaky_relu a=0.1, Linear weight", (48, 240), {"a": 0.1}),
    ),
    "zeros_": (
        Case("bias", (7,)),
        Case("Conv2d weight", (3, 2, 3, 3)),
    ),
}

HIDDEN_INIT = {"xavier_uniform_": hidden_xavier, "xavier_normal_": hidden_xavier,
               "kaiming_uniform_": hidden_kaiming, "kaiming_normal_": hidden_kaiming, "zeros_": hidden_zeros}

INIT_LAWS = {"xavier_uniform_": partial(xavier_law, "uniform"), "xavier_normal_": partial(xavier_law, "normal"),
             "kaiming_uniform_": partial(kaiming_law, "uniform"),
             "kaiming_normal_": partial(kaiming_law, "normal"), "zeros_": zeros_law}


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
    *module_exercises("relu", "ReLU", *ACTIVATION, "nn.ReLU", torch.nn.ReLU, ACTIVATION_CASES, hidden_activation),
    *module_exercises("leaky_relu", "LeakyReLU", *ACTIVATION, "nn.LeakyReLU", torch.nn.LeakyReLU,
                      LEAKY_RELU_CASES, partial(hidden_activation, slope=True)),
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
