"""nn.init: gains and fans as torch computes them, and the statistics of every initialiser on large tensors."""

import math

import pytest
import torch

from course_lib import nn
from course_lib.nn import init

LINEAR_SHAPE = (400, 300)  # fan_in 300, fan_out 400
CONV_SHAPE = (64, 32, 3, 3)  # fan_in 32 * 9 = 288, fan_out 64 * 9 = 576
FANS = {LINEAR_SHAPE: (300, 400), CONV_SHAPE: (288, 576)}


def filled(initialiser, shape, seed=0, **kwargs):
    torch.manual_seed(seed)
    return initialiser(torch.empty(shape, dtype=torch.float64), **kwargs)


def assert_uniform(values, bound):
    """All inside [-bound, bound], the extremes near it, and the std of U(-bound, bound): bound / sqrt(3)."""
    assert values.abs().max() <= bound
    assert values.abs().max() > 0.99 * bound
    assert values.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert abs(values.mean().item()) < 4 * bound / math.sqrt(3 * values.numel())


def assert_normal(values, std):
    assert values.std().item() == pytest.approx(std, rel=0.03)
    assert abs(values.mean().item()) < 4 * std / math.sqrt(values.numel())
    # A normal has 68.3% of its values within one std (a uniform of that std only 57.7%).
    assert (values.abs() < std).double().mean().item() == pytest.approx(0.683, abs=0.02)


@pytest.mark.parametrize("nonlinearity", ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                          "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu",
                                          "leaky_relu", "selu"])
def test_calculate_gain_matches_torch(nonlinearity):
    assert init.calculate_gain(nonlinearity) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity), rel=1e-15)


@pytest.mark.parametrize("slope", [None, 0, 0.2, 1, math.sqrt(5)])
def test_leaky_relu_gain_is_sqrt_2_over_1_plus_slope_squared(slope):
    expected = math.sqrt(2 / (1 + (0.01 if slope is None else slope) ** 2))
    assert init.calculate_gain("leaky_relu", slope) == pytest.approx(expected, rel=1e-15)


def test_calculate_gain_refuses_unknown_names_and_slopes():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="not a number"):
        init.calculate_gain("leaky_relu", "0.1")


@pytest.mark.parametrize("shape", [LINEAR_SHAPE, CONV_SHAPE, (5, 7, 2)], ids=str)
def test_fans_are_counted_as_torch_counts_them(shape):
    fans = init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert fans == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    if shape in FANS:
        assert fans == FANS[shape]


def test_fans_need_at_least_two_dimensions():
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(torch.empty(5))


@pytest.mark.parametrize("shape", [LINEAR_SHAPE, CONV_SHAPE], ids=str)
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier_uniform(shape, gain):
    fan_in, fan_out = FANS[shape]
    assert_uniform(filled(init.xavier_uniform_, shape, gain=gain), gain * math.sqrt(6 / (fan_in + fan_out)))


@pytest.mark.parametrize("shape", [LINEAR_SHAPE, CONV_SHAPE], ids=str)
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier_normal(shape, gain):
    fan_in, fan_out = FANS[shape]
    assert_normal(filled(init.xavier_normal_, shape, gain=gain), gain * math.sqrt(2 / (fan_in + fan_out)))


# (a, mode, nonlinearity, gain by hand)
KAIMING_CASES = [
    (0, "fan_in", "leaky_relu", math.sqrt(2)),
    (0, "fan_out", "leaky_relu", math.sqrt(2)),
    (0.2, "fan_in", "leaky_relu", math.sqrt(2 / 1.04)),
    (math.sqrt(5), "fan_in", "leaky_relu", math.sqrt(1 / 3)),  # torch's default for Linear and Conv2d
    (0.2, "fan_out", "relu", math.sqrt(2)),  # a only matters for leaky_relu
    (0, "fan_in", "tanh", 5 / 3),
    (0, "fan_in", "linear", 1.0),
]


@pytest.mark.parametrize("shape", [LINEAR_SHAPE, CONV_SHAPE], ids=str)
@pytest.mark.parametrize("a, mode, nonlinearity, gain", KAIMING_CASES)
def test_kaiming_uniform(shape, a, mode, nonlinearity, gain):
    fan = FANS[shape][0 if mode == "fan_in" else 1]
    values = filled(init.kaiming_uniform_, shape, a=a, mode=mode, nonlinearity=nonlinearity)
    assert_uniform(values, gain * math.sqrt(3 / fan))


@pytest.mark.parametrize("shape", [LINEAR_SHAPE, CONV_SHAPE], ids=str)
@pytest.mark.parametrize("a, mode, nonlinearity, gain", KAIMING_CASES)
def test_kaiming_normal(shape, a, mode, nonlinearity, gain):
    fan = FANS[shape][0 if mode == "fan_in" else 1]
    values = filled(init.kaiming_normal_, shape, a=a, mode=mode, nonlinearity=nonlinearity)
    assert_normal(values, gain / math.sqrt(fan))


def test_kaiming_defaults_are_for_relu_and_fan_in():
    values = filled(init.kaiming_uniform_, CONV_SHAPE)
    assert_uniform(values, math.sqrt(2) * math.sqrt(3 / 288))


@pytest.mark.parametrize("ours, theirs, kwargs", [
    (init.xavier_uniform_, torch.nn.init.xavier_uniform_, {"gain": 1.5}),
    (init.xavier_normal_, torch.nn.init.xavier_normal_, {}),
    (init.kaiming_uniform_, torch.nn.init.kaiming_uniform_, {"a": math.sqrt(5)}),
    (init.kaiming_normal_, torch.nn.init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"}),
])
def test_same_seed_gives_torchs_values(ours, theirs, kwargs):
    assert torch.allclose(filled(ours, CONV_SHAPE, **kwargs), filled(theirs, CONV_SHAPE, **kwargs),
                          rtol=1e-12, atol=0)


def test_zeros():
    tensor = torch.randn(4, 3)
    assert init.zeros_(tensor) is tensor
    assert not tensor.any()


@pytest.mark.parametrize("initialiser", [init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_,
                                         init.kaiming_normal_, init.zeros_])
def test_fills_a_parameter_in_place_and_returns_it(initialiser):
    parameter = nn.Parameter(torch.full((30, 20), 5.0))
    data = parameter.data
    assert initialiser(parameter) is parameter
    assert parameter.data is data
    assert (parameter.data != 5.0).all()
    assert not parameter.grad.any()


@pytest.mark.parametrize("initialiser", [init.xavier_uniform_, init.kaiming_normal_, init.zeros_])
def test_fills_a_tensor_that_requires_grad(initialiser):
    weight = torch.nn.Linear(20, 30).weight
    before = weight.detach().clone()
    assert initialiser(weight) is weight
    assert not torch.equal(weight.detach(), before)


def test_init_of_a_course_lib_layer():
    layer = nn.Linear(300, 400)
    init.kaiming_uniform_(layer.weight, nonlinearity="relu")
    init.zeros_(layer.bias)
    assert_uniform(layer.weight.data, math.sqrt(6 / 300))
    assert not layer.bias.data.any()


@pytest.mark.parametrize("initialiser", [init.kaiming_uniform_, init.kaiming_normal_])
def test_kaiming_refuses_an_unknown_mode(initialiser):
    with pytest.raises(ValueError, match='mode must be "fan_in" or "fan_out", got \'fan_avg\''):
        initialiser(torch.empty(3, 4), mode="fan_avg")


def test_kaiming_refuses_an_unknown_nonlinearity():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.kaiming_normal_(torch.empty(3, 4), nonlinearity="swish")


@pytest.mark.parametrize("initialiser", [init.xavier_uniform_, init.kaiming_normal_, init.zeros_])
def test_refuses_what_it_cannot_fill(initialiser):
    with pytest.raises(TypeError, match="torch.Tensor or a Parameter, got list"):
        initialiser([[0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(TypeError, match="floating-point"):
        initialiser(torch.zeros(3, 4, dtype=torch.int64))
