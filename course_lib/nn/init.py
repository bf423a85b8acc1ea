"""Weight initialisation, as torch.nn.init: Xavier (Glorot) and Kaiming (He), uniform and normal, and zeros.

The idea behind both: choose the spread of the weights so that the variance of the signal stays
about the same from layer to layer. A layer sums ``fan_in`` products, so weights of standard
deviation ``gain / sqrt(fan)`` keep it steady; ``gain`` makes up for what the nonlinearity removes
(ReLU zeroes half the signal, hence sqrt(2)). A uniform U(-bound, bound) has std bound / sqrt(3).

Every function fills its argument in place (a torch.Tensor, or a Parameter's ``.data``) and
returns it, like torch's.
"""

import math

import torch

from course_lib.nn.module import Parameter


def calculate_gain(nonlinearity, param=None):
    """The gain torch recommends for ``nonlinearity``; ``param`` is LeakyReLU's negative slope (0.01)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        negative_slope = 0.01 if param is None else param
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)):
            raise ValueError(f"calculate_gain: negative slope {negative_slope!r} is not a number.")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of linear, conv1d, conv2d, "
        "conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d, sigmoid, tanh, relu, leaky_relu, selu."
    )


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight tensor as torch counts them.

    tensor: (out_features, in_features) for Linear, (C_out, C_in, kH, kW) for Conv2d
    Each output sums in_features * kH * kW products: fan_in = size(1) * receptive field;
    fan_out = size(0) * receptive field.
    """
    if tensor.dim() < 2:
        raise ValueError(
            f"fan_in and fan_out need a weight tensor with at least 2 dimensions, got shape "
            f"{tuple(tensor.shape)}; a bias is usually initialised with zeros_ instead."
        )
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode):
    """fan_in or fan_out of ``tensor``, whichever ``mode`` names."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f'mode must be "fan_in" or "fan_out", got {mode!r}.')
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _values(tensor):
    """The torch.Tensor to fill in place: ``tensor`` itself, or a Parameter's ``.data``."""
    values = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"init functions expect a torch.Tensor or a Parameter, got {type(tensor).__name__}.")
    if not values.is_floating_point():
        raise TypeError(f"init functions fill floating-point tensors, got dtype {values.dtype}.")
    # detach() shares the storage, so filling it fills tensor, even one that requires grad.
    return values.detach()


def xavier_uniform_(tensor, gain=1.0):
    """Fill with U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)).

    tensor: (out_features, in_features, *kernel_size), a torch.Tensor or a Parameter
    """
    values = _values(tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(values)
    ### BEGIN SOLUTION
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    values.uniform_(-bound, bound)
    ### END SOLUTION
    return tensor


def xavier_normal_(tensor, gain=1.0):
    """Fill with N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out)).

    tensor: (out_features, in_features, *kernel_size), a torch.Tensor or a Parameter
    """
    values = _values(tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(values)
    ### BEGIN SOLUTION
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    values.normal_(0, std)
    ### END SOLUTION
    return tensor


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """Fill with U(-bound, bound), bound = gain * sqrt(3 / fan).

    tensor: (out_features, in_features, *kernel_size), a torch.Tensor or a Parameter
    a: negative slope of the LeakyReLU that follows (0 means ReLU)
    mode: "fan_in" keeps the forward signal's variance, "fan_out" the backward gradient's
    nonlinearity: gives gain = calculate_gain(nonlinearity, a)
    """
    values = _values(tensor)
    fan = _calculate_correct_fan(values, mode)
    gain = calculate_gain(nonlinearity, a)
    ### BEGIN SOLUTION
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    values.uniform_(-bound, bound)
    ### END SOLUTION
    return tensor


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """Fill with N(0, std**2), std = gain / sqrt(fan).

    tensor: (out_features, in_features, *kernel_size), a torch.Tensor or a Parameter
    a, mode, nonlinearity: as in kaiming_uniform_
    """
    values = _values(tensor)
    fan = _calculate_correct_fan(values, mode)
    gain = calculate_gain(nonlinearity, a)
    ### BEGIN SOLUTION
    std = gain / math.sqrt(fan)
    values.normal_(0, std)
    ### END SOLUTION
    return tensor


def zeros_(tensor):
    """Fill with zeros (the usual start for a bias).

    tensor: any shape, a torch.Tensor or a Parameter
    """
    values = _values(tensor)
    ### BEGIN SOLUTION
    values.zero_()
    ### END SOLUTION
    return tensor
