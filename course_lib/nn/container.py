"""Containers: Sequential chains modules, Residual adds a skip path around one (as torch.nn.Sequential).

Neither stores the input it sees: each child keeps what its own backward needs on its per-call
stack, so a module that appears twice, or a Residual inside a Sequential, gets the right gradients.
"""

from course_lib.nn.module import Module


class Sequential(Module):
    """Applies its modules one after the other: Sequential(a, b, c)(x) = c(b(a(x))).

    Children are named "0", "1", ... as in torch.nn.Sequential, so parameter names ("0.weight")
    and state dicts match torch's.
    """

    def __init__(self, *modules):
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential expects course_lib modules, got {type(module).__name__} at position {index}."
                )
        self._in_order = list(modules)

    def named_children(self):
        for index, module in enumerate(self._in_order):
            yield str(index), module

    def __len__(self):
        return len(self._in_order)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self._in_order[index])
        return self._in_order[index]

    def __iter__(self):
        return iter(self._in_order)

    def forward(self, input):
        """
        input: the input of the first module
        returns output: the output of the last module (the input itself if there are no modules)
        """
        ### BEGIN SOLUTION
        for module in self:
            input = module(input)
        return input
        ### END SOLUTION

    def backward(self, grad_output):
        """
        grad_output: d loss / d output, shape of the last module's output
        returns grad_input: d loss / d input, shape of the first module's input
        """
        ### BEGIN SOLUTION
        for module in reversed(self._in_order):
            grad_output = module.backward(grad_output)
        return grad_output
        ### END SOLUTION


class Residual(Module):
    """output = input + module(input): a skip path around ``module``, which must keep the shape.

    The wrapped module is the attribute ``module``, so its parameters are named "module.0.weight" etc.
    """

    def __init__(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"Residual expects a course_lib module, got {type(module).__name__}.")
        self.module = module

    def check_same_shape(self, input, branch):
        """Raise a clear error unless branch = module(input) has input's shape (adding would broadcast)."""
        if branch.shape != input.shape:
            raise ValueError(
                f"Residual needs module to keep the shape: input {tuple(input.shape)} gave "
                f"{tuple(branch.shape)}. Wrap a module whose output has the shape of its input."
            )

    def forward(self, input):
        """
        input: (*) any shape the wrapped module accepts
        returns output: (*) same shape; calls self.check_same_shape(input, module(input)) first
        """
        ### BEGIN SOLUTION
        branch = self.module(input)
        self.check_same_shape(input, branch)
        return input + branch
        ### END SOLUTION

    def backward(self, grad_output):
        """
        grad_output: (*) d loss / d output
        returns grad_input: (*) d loss / d input, same shape
        """
        ### BEGIN SOLUTION
        return grad_output + self.module.backward(grad_output)
        ### END SOLUTION
