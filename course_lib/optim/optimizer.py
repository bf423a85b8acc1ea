"""Optimizer: the base of SGD and Adam (as torch.optim.Optimizer, with a single parameter group)."""

import collections

import torch

from course_lib.nn.module import Parameter, refuse_unsupported


class Optimizer:
    """Holds the parameters to update, their per-parameter state and the hyperparameters.

    params: an iterable of course_lib Parameters, usually ``model.parameters()``
    defaults: the hyperparameters by name ({"lr": 0.1, "momentum": 0.9, ...}); they become
        attributes (``self.lr``, ``self.momentum``, ...) that ``step`` reads and a notebook may change.
    ``self.state[p]`` is a dict for whatever ``step`` keeps between steps for parameter ``p``.
    """

    def __init__(self, params, defaults):
        if isinstance(params, (torch.Tensor, Parameter)):
            raise TypeError(
                f"{type(self).__name__} expects an iterable of Parameters, got a single "
                f"{type(params).__name__}; pass model.parameters()."
            )
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for param in self.params:
            if not isinstance(param, Parameter):
                raise TypeError(
                    f"{type(self).__name__} optimises course_lib Parameters, got a {type(param).__name__}; "
                    "pass model.parameters() of a course_lib model."
                )
        _check_hyperparameters(**defaults)
        self.defaults = dict(defaults)
        vars(self).update(defaults)
        self.state = collections.defaultdict(dict)

    def zero_grad(self):
        """Reset every parameter's gradient to zero (backward adds into it)."""
        for param in self.params:
            param.zero_grad()

    def step(self):
        raise NotImplementedError(f"{type(self).__name__} does not define step().")

    def __repr__(self):
        settings = ", ".join(f"{name}={value}" for name, value in self.defaults.items())
        return f"{type(self).__name__}({settings})"


def refuse_options(who, **options):
    """Refuse torch.optim options this course does not implement, unless at torch's default (False;
    None or False for fused): a ValueError names the option."""
    refuse_unsupported(who, **{name: (value, (None, False) if name == "fused" else (False,))
                               for name, value in options.items()})


def _check_hyperparameters(lr=0.0, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                           betas=(0.0, 0.0), eps=0.0):
    """Raise ValueError for values torch.optim refuses."""
    if lr < 0:
        raise ValueError(f"Invalid learning rate: {lr} (it must be >= 0).")
    if momentum < 0:
        raise ValueError(f"Invalid momentum value: {momentum} (it must be >= 0).")
    if weight_decay < 0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay} (it must be >= 0).")
    if eps < 0:
        raise ValueError(f"Invalid epsilon value: {eps} (it must be >= 0).")
    for index, beta in enumerate(betas):
        if not 0 <= beta < 1:
            raise ValueError(f"Invalid beta parameter at index {index}: {beta} (it must be in [0, 1)).")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires a momentum > 0 and zero dampening.")
