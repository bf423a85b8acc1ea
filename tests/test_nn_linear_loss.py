"""Linear and MSELoss against torch autograd in float64, torch's default init, and the misuse errors."""


import pytest
import torch

from autograd_twins import assert_close, check_against_autograd, twins
from course_lib import nn


# (in_features, out_features, bias, input shape): batch 1, 1-d, 2-d, 4-d inputs.
LINEAR_CASES = [
    (1, 1, True, (1, 1)),
    (3, 4, True, (5, 3)),
    (3, 4, False, (5, 3)),
    (4, 2, True, (4,)),
    (6, 1, True, (1, 6)),
    (2, 3, True, (2, 3, 4, 2)),
    (5, 5, False, (3, 2, 1, 5)),
]


def linear_twins(in_features, out_features, bias, seed=0):
    """A course_lib Linear and a torch.nn.Linear with the same float64 weights."""
    torch.manual_seed(seed)
    return twins(nn.Linear, torch.nn.Linear, in_features, out_features, bias=bias)


@pytest.mark.parametrize("in_features, out_features, bias, shape", LINEAR_CASES, ids=str)
def test_linear_matches_autograd_in_float64(in_features, out_features, bias, shape):
    ours, theirs = linear_twins(in_features, out_features, bias)
    check_against_autograd(ours, theirs, torch.randn(shape, dtype=torch.float64))


def test_linear_backward_adds_to_the_parameter_gradients():
    ours, theirs = linear_twins(3, 2, True)
    for seed in (1, 2):
        x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        theirs(x).sum().backward()
        ours(x)
        ours.backward(torch.ones(4, 2, dtype=torch.float64))
    assert_close(ours.weight.grad, theirs.weight.grad)
    assert_close(ours.bias.grad, theirs.bias.grad)


@pytest.mark.parametrize("in_features, out_features", [(1, 1), (3, 4), (10, 7), (64, 32), (300, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_default_init_is_torchs_draw_for_draw(in_features, out_features, bias):
    torch.manual_seed(3)
    ours = nn.Linear(in_features, out_features, bias=bias)
    ours_next_draw = torch.rand(1)
    torch.manual_seed(3)
    theirs = torch.nn.Linear(in_features, out_features, bias=bias)
    theirs_next_draw = torch.rand(1)

    assert ours.weight.shape == (out_features, in_features)
    assert torch.equal(ours.weight.data, theirs.weight.detach())
    if bias:
        assert ours.bias.shape == (out_features,)
        assert torch.equal(ours.bias.data, theirs.bias.detach())
    else:
        assert ours.bias is None
    assert torch.equal(ours_next_draw, theirs_next_draw)


def test_linear_float32_keeps_its_dtype_and_matches_torch():
    torch.manual_seed(0)
    ours = nn.Linear(3, 2)
    torch.manual_seed(0)
    theirs = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3)
    x_ref = x.clone().requires_grad_()
    theirs(x_ref).backward(torch.ones(4, 2))

    output = ours(x)
    grad_input = ours.backward(torch.ones(4, 2))
    assert output.dtype == grad_input.dtype == ours.weight.grad.dtype == torch.float32
    torch.testing.assert_close(output, theirs(x).detach())
    torch.testing.assert_close(grad_input, x_ref.grad)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad)


def test_linear_repr_matches_torch():
    assert repr(nn.Linear(4, 3)) == repr(torch.nn.Linear(4, 3))
    assert repr(nn.Linear(4, 3, bias=False)) == repr(torch.nn.Linear(4, 3, bias=False))


def test_linear_wrong_last_dimension_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expects input \(\*, 4\), got \(2, 5\)"):
        nn.Linear(4, 3)(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"expects input \(\*, 4\), got \(\)"):
        nn.Linear(4, 3)(torch.tensor(1.0))
    with pytest.raises(TypeError, match="floating-point"):
        nn.Linear(4, 3)(torch.zeros(2, 4, dtype=torch.int64))


@pytest.mark.parametrize("in_features, out_features", [(0, 3), (3, -1), (2.5, 3), (True, 3)])
def test_linear_sizes_must_be_positive_integers(in_features, out_features):
    with pytest.raises(ValueError, match="positive integer"):
        nn.Linear(in_features, out_features)


def test_one_weight_used_twice_has_the_hand_derived_gradient():
    # prediction = w * (w * x); loss = (w²x - y)² (the mean over one element);
    # d loss / d w = 2 (w²x - y) * d(w²x)/dw = 4 (w²x - y) w x.
    w, x, y = 0.3, 10.0, 5.0
    layer = nn.Linear(1, 1, bias=False).double()
    layer.weight.data.fill_(w)
    loss_fn = nn.MSELoss()
    prediction = layer(layer(torch.tensor([[x]], dtype=torch.float64)))
    loss = loss_fn(prediction, torch.tensor([[y]], dtype=torch.float64))
    layer.backward(layer.backward(loss_fn.backward()))

    assert_close(loss, torch.tensor((w * w * x - y) ** 2, dtype=torch.float64))
    assert_close(layer.weight.grad, torch.tensor([[4 * (w * w * x - y) * w * x]], dtype=torch.float64))


MSE_SHAPES = [(), (1,), (5,), (1, 3), (3, 4), (2, 3, 4, 5)]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", MSE_SHAPES, ids=str)
@pytest.mark.parametrize("grad_output", [None, 0.3])
def test_mse_loss_matches_autograd_in_float64(reduction, shape, grad_output):
    x = torch.randn(shape, dtype=torch.float64)
    target = torch.randn(shape, dtype=torch.float64)
    x_ref = x.clone().requires_grad_()
    expected = torch.nn.MSELoss(reduction=reduction)(x_ref, target)
    expected.backward(None if grad_output is None else torch.tensor(grad_output, dtype=torch.float64))

    loss_fn = nn.MSELoss(reduction=reduction)
    loss = loss_fn(x, target)
    assert loss.shape == ()
    assert_close(loss, expected.detach())
    grad_input = loss_fn.backward() if grad_output is None else loss_fn.backward(grad_output)
    assert_close(grad_input, x_ref.grad)


def test_mse_loss_float32_keeps_its_dtype():
    x, target = torch.randn(3, 2), torch.randn(3, 2)
    loss_fn = nn.MSELoss()
    loss = loss_fn(x, target)
    grad_input = loss_fn.backward()
    assert loss.dtype == grad_input.dtype == torch.float32
    torch.testing.assert_close(loss, torch.nn.functional.mse_loss(x, target))


@pytest.mark.parametrize("reduction", ["none", "Mean", None])
def test_mse_loss_refuses_other_reductions(reduction):
    with pytest.raises(ValueError, match='"mean" or "sum"'):
        nn.MSELoss(reduction=reduction)


def test_mse_loss_refuses_to_broadcast_shapes():
    with pytest.raises(ValueError, match=r"input \(3, 1\) and target \(3,\)"):
        nn.MSELoss()(torch.zeros(3, 1), torch.zeros(3))


def test_mse_loss_refuses_a_target_of_another_dtype_or_type():
    with pytest.raises(TypeError, match=r"target\.to\(input\.dtype\)"):
        nn.MSELoss()(torch.zeros(3), torch.zeros(3, dtype=torch.float64))
    with pytest.raises(TypeError, match="target to be a torch.Tensor"):
        nn.MSELoss()(torch.zeros(3), [0.0, 0.0, 0.0])
