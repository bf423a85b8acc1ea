"""MSELoss: the mean (or sum) of squared differences between input and target (as torch.nn.MSELoss)."""

import torch

from course_lib.nn.module import Module, check_input, refuse_unsupported


class MSELoss(Module):
    """loss = mean((input - target)**2) with reduction="mean", or the sum with reduction="sum".

    A loss is where the backward pass starts: ``backward()`` needs no gradient from a later module
    and returns d loss / d input.
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        # torch's deprecated size_average and reduce: only their default, None, is supported.
        refuse_unsupported("MSELoss", size_average=(size_average, (None,)), reduce=(reduce, (None,)))
        if reduction not in ("mean", "sum"):
            raise ValueError(f'MSELoss supports reduction="mean" or "sum", got {reduction!r}.')
        self.reduction = reduction

    def forward(self, input, target):
        """
        input: (*) any shape
        target: (*) same shape and dtype as input
        returns loss: () a 0-d tensor
        """
        check_input(self, input, "(*)")
        if not isinstance(target, torch.Tensor):
            raise TypeError(f"MSELoss expects target to be a torch.Tensor, got {type(target).__name__}.")
        if target.shape != input.shape:
            # torch.nn.MSELoss broadcasts with only a warning, which silently gives a different loss.
            raise ValueError(
                f"MSELoss expects input and target of the same shape, got input {tuple(input.shape)} "
                f"and target {tuple(target.shape)}; reshape one of them (e.g. target.view_as(input))."
            )
        if target.dtype != input.dtype:
            raise TypeError(
                f"MSELoss expects target of the input's dtype {input.dtype}, got {target.dtype}; "
                "convert it with target.to(input.dtype)."
            )
        ### BEGIN SOLUTION
        difference = input - target
        self.save_for_backward(difference)
        total = (difference**2).sum()
        return total / difference.numel() if self.reduction == "mean" else total
        ### END SOLUTION

    def backward(self, grad_output=1.0):
        """
        grad_output: number or () d final / d loss; 1.0 when the loss is the final value
        returns grad_input: (*) d loss / d input, same shape as this call's input
        """
        ### BEGIN SOLUTION
        difference = self.saved_for_backward()
        grad_input = 2 * difference * grad_output
        return grad_input / difference.numel() if self.reduction == "mean" else grad_input
        ### END SOLUTION
