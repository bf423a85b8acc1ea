"""What the module tests share: the float64 comparison and a course_lib layer beside its torch twin."""

import functools

import torch

assert_close = functools.partial(torch.testing.assert_close, rtol=1e-7, atol=1e-12)


def twins(our_class, torch_class, *args, **kwargs):
    """A course_lib layer and its torch.nn twin with the same float64 parameters."""
    ours = our_class(*args, **kwargs).double()
    theirs = torch_class(*args, **kwargs).double()
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def check_against_autograd(ours, theirs, x):
    """One forward and backward of both layers on x: output, grad input and parameter grads agree."""
    x_ref = x.clone().requires_grad_()
    expected = theirs(x_ref)
    grad_output = torch.randn_like(expected)
    expected.backward(grad_output)

    assert_close(ours(x), expected.detach())
    assert_close(ours.backward(grad_output), x_ref.grad)
    for (name, ours_param), (_, theirs_param) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(ours_param.grad, theirs_param.grad, msg=f"gradient of {name}")
