"""Module and Parameter: names, state dicts, dtype conversion, the per-call stack and its errors."""

import re

import pytest
import torch

from course_lib import nn


def mlp():
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))


def torch_mlp():
    return torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))


def test_named_parameters_have_torchs_names_in_torchs_order():
    assert [name for name, _ in mlp().named_parameters()] == [name for name, _ in torch_mlp().named_parameters()]
    model = nn.Residual(mlp())
    assert [name for name, _ in model.named_parameters()] == [
        "module.0.weight", "module.0.bias", "module.2.weight", "module.2.bias"]


def test_a_shared_module_is_listed_once_as_in_torch():
    linear, their_linear = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    model = nn.Sequential(linear, nn.ReLU(), linear)
    theirs = torch.nn.Sequential(their_linear, torch.nn.ReLU(), their_linear)
    assert [name for name, _ in model.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    assert model.parameters() == [linear.weight, linear.bias]
    assert list(model.modules()) == [model, linear, model[1]]


def test_state_dict_round_trip_copies_values_in_place():
    source, target = mlp(), mlp()
    weight_before = target[0].weight.data
    target.load_state_dict(source.state_dict())
    for (name, ours), (_, theirs) in zip(target.named_parameters(), source.named_parameters()):
        assert torch.equal(ours.data, theirs.data), name
    assert target[0].weight.data is weight_before


def test_state_dict_holds_copies():
    model = mlp()
    state = model.state_dict()
    state["0.weight"].fill_(7.0)
    assert not torch.equal(model[0].weight.data, state["0.weight"])


def test_state_dicts_move_between_course_lib_and_torch_twins():
    ours, theirs = mlp(), torch_mlp()
    theirs.load_state_dict(ours.state_dict())
    assert torch.equal(theirs[2].weight.detach(), ours[2].weight.data)
    ours_again = mlp()
    ours_again.load_state_dict(theirs.state_dict())
    assert torch.equal(ours_again[0].bias.data, ours[0].bias.data)


def test_state_dict_of_a_shared_module_matches_torchs_names():
    linear, their_linear = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    model = nn.Sequential(linear, nn.ReLU(), linear)
    theirs = torch.nn.Sequential(their_linear, torch.nn.ReLU(), their_linear)
    assert list(model.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(model.state_dict())
    model.load_state_dict(theirs.state_dict())
    assert torch.equal(their_linear.weight.detach(), linear.weight.data)


def test_load_state_dict_names_missing_and_unexpected_keys():
    model = mlp()
    state = model.state_dict()
    state["0.wieght"] = state.pop("0.weight")
    with pytest.raises(KeyError, match=r"missing: \['0.weight'\]; unexpected: \['0.wieght'\]"):
        model.load_state_dict(state)


def test_load_state_dict_refuses_a_wrong_shape():
    model = mlp()
    state = model.state_dict()
    state["2.weight"] = torch.zeros(3, 1)
    with pytest.raises(ValueError, match=r"2.weight has shape \(3, 1\), but Sequential expects \(1, 3\)"):
        model.load_state_dict(state)


def test_to_converts_data_and_grad_and_returns_self():
    model = mlp()
    assert model.to(torch.float64) is model
    for name, parameter in model.named_parameters():
        assert parameter.data.dtype == parameter.grad.dtype == torch.float64, name
    assert model.float() is model and model[0].weight.grad.dtype == torch.float32
    with pytest.raises(TypeError, match="torch dtype"):
        model.to("float64")


def test_zero_grad_resets_every_gradient():
    model = mlp()
    for parameter in model.parameters():
        parameter.grad.fill_(1.0)
    model.zero_grad()
    assert all(not parameter.grad.any() for parameter in model.parameters())


def test_parameter_grad_starts_at_zero_with_the_datas_shape_and_dtype():
    parameter = nn.Parameter(torch.ones(2, 3, dtype=torch.float64))
    assert parameter.grad.shape == (2, 3) and parameter.grad.dtype == torch.float64
    assert not parameter.grad.any()
    with pytest.raises(TypeError, match="torch.Tensor"):
        nn.Parameter([1.0, 2.0])


def test_backward_without_a_matching_forward_is_an_error():
    layer = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="Linear.backward was called without a matching forward"):
        layer.backward(torch.ones(1, 2))
    layer(torch.ones(1, 2))
    layer.backward(torch.ones(1, 2))
    with pytest.raises(RuntimeError, match="once per forward call"):
        layer.backward(torch.ones(1, 2))


def test_no_grad_saves_nothing():
    model = mlp()
    with nn.no_grad():
        model(torch.ones(4, 2))
    assert not any(vars(module).get("_saved") for module in model.modules())
    with pytest.raises(RuntimeError, match="without a matching forward"):
        model.backward(torch.ones(4, 1))


def test_backward_pops_the_calls_in_reverse_order():
    relu = nn.ReLU()
    relu(torch.tensor([1.0, -1.0]))
    relu(torch.tensor([-1.0, 1.0]))
    assert torch.equal(relu.backward(torch.ones(2)), torch.tensor([0.0, 1.0]))
    assert torch.equal(relu.backward(torch.ones(2)), torch.tensor([1.0, 0.0]))


def test_clear_saved_forgets_pending_forward_calls():
    model = mlp()
    model(torch.ones(1, 2))
    model.clear_saved()
    with pytest.raises(RuntimeError, match="without a matching forward"):
        model.backward(torch.ones(1, 1))


@pytest.mark.parametrize("grad_output", [torch.ones(1, 3), torch.ones(5, 1), torch.tensor(1.0), 1.0])
def test_a_grad_output_that_would_broadcast_is_refused(grad_output):
    # ReLU's grad_output * mask would broadcast any of these into a (5, 3) answer, silently wrong.
    relu = nn.ReLU()
    relu(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"ReLU.backward expects grad_output of the shape its forward returned, "
                                         r"\(5, 3\); got"):
        relu.backward(grad_output)
    assert relu.backward(torch.ones(5, 3)).shape == (5, 3)  # the refused call left the saved input in place


def test_each_call_of_a_shared_module_checks_its_own_output_shape():
    linear = nn.Linear(3, 3)
    linear(linear(torch.ones(2, 3))[:1])  # the second call sees one row: output (1, 3)
    with pytest.raises(ValueError, match=r"\(1, 3\); got \(2, 3\)"):
        linear.backward(torch.ones(2, 3))
    assert linear.backward(torch.ones(1, 3)).shape == (1, 3)
    assert linear.backward(torch.ones(2, 3)).shape == (2, 3)


def test_a_loss_takes_one_number_as_its_grad_output():
    loss_fn = nn.MSELoss()
    loss_fn(torch.zeros(2), torch.ones(2))
    assert torch.equal(loss_fn.backward(torch.tensor([3.0])), torch.tensor([-3.0, -3.0]))
    loss_fn(torch.zeros(2), torch.ones(2))
    with pytest.raises(ValueError, match=r"MSELoss.backward expects grad_output of the shape its forward "
                                         r"returned, \(\); got \(2,\)"):
        loss_fn.backward(torch.ones(2))


@pytest.mark.parametrize("layer, input", [(nn.Linear(3, 2), torch.ones(4, 3)),
                                          (nn.Conv2d(2, 3, 3), torch.ones(2, 2, 5, 5)),
                                          (nn.Sigmoid(), torch.ones(4, 3))], ids=["Linear", "Conv2d", "Sigmoid"])
def test_the_grad_output_check_holds_when_forward_is_called_directly(layer, input):
    # As EPFL-style code and staff tests do: forward, not __call__. Without the check, Conv2d hits torch's
    # internal bmm error and Sigmoid broadcasts silently.
    output = layer.forward(input)
    wrong = torch.ones(*output.shape[:-1], output.shape[-1] + 1)
    with pytest.raises(ValueError, match=rf"{type(layer).__name__}.backward expects grad_output of the shape its "
                                         rf"forward returned, {re.escape(str(tuple(output.shape)))}"):
        layer.backward(wrong)
    assert layer.backward(torch.ones_like(output)).shape == input.shape


def test_a_subclass_calling_super_forward_records_its_own_output():
    class Doubled(nn.Linear):
        def forward(self, input):
            return torch.cat([super().forward(input)] * 2)

    layer = Doubled(3, 2)
    layer(torch.ones(4, 3))
    with pytest.raises(ValueError, match=r"\(8, 2\); got \(4, 2\)"):
        layer.backward(torch.ones(4, 2))
