"""Module and Parameter: the two classes every layer of the course is built on.

A module computes ``output = forward(input)`` and, later, ``grad_input = backward(grad_output)``.
Nothing is recorded automatically: a forward that will need its input again in backward saves it
with ``self.save_for_backward(...)`` and backward gets it back with ``self.saved_for_backward()``.

Saved values live on a per-module stack, one entry per forward call. A module used twice in one
forward pass (``y = layer(layer(x))``) therefore keeps both inputs, and the two backward calls,
made in reverse order, each get the input of their own forward call.
"""

import functools
from collections import OrderedDict
from contextlib import contextmanager

import torch

_saving_enabled = True


@contextmanager
def no_grad():
    """Run forward passes that will never be followed by backward (evaluation, plotting).

    Inside the block nothing is saved for backward, so evaluating a model in a loop does not keep
    every input alive; calling backward for such a pass raises an error.
    """
    global _saving_enabled
    previous, _saving_enabled = _saving_enabled, False
    try:
        yield
    finally:
        _saving_enabled = previous


class Parameter:
    """A trainable tensor and the gradient accumulated for it.

    ``data`` holds the value; ``grad`` (same shape and dtype) starts at zero, is *added to* by every
    backward call, and is reset by ``zero_grad``.
    """

    def __init__(self, data):
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"Parameter expects a torch.Tensor, got {type(data).__name__}.")
        self.data = data.detach()
        self.grad = torch.zeros_like(self.data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def zero_grad(self):
        self.grad.zero_()

    def to(self, dtype):
        self.data = self.data.to(dtype)
        self.grad = self.grad.to(dtype)
        return self

    def __repr__(self):
        return f"Parameter(shape={tuple(self.shape)}, dtype={self.dtype})"


def _checking_grad_output(backward):
    """Wrap a Module subclass's backward so that a grad_output whose shape differs from what the matching
    forward call returned is refused, instead of broadcasting silently into a wrong gradient."""

    @functools.wraps(backward)
    def checked_backward(self, grad_output=None, *args, **kwargs):
        saved = self.__dict__.get("_saved")
        expected = saved[-1][1] if saved else None  # None: forward returned no tensor
        if expected is not None and grad_output is not None and not _fits(grad_output, expected):
            given = tuple(grad_output.shape) if isinstance(grad_output, torch.Tensor) else type(grad_output).__name__
            raise ValueError(
                f"{type(self).__name__}.backward expects grad_output of the shape its forward returned, "
                f"{tuple(expected)}; got {given}. Pass d loss / d output, what the next module's backward "
                "(or the loss's backward()) returned."
            )
        if grad_output is None:
            return backward(self, *args, **kwargs)
        return backward(self, grad_output, *args, **kwargs)

    return checked_backward


def _recording_output_shape(forward):
    """Wrap a Module subclass's forward so that the shape of what it returns is kept with what this call
    saved for backward, however forward is called (``module(x)`` or ``module.forward(x)``)."""

    @functools.wraps(forward)
    def recorded_forward(self, *args, **kwargs):
        pending = len(self.__dict__.get("_saved", ()))
        output = forward(self, *args, **kwargs)
        saved = self.__dict__.get("_saved", ())
        if len(saved) == pending + 1 and isinstance(output, torch.Tensor):
            saved[-1] = (saved[-1][0], output.shape)  # what this call's backward must receive
        return output

    return recorded_forward


def _fits(grad_output, shape):
    """Whether grad_output can be the gradient of an output of ``shape``: a tensor of that shape, or, for a
    single number such as a loss, any one number."""
    if isinstance(grad_output, torch.Tensor):
        return grad_output.shape == shape or (shape == () and grad_output.numel() == 1)
    return shape == () and isinstance(grad_output, (int, float))


class Module:
    """Base class of every layer, loss and container.

    Subclasses implement ``forward(input)`` and ``backward(grad_output) -> grad_input``. Attributes
    that are Parameters or Modules are found automatically by ``parameters()``, ``state_dict()``,
    ``zero_grad()`` and ``to()``, as in torch.nn.Module. Every subclass's ``backward`` refuses a
    grad_output whose shape differs from what the matching forward call returned.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in vars(cls):
            cls.forward = _recording_output_shape(vars(cls)["forward"])
        if "backward" in vars(cls):
            cls.backward = _checking_grad_output(vars(cls)["backward"])

    def __call__(self, *inputs):
        # Student code never needs autograd; turning it off also catches tensors that carry a graph.
        with torch.no_grad():
            output = self.forward(*inputs)  # forward records the output's shape (see _recording_output_shape)
        return output

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward().")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} does not define backward().")

    # --- saving what backward needs --------------------------------------------------------

    def save_for_backward(self, *values):
        """Push the values this forward call's backward will need (one stack entry per call)."""
        if _saving_enabled:
            # (values, output shape): the wrapped forward fills in the shape once it has returned.
            self.__dict__.setdefault("_saved", []).append((values, None))

    def saved_for_backward(self):
        """Pop the values saved by the most recent forward call that has not had its backward yet."""
        saved = self.__dict__.get("_saved")
        if not saved:
            raise RuntimeError(
                f"{type(self).__name__}.backward was called without a matching forward: every "
                "backward call needs its own earlier forward call (and none inside nn.no_grad()). "
                "Run the forward pass again, then call backward once per forward call, in reverse order."
            )
        values, _ = saved.pop()
        return values[0] if len(values) == 1 else values

    def clear_saved(self):
        """Forget every pending forward call of this module and its children."""
        for module in self.modules():
            module.__dict__.pop("_saved", None)

    # --- children and parameters -----------------------------------------------------------

    def named_children(self):
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self):
        return (module for _, module in self.named_children())

    def modules(self):
        """This module and every module inside it, each once."""
        seen = set()
        stack = [self]
        while stack:
            module = stack.pop(0)
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield module
            stack.extend(module.children())

    def named_parameters(self, prefix=""):
        """(name, Parameter) pairs in definition order, with torch's dotted names; shared ones once."""
        seen = set()
        for name, parameter in self._all_named_parameters(prefix):
            if id(parameter) not in seen:
                seen.add(id(parameter))
                yield name, parameter

    def _all_named_parameters(self, prefix):
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child._all_named_parameters(f"{prefix}{name}.")

    def parameters(self):
        return [parameter for _, parameter in self.named_parameters()]

    def zero_grad(self):
        for parameter in self.parameters():
            parameter.zero_grad()

    def to(self, dtype):
        """Convert every parameter (and its gradient) to ``dtype``; returns self, like torch."""
        if not isinstance(dtype, torch.dtype):
            raise TypeError(f"to() expects a torch dtype such as torch.float64, got {dtype!r}.")
        for parameter in self.parameters():
            parameter.to(dtype)
        self.clear_saved()
        return self

    def double(self):
        return self.to(torch.float64)

    def float(self):
        return self.to(torch.float32)

    # --- saving and loading weights --------------------------------------------------------

    def state_dict(self):
        """Parameter values by torch's names; torch.nn twins of course_lib models accept it.

        As in torch, a parameter shared by two children appears under each of its names.
        """
        return OrderedDict((name, p.data.clone()) for name, p in self._all_named_parameters(""))

    def load_state_dict(self, state_dict):
        """Copy values in place (from a course_lib or a torch state dict with the same names)."""
        own = dict(self._all_named_parameters(""))
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        if missing or unexpected:
            raise KeyError(
                f"load_state_dict: names do not match {type(self).__name__}'s parameters "
                f"(missing: {missing or 'none'}; unexpected: {unexpected or 'none'}). "
                f"Expected exactly: {sorted(own)}."
            )
        for name, parameter in own.items():
            value = state_dict[name]
            if tuple(value.shape) != tuple(parameter.shape):
                raise ValueError(
                    f"load_state_dict: {name} has shape {tuple(value.shape)}, "
                    f"but {type(self).__name__} expects {tuple(parameter.shape)}."
                )
            parameter.data.copy_(value.detach())

    # --- printing --------------------------------------------------------------------------

    def extra_repr(self):
        return ""

    def __repr__(self):
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(")")
        return "\n".join(lines)


def check_input(module, input, expected_layout, channels=None):
    """Raise a clear error unless ``input`` is a floating tensor laid out as ``expected_layout``.

    ``expected_layout`` names the dimensions, e.g. ``"(N, C, H, W)"``; a leading ``*`` stands for any
    number of dimensions and a number for a size that dimension must have (``"(*, 4)"``). ``channels``
    is the size dimension 1 must have, if fixed. Example message: ``Conv2d(3, 8, ...) expects input
    (N, 3, H, W), got (3, 32, 32)``.
    """
    dims = [d.strip() for d in expected_layout.strip("()").split(",")]
    if channels is not None:
        dims[1] = str(channels)
    wanted = f"({', '.join(dims)})"
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{module!r} expects a torch.Tensor {wanted}, got {type(input).__name__}.")
    if not input.is_floating_point():
        raise TypeError(
            f"{module!r} expects a floating-point tensor {wanted}, got dtype {input.dtype}; "
            "convert it with .float() or .double()."
        )
    any_leading = dims[0] == "*"
    named = dims[1:] if any_leading else dims
    rank_ok = input.dim() >= len(named) if any_leading else input.dim() == len(named)
    sizes_ok = all(not name.isdigit() or int(name) == size
                   for name, size in zip(reversed(named), reversed(input.shape)))
    if not (rank_ok and sizes_ok):
        raise ValueError(f"{module!r} expects input {wanted}, got {tuple(input.shape)}.")


def refuse_unsupported(who, **arguments):
    """Raise a clear ValueError for a torch argument this course does not implement.

    arguments: {name: (value, supported)}, ``supported`` a tuple of the accepted values (equal and of the
    same type: True is not 1). Example message: ``Conv2d supports only groups=1; got groups=2.``
    A ``device`` is compared by its type ("cpu").
    """
    for name, (value, supported) in arguments.items():
        if name == "device" and value is not None and not isinstance(value, bool):
            try:
                value = torch.device(value).type
            except (RuntimeError, TypeError):
                pass
        if not any(value == accepted and type(value) is type(accepted) or value is accepted
                   for accepted in supported):
            accepted = " or ".join(f"{name}={option!r}" for option in supported)
            raise ValueError(f"{who} supports only {accepted}; got {name}={value!r}.")


def uniform_parameter(shape, bound):
    """A Parameter drawn from U(-bound, bound), the way torch.nn initialises its layers by default."""
    return Parameter(torch.empty(shape).uniform_(-bound, bound))
