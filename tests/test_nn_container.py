"""Sequential and Residual against equivalent torch graphs (float64), their names, and their errors."""


import pytest
import torch

from autograd_twins import assert_close
from course_lib import nn
from course_lib.exercises import TorchResidual


def check_against_torch(ours, theirs, input_shape, seed=0):
    """Same weights; compare output, gradient of the input and of every parameter, by name."""
    ours.double()
    theirs.double()
    theirs.load_state_dict(ours.state_dict())
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(input_shape, dtype=torch.float64, generator=generator)
    x_ref = x.clone().requires_grad_()
    expected = theirs(x_ref)
    grad_output = torch.randn(expected.shape, dtype=torch.float64, generator=generator)
    expected.backward(grad_output)

    assert_close(ours(x), expected.detach())
    assert_close(ours.backward(grad_output), x_ref.grad)
    their_parameters = dict(theirs.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(their_parameters)
    for name, parameter in ours.named_parameters():
        assert_close(parameter.grad, their_parameters[name].grad, msg=f"gradient of {name}")


def mlp_twins(seed=0):
    """A course_lib MLP and its torch twin, with the same weights (same seed, same draws)."""
    torch.manual_seed(seed)
    ours = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    torch.manual_seed(seed)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    return ours, theirs


@pytest.mark.parametrize("input_shape", [(1, 3), (4, 3), (3,), (2, 3, 4, 3)], ids=str)
def test_sequential_matches_torch(input_shape):
    check_against_torch(*mlp_twins(), input_shape)


def test_sequential_with_one_linear_used_twice_matches_torch():
    ours_linear, their_linear = nn.Linear(4, 4), torch.nn.Linear(4, 4)
    ours = nn.Sequential(ours_linear, nn.Tanh(), ours_linear)
    theirs = torch.nn.Sequential(their_linear, torch.nn.Tanh(), their_linear)
    check_against_torch(ours, theirs, (6, 4))


def test_sequential_used_twice_inside_a_sequential_matches_torch():
    ours_block = nn.Sequential(nn.Linear(3, 3), nn.Sigmoid())
    their_block = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Sigmoid())
    check_against_torch(nn.Sequential(ours_block, ours_block), torch.nn.Sequential(their_block, their_block), (5, 3))


def test_residual_inside_sequential_matches_torch():
    ours = nn.Sequential(
        nn.Linear(3, 4),
        nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))),
        nn.LeakyReLU(0.1),
        nn.Linear(4, 2),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 4),
        TorchResidual(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4))),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(4, 2),
    )
    assert [name for name, _ in ours.named_parameters()][2:4] == ["1.module.0.weight", "1.module.0.bias"]
    check_against_torch(ours, theirs, (5, 3))


def test_linear_used_inside_and_outside_a_residual_matches_torch():
    ours_linear, their_linear = nn.Linear(3, 3), torch.nn.Linear(3, 3)
    ours = nn.Sequential(ours_linear, nn.Residual(nn.Sequential(ours_linear, nn.Tanh())), ours_linear)
    theirs = torch.nn.Sequential(their_linear, TorchResidual(torch.nn.Sequential(their_linear, torch.nn.Tanh())),
                                 their_linear)
    check_against_torch(ours, theirs, (4, 3))


@pytest.mark.parametrize("input_shape", [(1, 4), (2, 3, 5, 4)], ids=str)
def test_residual_matches_torch(input_shape):
    check_against_torch(nn.Residual(nn.Linear(4, 4)), TorchResidual(torch.nn.Linear(4, 4)), input_shape)


def test_float32_keeps_its_dtype():
    ours, theirs = mlp_twins()
    x = torch.randn(4, 3)
    output = ours(x)
    grad_input = ours.backward(torch.ones_like(output))
    assert output.dtype == grad_input.dtype == torch.float32
    torch.testing.assert_close(output, theirs(x).detach())


def test_empty_sequential_is_the_identity():
    x = torch.randn(2, 3)
    assert torch.equal(nn.Sequential()(x), x)
    assert torch.equal(nn.Sequential().backward(x), x)


def test_sequential_behaves_like_a_sequence():
    linear, relu, last = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    model = nn.Sequential(linear, relu, last)
    assert len(model) == 3
    assert model[0] is linear and model[-1] is last
    assert list(model) == [linear, relu, last]
    assert list(model[1:]) == [relu, last] and isinstance(model[1:], nn.Sequential)
    assert [name for name, _ in model.named_children()] == ["0", "1", "2"]


def test_repr_matches_torch():
    ours, theirs = mlp_twins()
    assert repr(ours) == repr(theirs)
    assert repr(nn.Residual(nn.Linear(4, 4))) == "Residual(\n  (module): Linear(in_features=4, out_features=4, bias=True)\n)"


def test_residual_refuses_a_module_that_changes_the_shape():
    with pytest.raises(ValueError, match=r"Residual needs module to keep the shape: input \(2, 4\) gave \(2, 3\)"):
        nn.Residual(nn.Linear(4, 3))(torch.zeros(2, 4))


def test_containers_refuse_what_is_not_a_course_lib_module():
    with pytest.raises(TypeError, match="position 1"):
        nn.Sequential(nn.ReLU(), torch.nn.ReLU())
    with pytest.raises(TypeError, match="course_lib module"):
        nn.Residual(torch.nn.Linear(2, 2))
