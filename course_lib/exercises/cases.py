"""The visible cases of every exercise, and the ``Case`` they are written with.

A case holds plain data only (``shape``, ``kwargs``: numbers, strings and lists), so it can be sent to
the grader's child process as JSON. Containers are described by small nested lists (see
``twins.build``). Batch sizes other than 2 (3 in most convolution cases) let the checker tell a
gradient divided by the batch size N from one off by a constant 2.
"""

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    """One setting an exercise is checked on.

    label: a few words shown in reports ("stride > kernel")
    shape: the input's shape (modules, functions, inits), or the parameters' shapes (optimizers)
    kwargs: constructor arguments or hyper-parameters, with torch's names; for containers the
        modules inside, as lists (see ``twins.build``)
    steps: how many optimizer steps the trajectory has (optimizers only)
    exact_zeros: some inputs are exactly 0 (the kink of ReLU and LeakyReLU), the others away from 0
    """

    label: str
    shape: tuple
    kwargs: dict = field(default_factory=dict)
    steps: int = 12
    exact_zeros: bool = False


def relabel(case, prefix):
    return Case(f"{prefix}: {case.label}", case.shape, case.kwargs, case.steps, case.exact_zeros)


# --- helpers -----------------------------------------------------------------------------------------


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


def describe(shape, kwargs):
    settings = ", ".join(f"{name}={value}" for name, value in kwargs.items())
    return f"{tuple(shape)}" + (f", {settings}" if settings else "")


# --- the visible cases ---------------------------------------------------------------------------

ACTIVATION_CASES = (
    Case("batch 1", (1, 6)),
    Case("(N, C, H, W)", (2, 3, 4, 5)),
    Case("1-d input", (7,)),
)

# The derivative at exactly 0 follows torch's convention (0 for ReLU, negative_slope for LeakyReLU);
# autograd is exact there too, so it is checked on inputs that hold exact zeros.
RELU_CASES = ACTIVATION_CASES + (Case("exact zeros (the kink)", (3, 4), exact_zeros=True),)

LEAKY_RELU_CASES = (
    Case("default slope, batch 1", (1, 6)),
    Case("negative_slope=0.2, (N, C, H, W)", (2, 3, 4, 5), {"negative_slope": 0.2}),
    Case("negative_slope=1.5, 1-d input", (7,), {"negative_slope": 1.5}),
    Case("negative_slope=0.3, exact zeros (the kink)", (3, 4), {"negative_slope": 0.3}, exact_zeros=True),
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
    Case("3x3, padding 1, batch 3", (3, 3, 6, 6), dict(in_channels=3, out_channels=3, kernel_size=3, padding=1)),
    Case("non-square 2x3 kernel, stride 2", (3, 2, 7, 8),
         dict(in_channels=2, out_channels=3, kernel_size=[2, 3], stride=2)),
    Case("stride > kernel", (2, 2, 8, 7), dict(in_channels=2, out_channels=2, kernel_size=2, stride=3)),
    Case("dilation 2, padding (2, 1)", (2, 2, 7, 6),
         dict(in_channels=2, out_channels=3, kernel_size=3, dilation=2, padding=[2, 1])),
    Case("no bias, batch 1", (1, 3, 5, 5), dict(in_channels=3, out_channels=2, kernel_size=3, bias=False)),
    Case("1x1 kernel", (2, 4, 3, 3), dict(in_channels=4, out_channels=2, kernel_size=1)),
)

CONV_TRANSPOSE2D_CASES = (
    Case("3x3, stride 2, padding 1, output_padding 1, batch 3", (3, 3, 4, 4),
         dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, padding=1, output_padding=1)),
    Case("non-square 2x3 kernel, stride (2, 1)", (3, 2, 3, 5),
         dict(in_channels=2, out_channels=3, kernel_size=[2, 3], stride=[2, 1])),
    Case("stride > kernel", (2, 2, 3, 3), dict(in_channels=2, out_channels=2, kernel_size=2, stride=3)),
    Case("dilation 2, output_padding 1 with stride 1", (2, 2, 4, 3),
         dict(in_channels=2, out_channels=3, kernel_size=2, dilation=2, output_padding=1)),
    Case("no bias, batch 1", (1, 3, 3, 4),
         dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, bias=False)),
    Case("as many channels in as out", (2, 3, 3, 3), dict(in_channels=3, out_channels=3, kernel_size=2)),
)

UPSAMPLE_CASES = (
    Case("scale 2, batch 3", (3, 3, 3, 4), {"scale_factor": 2}),
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
