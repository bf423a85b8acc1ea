"""Elementwise activations: ReLU, LeakyReLU, Sigmoid, Tanh (as in torch.nn).

Each works on a tensor of any shape (*) and returns one of the same shape. Backward multiplies
``grad_output`` by the activation's derivative at each element, so forward saves whatever that
derivative needs: the input for the piecewise-linear ones, the output for Sigmoid and Tanh.
"""

import torch

from course_lib.nn.module import Module, check_input, refuse_unsupported


class ReLU(Module):
    """ReLU(x) = max(0, x), elementwise. Its derivative at exactly 0 is taken to be 0, as in torch.

    inplace: torch's argument; only False (a new output tensor) is supported.
    """

    def __init__(self, inplace=False):
        refuse_unsupported("ReLU", inplace=(inplace, (False,)))

    def forward(self, input):
        """
        input: (*) any shape
        returns output: (*) same shape as input
        """
        check_input(self, input, "(*)")
        ### BEGIN SOLUTION
        self.save_for_backward(input)
        return input.clamp(min=0)
        ### END SOLUTION

    def backward(self, grad_output):
        """
        grad_output: (*) d loss / d output, shape of this call's input
        returns grad_input: (*) d loss / d input, same shape
        """
        ### BEGIN SOLUTION
        input = self.saved_for_backward()
        return grad_output * (input > 0)
        ### END SOLUTION


class LeakyReLU(Module):
    """LeakyReLU(x) = x for x > 0, negative_slope * x otherwise, elementwise. Its derivative at exactly 0
    is taken to be negative_slope, as in torch. inplace: torch's argument; only False is supported."""

    def __init__(self, negative_slope=0.01, inplace=False):
        refuse_unsupported("LeakyReLU", inplace=(inplace, (False,)))
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)):
            raise TypeError(f"LeakyReLU expects a number as negative_slope, got {negative_slope!r}.")
        self.negative_slope = negative_slope

    def forward(self, input):
        """
        input: (*) any shape
        returns output: (*) same shape as input
        """
        check_input(self, input, "(*)")
        ### BEGIN SOLUTION
        self.save_for_backward(input)
        # The positive part, plus the slope times the negative part: for a slope up to 1 that is the larger of x
        # and slope * x (for a larger slope, the smaller), two passes over memory where the clamps take four.
        scaled = self.negative_slope * input
        return torch.maximum(input, scaled) if self.negative_slope <= 1 else torch.minimum(input, scaled)
        ### END SOLUTION

    def backward(self, grad_output):
        """
        grad_output: (*) d loss / d output, shape of this call's input
        returns grad_input: (*) d loss / d input, same shape
        """
        ### BEGIN SOLUTION
        input = self.saved_for_backward()
        # The derivative: 1 where the input was positive, negative_slope elsewhere (0 included). sign() gives 1,
        # 0 or -1; for a slope between -1 and 1, clamping that from below at the slope turns 0 and -1 into the
        # slope: one pass over memory each, and the product in place, so no pass makes a tensor of its own.
        if -1 <= self.negative_slope <= 1:
            derivative = input.sign().clamp_(min=self.negative_slope)
        else:
            derivative = (input > 0).to(grad_output.dtype) * (1 - self.negative_slope) + self.negative_slope
        return derivative.mul_(grad_output)
        ### END SOLUTION

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """Sigmoid(x) = 1 / (1 + exp(-x)), elementwise; its derivative is s * (1 - s) with s = Sigmoid(x)."""

    def forward(self, input):
        """
        input: (*) any shape
        returns output: (*) same shape as input, values in [0, 1]
        """
        check_input(self, input, "(*)")
        ### BEGIN SOLUTION
        # exp of a large positive number overflows; exp(-|x|) lies in (0, 1] for every x.
        small = torch.exp(-input.abs())
        output = torch.where(input >= 0, 1 / (1 + small), small / (1 + small))
        self.save_for_backward(output)
        return output
        ### END SOLUTION

    def backward(self, grad_output):
        """
        grad_output: (*) d loss / d output, shape of this call's input
        returns grad_input: (*) d loss / d input, same shape
        """
        ### BEGIN SOLUTION
        output = self.saved_for_backward()
        return grad_output * output * (1 - output)
        ### END SOLUTION


class Tanh(Module):
    """Tanh(x), elementwise; its derivative is 1 - y**2 with y = Tanh(x)."""

    def forward(self, input):
        """
        input: (*) any shape
        returns output: (*) same shape as input, values in [-1, 1]
        """
        check_input(self, input, "(*)")
        ### BEGIN SOLUTION
        output = torch.tanh(input)
        self.save_for_backward(output)
        return output
        ### END SOLUTION

    def backward(self, grad_output):
        """
        grad_output: (*) d loss / d output, shape of this call's input
        returns grad_input: (*) d loss / d input, same shape
        """
        ### BEGIN SOLUTION
        output = self.saved_for_backward()
        return grad_output * (1 - output**2)
        ### END SOLUTION
