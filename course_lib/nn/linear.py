"""Linear: a fully connected layer, output = input @ weight.T + bias (as torch.nn.Linear)."""

import math

import torch

from course_lib.nn.module import Module, check_input, refuse_unsupported, uniform_parameter


class Linear(Module):
    """Applies output = input @ weight.T + bias to the last dimension of the input.

    weight: (out_features, in_features)
    bias: (out_features,), or None when bias=False
    Both start as U(-1/sqrt(in_features), 1/sqrt(in_features)), drawn exactly as torch.nn.Linear
    draws them (weight first, then bias), so the same torch.manual_seed gives the same layer.
    device (None or "cpu") and dtype (None: float32; convert with .to(dtype) afterwards): torch's
    arguments, other values refused.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        refuse_unsupported("Linear", device=(device, (None, "cpu")), dtype=(dtype, (None, torch.float32)))
        for name, size in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"Linear expects a positive integer {name}, got {size!r}.")
        self.in_features = in_features
        self.out_features = out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = uniform_parameter((out_features, in_features), bound)
        self.bias = uniform_parameter((out_features,), bound) if bias else None

    def forward(self, input):
        """
        input: (*, in_features), any number of leading dimensions
        returns output: (*, out_features)
        """
        check_input(self, input, f"(*, {self.in_features})")
        ### BEGIN SOLUTION
        self.save_for_backward(input)
        output = input @ self.weight.data.T
        return output if self.bias is None else output + self.bias.data
        ### END SOLUTION

    def backward(self, grad_output):
        """
        grad_output: (*, out_features)
        returns grad_input: (*, in_features)
        Adds d loss / d weight (out_features, in_features) to weight.grad and
        d loss / d bias (out_features,) to bias.grad.
        """
        ### BEGIN SOLUTION
        input = self.saved_for_backward()
        # Every leading position (sample, time step, ...) uses the same weights: sum over all of them.
        input_rows = input.reshape(-1, self.in_features)
        grad_rows = grad_output.reshape(-1, self.out_features)
        self.weight.grad += grad_rows.T @ input_rows
        if self.bias is not None:
            self.bias.grad += grad_rows.sum(dim=0)
        return grad_output @ self.weight.data
        ### END SOLUTION

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
