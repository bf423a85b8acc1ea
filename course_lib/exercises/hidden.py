"""Hidden-case generators: each draws one more case of its exercise from a ``random.Random``.

The grader checks every exercise on its visible cases and on hidden ones drawn from its seed
(``Exercise.hidden_cases``), so a solution fitted to the visible cases alone does not pass.
"""

import math

from .cases import Case, describe, fold_case, pair, positions, transposed_size


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


def random_shape(rng, dims_low=1, dims_high=4):
    return [rng.randint(1, 5) for _ in range(rng.randint(dims_low, dims_high))]


def hidden_activation(rng, slope=False, kink=False):
    """kink: a third of the cases hold exact zeros (ReLU and LeakyReLU)."""
    shape = random_shape(rng)
    kwargs = {"negative_slope": round(rng.uniform(0.01, 0.5), 3)} if slope else {}
    zeros = kink and rng.random() < 1 / 3
    return Case(describe(shape, kwargs) + (", exact zeros" if zeros else ""), tuple(shape), kwargs,
                exact_zeros=zeros)


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


HIDDEN_INIT = {"xavier_uniform_": hidden_xavier, "xavier_normal_": hidden_xavier,
               "kaiming_uniform_": hidden_kaiming, "kaiming_normal_": hidden_kaiming, "zeros_": hidden_zeros}
