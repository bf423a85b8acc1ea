"""SGD and Adam against torch.optim over 25 steps in float64, and the optimiser's misuse errors."""

import inspect

import pytest
import torch

from autograd_twins import assert_close
from course_lib import nn, optim

STEPS = 25


class Problem:
    """loss(W, v) = sum((W @ v - t)**2) + 0.1 * sum(v**4), with gradients derived by hand:
    r = W @ v - t;  d loss / d W = 2 r v^T;  d loss / d v = 2 W^T r + 0.4 v**3.
    """

    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.W0 = torch.randn(3, 4, dtype=torch.float64, generator=generator)
        self.v0 = torch.randn(4, dtype=torch.float64, generator=generator)
        self.t = torch.randn(3, dtype=torch.float64, generator=generator)

    def torch_loss(self, W, v):
        return ((W @ v - self.t) ** 2).sum() + 0.1 * (v**4).sum()

    def add_gradients(self, W, v):
        """Add d loss / d W and d loss / d v into W.grad and v.grad (course_lib Parameters)."""
        residual = W.data @ v.data - self.t
        W.grad += 2 * torch.outer(residual, v.data)
        v.grad += 2 * W.data.T @ residual + 0.4 * v.data**3


def run_side_by_side(ours_class, theirs_class, **hyperparameters):
    problem = Problem()
    W, v = nn.Parameter(problem.W0.clone()), nn.Parameter(problem.v0.clone())
    W_ref, v_ref = problem.W0.clone().requires_grad_(), problem.v0.clone().requires_grad_()
    ours = ours_class([W, v], **hyperparameters)
    theirs = theirs_class([W_ref, v_ref], **hyperparameters)
    W_data, v_data = W.data, v.data
    for step in range(STEPS):
        ours.zero_grad()
        problem.add_gradients(W, v)
        ours.step()
        theirs.zero_grad()
        problem.torch_loss(W_ref, v_ref).backward()
        theirs.step()
        assert_close(W.data, W_ref.detach(), msg=f"W after step {step + 1}")
        assert_close(v.data, v_ref.detach(), msg=f"v after step {step + 1}")
    # Layers hold on to their Parameter's .data tensor: step must update it in place.
    assert W.data is W_data and v.data is v_data


def test_hand_gradients_match_autograd():
    problem = Problem()
    W, v = nn.Parameter(problem.W0.clone()), nn.Parameter(problem.v0.clone())
    problem.add_gradients(W, v)
    W_ref, v_ref = problem.W0.clone().requires_grad_(), problem.v0.clone().requires_grad_()
    problem.torch_loss(W_ref, v_ref).backward()
    assert_close(W.grad, W_ref.grad)
    assert_close(v.grad, v_ref.grad)


SGD_SETTINGS = [
    dict(lr=0.01),
    dict(lr=0.01, momentum=0.9),
    dict(lr=0.01, momentum=0.9, dampening=0.5),
    dict(lr=0.01, momentum=0.9, nesterov=True),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.005, momentum=0.5, dampening=0.1, weight_decay=0.01),
    dict(lr=0.005, momentum=0.8, weight_decay=0.2, nesterov=True),
]


@pytest.mark.parametrize("hyperparameters", SGD_SETTINGS, ids=str)
def test_sgd_matches_torch(hyperparameters):
    run_side_by_side(optim.SGD, torch.optim.SGD, **hyperparameters)


ADAM_SETTINGS = [
    dict(),
    dict(lr=0.05),
    dict(lr=0.05, betas=(0.5, 0.9)),
    dict(lr=0.01, betas=(0.0, 0.0)),
    dict(lr=0.05, eps=1e-3),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
]


@pytest.mark.parametrize("hyperparameters", ADAM_SETTINGS, ids=str)
def test_adam_matches_torch(hyperparameters):
    run_side_by_side(optim.Adam, torch.optim.Adam, **hyperparameters)


def test_first_sgd_step_with_momentum_is_a_plain_step():
    # The momentum buffer starts at the first gradient itself, so dampening does not shrink step 1.
    parameter = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    parameter.grad += torch.tensor([0.5, 4.0], dtype=torch.float64)
    optim.SGD([parameter], lr=0.1, momentum=0.9, dampening=0.5).step()
    assert_close(parameter.data, torch.tensor([1.0 - 0.05, -2.0 - 0.4], dtype=torch.float64))


def test_first_adam_step_moves_each_parameter_by_lr():
    # Bias correction makes m_hat = g and v_hat = g**2 on step 1: the step is lr * g / (|g| + eps).
    parameter = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    parameter.grad += torch.tensor([0.5, -4.0], dtype=torch.float64)
    optim.Adam([parameter], lr=0.1, eps=0.0).step()
    assert_close(parameter.data, torch.tensor([0.9, -1.9], dtype=torch.float64))


def test_optimisers_accept_a_models_parameters_and_a_generator():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert optim.SGD(model.parameters(), lr=0.1).params == model.parameters()
    assert optim.Adam(p for p in model.parameters()).params == model.parameters()


def test_defaults_match_torch():
    parameters = [nn.Parameter(torch.zeros(2))]
    sgd, adam = optim.SGD(parameters), optim.Adam(parameters)
    their_sgd = torch.optim.SGD([torch.zeros(2, requires_grad=True)]).defaults
    their_adam = torch.optim.Adam([torch.zeros(2, requires_grad=True)]).defaults
    for ours, theirs in ((sgd, their_sgd), (adam, their_adam)):
        for name, value in ours.defaults.items():
            assert getattr(ours, name) == value == theirs[name], name


def test_zero_grad_resets_every_gradient():
    parameters = [nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(3, 1))]
    for parameter in parameters:
        parameter.grad += 1.0
    optim.SGD(parameters, lr=0.1).zero_grad()
    assert not any(parameter.grad.any() for parameter in parameters)


def test_empty_parameter_list_is_an_error():
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.Adam(nn.ReLU().parameters())


@pytest.mark.parametrize("make_params", [
    lambda: torch.zeros(3),
    lambda: nn.Parameter(torch.zeros(3)),
    lambda: [torch.zeros(3, requires_grad=True)],
    lambda: torch.nn.Linear(2, 2).parameters(),
], ids=["tensor", "single Parameter", "list of tensors", "torch parameters"])
@pytest.mark.parametrize("optimizer_class", [optim.SGD, optim.Adam])
def test_anything_but_course_lib_parameters_is_refused(optimizer_class, make_params):
    with pytest.raises(TypeError, match=r"model\.parameters\(\)"):
        optimizer_class(make_params(), lr=0.1)


@pytest.mark.parametrize("optimizer_class, hyperparameters, message", [
    (optim.SGD, dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (optim.SGD, dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (optim.SGD, dict(lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    (optim.SGD, dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum > 0 and zero dampening"),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    (optim.Adam, dict(lr=-1e-3), "Invalid learning rate"),
    (optim.Adam, dict(betas=(1.0, 0.999)), r"Invalid beta parameter at index 0: 1.0 \(it must be in \[0, 1\)\)"),
    (optim.Adam, dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (optim.Adam, dict(eps=-1e-8), "Invalid epsilon value"),
    (optim.Adam, dict(weight_decay=-0.1), "Invalid weight_decay value"),
])
def test_invalid_hyperparameters_are_refused_as_in_torch(optimizer_class, hyperparameters, message):
    with pytest.raises(ValueError, match=message):
        optimizer_class([nn.Parameter(torch.zeros(2))], **hyperparameters)
    with pytest.raises(ValueError):
        {optim.SGD: torch.optim.SGD, optim.Adam: torch.optim.Adam}[optimizer_class](
            [torch.zeros(2, requires_grad=True)], **hyperparameters)


def test_torchs_options_at_their_defaults_are_accepted():
    parameters = [nn.Parameter(torch.zeros(2))]
    optim.SGD(parameters, 0.1, 0.9, 0, 0, False, maximize=False, foreach=None, differentiable=False, fused=None)
    optim.Adam(parameters, 0.1, (0.9, 0.999), 1e-8, 0, False, foreach=True, maximize=False, capturable=False,
               differentiable=False, fused=None, decoupled_weight_decay=False)
    for optimizer_class in (optim.SGD, optim.Adam):
        assert set(inspect.signature(optimizer_class).parameters) == set(
            inspect.signature(getattr(torch.optim, optimizer_class.__name__)).parameters)


@pytest.mark.parametrize("optimizer_class, option", [
    (optim.SGD, dict(maximize=True)), (optim.SGD, dict(fused=True)), (optim.SGD, dict(differentiable=True)),
    (optim.Adam, dict(amsgrad=True)), (optim.Adam, dict(maximize=True)),
    (optim.Adam, dict(decoupled_weight_decay=True)),
], ids=str)
def test_torchs_options_this_course_lacks_are_refused_by_name(optimizer_class, option):
    (name, _), = option.items()
    with pytest.raises(ValueError, match=rf"^{optimizer_class.__name__} supports only (.* or )?{name}=False; "
                                         rf"got {name}=True\.$"):
        optimizer_class([nn.Parameter(torch.zeros(2))], **option)
