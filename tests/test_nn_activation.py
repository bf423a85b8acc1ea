"""ReLU, LeakyReLU, Sigmoid and Tanh against torch autograd, in float64 over shapes, plus edge cases."""


import pytest
import torch

from autograd_twins import assert_close
from course_lib import nn


ACTIVATIONS = {
    "relu": (nn.ReLU, {}, torch.nn.ReLU),
    "leaky_relu": (nn.LeakyReLU, {}, torch.nn.LeakyReLU),
    "leaky_relu_0.2": (nn.LeakyReLU, {"negative_slope": 0.2}, torch.nn.LeakyReLU),
    "leaky_relu_negative": (nn.LeakyReLU, {"negative_slope": -0.5}, torch.nn.LeakyReLU),
    "sigmoid": (nn.Sigmoid, {}, torch.nn.Sigmoid),
    "tanh": (nn.Tanh, {}, torch.nn.Tanh),
}
SHAPES = [(), (1,), (7,), (1, 5), (4, 3), (3, 1, 6), (2, 3, 4, 5)]


def input_away_from_zero(shape, dtype=torch.float64, seed=0):
    """Random input with every |x| >= 0.1, so no element sits on a ReLU kink."""
    x = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    return x + 0.1 * torch.where(x >= 0, 1.0, -1.0).to(dtype)


def autograd_reference(torch_module, x, grad_output):
    x = x.clone().requires_grad_()
    output = torch_module(x)
    output.backward(grad_output)
    return output.detach(), x.grad


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_autograd_in_float64(name, shape):
    ours_class, kwargs, torch_class = ACTIVATIONS[name]
    x = input_away_from_zero(shape)
    grad_output = torch.randn(shape, dtype=torch.float64)
    expected_output, expected_grad = autograd_reference(torch_class(**kwargs), x, grad_output)

    module = ours_class(**kwargs)
    assert_close(module(x), expected_output)
    assert_close(module.backward(grad_output), expected_grad)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_float32_keeps_its_dtype_and_matches_torch(name):
    ours_class, kwargs, torch_class = ACTIVATIONS[name]
    x = input_away_from_zero((3, 4), dtype=torch.float32)
    grad_output = torch.randn(3, 4)
    expected_output, expected_grad = autograd_reference(torch_class(**kwargs), x, grad_output)

    module = ours_class(**kwargs)
    output = module(x)
    grad_input = module.backward(grad_output)
    assert output.dtype == grad_input.dtype == torch.float32
    torch.testing.assert_close(output, expected_output)
    torch.testing.assert_close(grad_input, expected_grad)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_module_used_twice_gets_each_calls_gradient(name):
    ours_class, kwargs, torch_class = ACTIVATIONS[name]
    x = input_away_from_zero((5, 2), seed=1)
    grad_output = torch.randn(5, 2, dtype=torch.float64)
    torch_module = torch_class(**kwargs)
    expected_output, expected_grad = autograd_reference(lambda t: torch_module(torch_module(t)), x, grad_output)

    module = ours_class(**kwargs)
    assert_close(module(module(x)), expected_output)
    assert_close(module.backward(module.backward(grad_output)), expected_grad)


def test_relu_derivative_at_zero_is_zero():
    x = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)
    relu = nn.ReLU()
    relu(x)
    assert_close(relu.backward(torch.ones(3, dtype=torch.float64)),
                 torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "leaky_relu_0.2"])
def test_kink_at_zero_matches_torch(name):
    ours_class, kwargs, torch_class = ACTIVATIONS[name]
    x = torch.tensor([-1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    grad_output = torch.tensor([0.5, 1.0, -2.0, 3.0], dtype=torch.float64)
    expected_output, expected_grad = autograd_reference(torch_class(**kwargs), x, grad_output)
    module = ours_class(**kwargs)
    assert_close(module(x), expected_output)
    assert_close(module.backward(grad_output), expected_grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("module_class, torch_class", [(nn.Sigmoid, torch.nn.Sigmoid), (nn.Tanh, torch.nn.Tanh)])
def test_saturating_activations_stay_finite_for_huge_inputs(module_class, torch_class, dtype):
    x = torch.tensor([-1e4, -800.0, -60.0, -1.0, 0.0, 1.0, 60.0, 800.0, 1e4], dtype=dtype)
    grad_output = torch.ones_like(x)
    expected_output, expected_grad = autograd_reference(torch_class(), x, grad_output)
    module = module_class()
    output = module(x)
    grad_input = module.backward(grad_output)
    assert torch.isfinite(output).all() and torch.isfinite(grad_input).all()
    torch.testing.assert_close(output, expected_output)
    torch.testing.assert_close(grad_input, expected_grad)


def test_sigmoid_is_accurate_far_into_the_negative_tail():
    # sigmoid(x) = exp(x) / (1 + exp(x)), and 1 + exp(x) == 1 in float64 for x = -700.
    x = torch.tensor([-700.0, -40.0], dtype=torch.float64)
    assert_close(nn.Sigmoid()(x), torch.exp(x), rtol=1e-15, atol=0)


@pytest.mark.parametrize("module_class, torch_class", [
    (nn.ReLU, torch.nn.ReLU), (nn.Sigmoid, torch.nn.Sigmoid), (nn.Tanh, torch.nn.Tanh)])
def test_repr_matches_torch(module_class, torch_class):
    assert repr(module_class()) == repr(torch_class())


@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_leaky_relu_repr_matches_torch(slope):
    assert repr(nn.LeakyReLU(slope)) == repr(torch.nn.LeakyReLU(slope))


def test_leaky_relu_refuses_a_slope_that_is_not_a_number():
    with pytest.raises(TypeError, match="negative_slope"):
        nn.LeakyReLU("0.1")


@pytest.mark.parametrize("module_class", [nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh])
def test_bad_input_gets_a_clear_error(module_class):
    with pytest.raises(TypeError, match=r"floating-point tensor .*\.float\(\)"):
        module_class()(torch.arange(4))
    with pytest.raises(TypeError, match="expects a torch.Tensor"):
        module_class()([1.0, 2.0])


@pytest.mark.parametrize("module_class", [nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh])
def test_backward_without_forward_is_an_error(module_class):
    with pytest.raises(RuntimeError, match="without a matching forward"):
        module_class().backward(torch.ones(3))
