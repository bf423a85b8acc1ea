"""What each init function must draw, derived by hand: the distribution, its std, and the usual slips.

An init is judged by statistics against its ``InitLaw`` (course_lib/check/compare.py). ``causes``
maps a hint id of the checker's catalogue (course_lib/check/hints.py) to the factor that mistake
puts on the std, so a spread off by that factor is named.
"""

import math
from dataclasses import dataclass, field
from functools import partial


@dataclass(frozen=True)
class InitLaw:
    """What an init function must draw.

    distribution: "uniform" (U(-bound, bound), bound = sqrt(3) * std), "normal" (N(0, std**2)) or "zeros"
    std: the standard deviation
    causes: {hint id: the factor that mistake puts on the std}, to name a wrong spread
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
    exercise = f"init.xavier_{distribution}_"
    causes = {f"{exercise}/fan-in-alone": math.sqrt((fan_in + fan_out) / fan_in)}
    if gain != 1:
        causes[f"{exercise}/gain-missing"] = 1 / gain
    return InitLaw(distribution, std, causes)


def kaiming_law(distribution, shape, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    fan_in, fan_out = fans(shape)
    fan, other = (fan_in, fan_out) if mode == "fan_in" else (fan_out, fan_in)
    layer_gain = gain(nonlinearity, a)
    exercise = f"init.kaiming_{distribution}_"
    causes = {f"{exercise}/other-fan": math.sqrt(fan / other), f"{exercise}/gain-missing": 1 / layer_gain}
    return InitLaw(distribution, layer_gain / math.sqrt(fan), causes)


def zeros_law(shape):
    return InitLaw("zeros", 0.0)


INIT_LAWS = {"xavier_uniform_": partial(xavier_law, "uniform"), "xavier_normal_": partial(xavier_law, "normal"),
             "kaiming_uniform_": partial(kaiming_law, "uniform"),
             "kaiming_normal_": partial(kaiming_law, "normal"), "zeros_": zeros_law}
