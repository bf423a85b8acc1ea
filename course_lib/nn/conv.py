"""Convolution as matrix multiplication: unfold, fold, Conv2d, ConvTranspose2d and Upsample (as in torch.nn).

``unfold`` cuts every kernel-sized patch out of a (zero-padded) image and lays it out as one column;
a convolution is then a single matrix product of the flattened weights with those columns.
``fold`` is unfold's adjoint: it puts columns back as patches and *adds* where patches overlap.
So the backward of a convolution is a matrix product followed by fold, and a transposed convolution
is exactly that backward used as a forward pass (matrix product, then fold); its own backward uses
unfold.

Sizes along one dimension (rows; columns alike): a kernel of size k with dilation d spans
``d * (k - 1) + 1`` pixels (its extent), and slides over the padded image ``H + 2 * padding`` in steps
of ``stride``, which gives ``(H + 2 * padding - d * (k - 1) - 1) // stride + 1`` positions.
"""

import math

import torch

from course_lib.nn.module import Module, check_input, refuse_unsupported, uniform_parameter


def _pair(value, name, who, minimum):
    """``(value, value)`` for an int, the pair itself for a pair of ints, each at least ``minimum``."""
    pair = (value, value) if isinstance(value, int) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in pair)):
        kind = "positive integer" if minimum == 1 else "non-negative integer"
        raise ValueError(f"{who} expects {name} to be a {kind} or a pair of them, got {value!r}.")
    return tuple(pair)


class _Call(str):
    """A function call written out, e.g. ``unfold(kernel_size=(3, 3), ...)``.

    check_input names its first argument with repr(); for a plain function that should read like the
    call, without the quotes a str's repr would add.
    """

    def __repr__(self):
        return str(self)


def _sliding_positions(who, size, kernel_size, dilation, padding, stride, image="input"):
    """(H_out, W_out): how many positions a dilated kernel takes as it slides over the padded image.

    size, kernel_size, dilation, padding, stride: pairs (rows, columns)
    ``image`` names the image in the error message (the input of a convolution, fold's output_size).
    """
    extent = [d * (k - 1) + 1 for k, d in zip(kernel_size, dilation)]
    padded = [s + 2 * p for s, p in zip(size, padding)]
    if extent[0] > padded[0] or extent[1] > padded[1]:
        raise ValueError(
            f"{who}: kernel extent {extent[0]}x{extent[1]} does not fit in the padded {image} "
            f"{padded[0]}x{padded[1]} ({image} {size[0]}x{size[1]}, padding {tuple(padding)}; extent = "
            f"dilation * (kernel_size - 1) + 1). Use a smaller kernel_size or dilation, more padding, or a "
            f"larger {image}."
        )
    return tuple((p - e) // s + 1 for p, e, s in zip(padded, extent, stride))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Every kernel-sized patch of the zero-padded input as one column (im2col), as torch.nn.functional.unfold.

    input: (N, C, H, W)
    kernel_size, dilation, stride: int or pair of ints, at least 1; padding: int or pair, at least 0
    returns columns: (N, C * kh * kw, L) with L = H_out * W_out patch positions, row-major over the
    output grid. Row ``c * kh * kw + i * kw + j`` of a column holds channel c at kernel offset (i, j),
    i.e. padded pixel (y * stride_h + i * dilation_h, x * stride_w + j * dilation_w) for patch (y, x).
    """
    kernel_size = _pair(kernel_size, "kernel_size", "unfold", 1)
    dilation = _pair(dilation, "dilation", "unfold", 1)
    padding = _pair(padding, "padding", "unfold", 0)
    stride = _pair(stride, "stride", "unfold", 1)
    call = _Call(f"unfold(kernel_size={kernel_size}, dilation={dilation}, padding={padding}, stride={stride})")
    check_input(call, input, "(N, C, H, W)")
    out_h, out_w = _sliding_positions(call, input.shape[2:], kernel_size, dilation, padding, stride)
    ### BEGIN SOLUTION
    N, C, H, W = input.shape
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel_size, dilation, padding, stride
    padded_h, padded_w = H + 2 * ph, W + 2 * pw
    # The padded image with the samples as its last dimension in memory, (C, padded_h, padded_w, N): the N
    # samples of a pixel sit side by side, so the copy below moves runs of N numbers or more, and the columns
    # of the whole batch come out as one (C * kh * kw, L * N) matrix, which a convolution multiplies in one
    # large matrix product instead of N small ones.
    padded = input.new_zeros(C, padded_h, padded_w, N)
    padded[:, ph:ph + H, pw:pw + W] = input.permute(1, 2, 3, 0)
    # Patch (y, x) reads padded[c, y * sh + i * dh, x * sw + j * dw, n] at kernel offset (i, j). In memory a
    # column is a step of N elements, a row of padded_w * N and a channel of one plane, so all patches are
    # one strided view (C, kh, kw, out_h, out_w, N) of it, copied once by reshape.
    column, row, plane = N, padded_w * N, padded_h * padded_w * N
    patches = padded.as_strided((C, kh, kw, out_h, out_w, N),
                                (plane, dh * row, dw * column, sh * row, sw * column, 1))
    columns = patches.reshape(C * kh * kw, out_h * out_w, N)
    return columns.permute(2, 0, 1)  # torch's layout (N, C * kh * kw, L), as a view: no copy
    ### END SOLUTION


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Put columns back as patches, summing where they overlap (col2im), as torch.nn.functional.fold.

    fold is the adjoint of unfold: fold(unfold(x)) counts every pixel once per patch that contains it,
    and fold is exactly what carries a gradient from unfold's columns back to its input.
    input: (N, C * kh * kw, L), laid out as unfold lays out its columns
    output_size: (H, W) of the result (int or pair); L must be the number of patch positions in it
    kernel_size, dilation, stride: int or pair of ints, at least 1; padding: int or pair, at least 0
    returns output: (N, C, H, W)
    """
    output_size = _pair(output_size, "output_size", "fold", 1)
    kernel_size = _pair(kernel_size, "kernel_size", "fold", 1)
    dilation = _pair(dilation, "dilation", "fold", 1)
    padding = _pair(padding, "padding", "fold", 0)
    stride = _pair(stride, "stride", "fold", 1)
    call = _Call(f"fold(output_size={output_size}, kernel_size={kernel_size}, dilation={dilation}, "
                 f"padding={padding}, stride={stride})")
    check_input(call, input, "(N, C * kh * kw, L)")
    patch = kernel_size[0] * kernel_size[1]
    if input.shape[1] % patch:
        raise ValueError(
            f"{call} expects input (N, C * {patch}, L), whose dimension 1 is a multiple of "
            f"kh * kw = {patch}; got {tuple(input.shape)}."
        )
    out_h, out_w = _sliding_positions(call, output_size, kernel_size, dilation, padding, stride,
                                      image="output_size")
    if input.shape[2] != out_h * out_w:
        raise ValueError(
            f"{call}: output_size {output_size} holds {out_h} x {out_w} = {out_h * out_w} patch positions, "
            f"so input must be (N, C * {patch}, {out_h * out_w}); got {tuple(input.shape)}. "
            "Pass the output_size of the image the columns came from."
        )
    ### BEGIN SOLUTION
    N, C = input.shape[0], input.shape[1] // patch
    (H, W), (kh, kw), (dh, dw), (ph, pw), (sh, sw) = output_size, kernel_size, dilation, padding, stride
    patches = input.reshape(N, C, kh, kw, out_h, out_w)
    # The samples as the last dimension in memory, as unfold lays out its columns: each addition below then
    # moves runs of N neighbouring numbers, where a stride would leave it single ones.
    padded = input.new_zeros(C, H + 2 * ph, W + 2 * pw, N).permute(3, 0, 1, 2)
    for i in range(kh):
        for j in range(kw):
            # add_ adds in place into the slice; `+=` would then also copy the slice onto itself.
            padded[:, :, i * dh:i * dh + sh * out_h:sh, j * dw:j * dw + sw * out_w:sw].add_(patches[:, :, i, j])
    return padded[:, :, ph:ph + H, pw:pw + W]
    ### END SOLUTION


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: arguments as pairs, torch's default init, checks and repr."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding,
                 groups, bias, padding_mode, device, dtype, transposed):
        name = type(self).__name__
        refuse_unsupported(name, groups=(groups, (1,)), padding_mode=(padding_mode, ("zeros",)),
                           device=(device, (None, "cpu")), dtype=(dtype, (None, torch.float32)))
        for argument, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
                raise ValueError(f"{name} expects a positive integer {argument}, got {channels!r}.")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size", name, 1)
        self.stride = _pair(stride, "stride", name, 1)
        self.padding = _pair(padding, "padding", name, 0)
        self.dilation = _pair(dilation, "dilation", name, 1)
        self.output_padding = _pair(output_padding, "output_padding", name, 0)
        # The extra rows/columns output_padding adds must lie within one step of the kernel.
        if any(o >= max(s, d) for o, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(
                f"{name} expects output_padding smaller than stride or dilation (in each dimension), got "
                f"output_padding={self.output_padding} with stride={self.stride}, dilation={self.dilation}."
            )
        kh, kw = self.kernel_size
        shape = (in_channels, out_channels, kh, kw) if transposed else (out_channels, in_channels, kh, kw)
        # torch's default init (kaiming_uniform_ with a=sqrt(5)) amounts to U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        # with fan_in = weight.size(1) * kh * kw: in_channels for Conv2d, out_channels for ConvTranspose2d.
        bound = 1 / math.sqrt(shape[1] * kh * kw)
        self.weight = uniform_parameter(shape, bound)
        self.bias = uniform_parameter((out_channels,), bound) if bias else None

    def _check_input(self, input):
        check_input(self, input, "(N, C, H, W)", channels=self.in_channels)
        if input.dtype != self.weight.dtype:
            raise TypeError(
                f"{self!r} has {self.weight.dtype} parameters but got a {input.dtype} input; convert one "
                f"of them, e.g. input.to({self.weight.dtype}) or layer.to({input.dtype})."
            )

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """2-d convolution (cross-correlation, as in torch.nn.Conv2d), computed as one matmul on unfold's columns.

    output[n, o, y, x] = bias[o] + sum over c, i, j of
        weight[o, c, i, j] * padded_input[n, c, y * stride_h + i * dilation_h, x * stride_w + j * dilation_w]
    weight: (out_channels, in_channels, kh, kw)
    bias: (out_channels,), or None when bias=False
    Both start as U(-1/sqrt(in_channels * kh * kw), +1/sqrt(...)), drawn as torch.nn.Conv2d draws them
    (weight first, then bias), so the same torch.manual_seed gives the same layer.
    kernel_size, stride, padding, dilation: int or pair (rows, columns).
    torch's signature, in torch's order; groups (1), padding_mode ("zeros"), device (None or "cpu") and
    dtype (None: float32; convert with .to(dtype) afterwards) accept only the value given, and refuse
    others with a ValueError naming the argument.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0, groups, bias,
                         padding_mode, device, dtype, transposed=False)

    def forward(self, input):
        """
        input: (N, in_channels, H, W)
        returns output: (N, out_channels, H_out, W_out),
            H_out = (H + 2 * padding_h - dilation_h * (kh - 1) - 1) // stride_h + 1, W_out alike
        """
        self._check_input(input)
        out_h, out_w = _sliding_positions(self, input.shape[2:], self.kernel_size, self.dilation,
                                          self.padding, self.stride)
        ### BEGIN SOLUTION
        N, _, H, W = input.shape
        columns = unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)  # (N, in kh kw, L)
        # The columns of the whole batch as one matrix, (in * kh * kw, L * N) with the samples innermost: one
        # large matrix product for all samples. (Our unfold keeps them in this order, so this is a view.)
        column_matrix = columns.permute(1, 2, 0).flatten(1)
        self.save_for_backward(column_matrix, (H, W))
        # (out, in * kh * kw) @ (in * kh * kw, L * N): every output pixel is one row-column dot product.
        output = self.weight.data.reshape(self.out_channels, -1) @ column_matrix
        if self.bias is not None:
            output += self.bias.data[:, None]
        # (out, L * N) is (out, H_out, W_out, N); the result is its (N, out, H_out, W_out) view.
        return output.reshape(self.out_channels, out_h, out_w, N).permute(3, 0, 1, 2)
        ### END SOLUTION

    def backward(self, grad_output):
        """
        grad_output: (N, out_channels, H_out, W_out)
        returns grad_input: (N, in_channels, H, W)
        Adds d loss / d weight (out_channels, in_channels, kh, kw) to weight.grad and
        d loss / d bias (out_channels,) to bias.grad.
        """
        ### BEGIN SOLUTION
        column_matrix, (H, W) = self.saved_for_backward()
        N, _, out_h, out_w = grad_output.shape
        grad_matrix = grad_output.permute(1, 2, 3, 0).flatten(1)  # (out, L * N), ordered as forward's output
        # The same weights act at every patch position of every sample: one product sums over both.
        self.weight.grad += (grad_matrix @ column_matrix.T).reshape(self.weight.shape)
        if self.bias is not None:
            self.bias.grad += grad_matrix.sum(dim=1)
        (kh, kw), (dh, dw), (ph, pw) = self.kernel_size, self.dilation, self.padding
        margin = (dh * (kh - 1) - ph, dw * (kw - 1) - pw)
        if self.stride == (1, 1) and min(margin) >= 0 and self.out_channels < self.in_channels:
            # The second view of the same gradient: with stride 1 it is a convolution of grad_output, padded
            # by margin, with the kernel flipped and its channels swapped. It unfolds out * kh * kw rows where
            # fold would add in * kh * kw, so it is the cheaper view when the layer narrows the channels.
            flipped = self.weight.data.flip(2, 3).transpose(0, 1).reshape(self.in_channels, -1)
            grad_columns = unfold(grad_output, self.kernel_size, self.dilation, margin)  # (N, out kh kw, H W)
            grad_input = flipped @ grad_columns.permute(1, 2, 0).flatten(1)  # (in, H * W * N)
            return grad_input.reshape(self.in_channels, H, W, N).permute(3, 0, 1, 2)
        grad_columns = self.weight.data.reshape(self.out_channels, -1).T @ grad_matrix  # (in kh kw, L * N)
        # A pixel inside several patches collects the gradient of each: fold adds the overlaps.
        return fold(grad_columns.unflatten(1, (out_h * out_w, N)).permute(2, 0, 1), (H, W), self.kernel_size,
                    self.dilation, self.padding, self.stride)
        ### END SOLUTION


def _transposed_output_size(module, size):
    """(H_out, W_out) of a ConvTranspose2d for an input of spatial ``size`` (H, W).

    H_out = (H - 1) * stride_h - 2 * padding_h + dilation_h * (kh - 1) + output_padding_h + 1, W_out alike:
    the size of the input a Conv2d with the same arguments would map to (H, W).
    """
    output_size = tuple(
        (s - 1) * stride - 2 * padding + dilation * (k - 1) + extra + 1
        for s, k, stride, padding, dilation, extra in zip(size, module.kernel_size, module.stride,
                                                           module.padding, module.dilation,
                                                           module.output_padding))
    if min(output_size) < 1:
        raise ValueError(
            f"{module!r}: an input of {size[0]}x{size[1]} would give an output of "
            f"{output_size[0]}x{output_size[1]}, because padding {module.padding} crops more than the "
            "layer produces. Use less padding or a larger input."
        )
    return output_size


class ConvTranspose2d(_ConvNd):
    """2-d transposed convolution, as torch.nn.ConvTranspose2d: the backward of a Conv2d used as a forward.

    Each input pixel adds a copy of its weights, scaled by its value, to the output (matmul, then fold);
    the output is the size of the input a Conv2d with the same arguments would map to this layer's input.
    weight: (in_channels, out_channels, kh, kw), as torch stores it
    bias: (out_channels,), or None when bias=False
    Both start as U(-1/sqrt(out_channels * kh * kw), +1/sqrt(...)), drawn as torch draws them (torch
    counts fan_in from weight.size(1), which is out_channels here).
    kernel_size, stride, padding, output_padding, dilation: int or pair (rows, columns);
    output_padding adds rows/columns at the bottom/right and must be smaller than stride or dilation.
    When it is not smaller than stride (allowed if dilation is larger), the output holds more kernel
    positions than the input has pixels, and fold/unfold count those extra positions too (at the
    bottom/right of the grid of positions; nothing lands there).
    torch's signature, in torch's order (dilation after bias); groups (1), padding_mode ("zeros"),
    device (None or "cpu") and dtype (None: float32) accept only the value given, and refuse others with
    a ValueError naming the argument.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, groups,
                         bias, padding_mode, device, dtype, transposed=True)

    def forward(self, input):
        """
        input: (N, in_channels, H, W)
        returns output: (N, out_channels, H_out, W_out),
            H_out = (H - 1) * stride_h - 2 * padding_h + dilation_h * (kh - 1) + output_padding_h + 1,
            W_out alike
        """
        self._check_input(input)
        out_h, out_w = _transposed_output_size(self, input.shape[2:])
        ### BEGIN SOLUTION
        N, _, H, W = input.shape
        # fold wants a column for every kernel position of the output, including the extra ones
        # output_padding >= stride creates (see the class docstring): zero pixels there give zero columns.
        grid_h, grid_w = _sliding_positions(self, (out_h, out_w), self.kernel_size, self.dilation,
                                            self.padding, self.stride)
        # The samples as the last dimension, as unfold lays out its columns, so that the pixels of the whole
        # batch are one (in, grid_h * grid_w * N) matrix: one large matrix product instead of N small ones.
        grid = input.new_zeros(self.in_channels, grid_h, grid_w, N)
        grid[:, :H, :W] = input.permute(1, 2, 3, 0)
        self.save_for_backward(grid, (H, W))
        # (in, out * kh * kw).T @ (in, grid_h * grid_w * N): one column of weights per input pixel.
        columns = self.weight.data.reshape(self.in_channels, -1).T @ grid.flatten(1)
        output = fold(columns.unflatten(1, (grid_h * grid_w, N)).permute(2, 0, 1), (out_h, out_w),
                      self.kernel_size, self.dilation, self.padding, self.stride)
        if self.bias is not None:
            output += self.bias.data[:, None, None]
        return output
        ### END SOLUTION

    def backward(self, grad_output):
        """
        grad_output: (N, out_channels, H_out, W_out)
        returns grad_input: (N, in_channels, H, W)
        Adds d loss / d weight (in_channels, out_channels, kh, kw) to weight.grad and
        d loss / d bias (out_channels,) to bias.grad.
        """
        ### BEGIN SOLUTION
        grid, (H, W) = self.saved_for_backward()
        # Each input pixel's weights landed on one patch of the output: unfold gathers those patches back,
        # one column per pixel of the grid (the input and forward's zero pixels).
        grad_columns = unfold(grad_output, self.kernel_size, self.dilation, self.padding, self.stride)
        grad_matrix = grad_columns.permute(1, 2, 0).flatten(1)  # (out * kh * kw, grid_h * grid_w * N)
        # Forward multiplied the pixels by weight.reshape(in, -1).T: as for any matrix product, that factor's
        # gradient is grad_matrix @ pixels.T, (out * kh * kw, in), transposed back to the weight's layout.
        self.weight.grad += (grad_matrix @ grid.flatten(1).T).T.reshape(self.weight.shape)
        if self.bias is not None:
            self.bias.grad += grad_output.sum(dim=(0, 2, 3))
        grad_grid = self.weight.data.reshape(self.in_channels, -1) @ grad_matrix  # (in, grid_h * grid_w * N)
        # Only the input's own pixels, the top-left H x W of the grid, have a gradient to return.
        return grad_grid.reshape(grid.shape)[:, :H, :W].permute(3, 0, 1, 2)
        ### END SOLUTION


class Upsample(Module):
    """Nearest-neighbour upsampling by integer factors, as torch.nn.Upsample(scale_factor=s, mode="nearest").

    Every pixel becomes an s_h x s_w block of copies of itself. Only this case is supported: an integer
    scale_factor (int or pair of ints) and mode "nearest"; size, fractional factors and other modes
    raise a ValueError.
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        refuse_unsupported("Upsample", align_corners=(align_corners, (None,)),
                           recompute_scale_factor=(recompute_scale_factor, (None,)))
        supported = ('Upsample supports only an integer scale_factor (int or pair of ints) with '
                     'mode="nearest", e.g. Upsample(scale_factor=2)')
        if size is not None:
            raise ValueError(f"{supported}; got size={size!r}. Give the factor instead of the output size.")
        if mode != "nearest":
            raise ValueError(f"{supported}; got mode={mode!r}.")
        factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
        # torch stores factors as floats (2.0); a whole-number float is accepted and kept as an int.
        if (len(factors) != 2
                or any(isinstance(f, bool) or not isinstance(f, (int, float)) or f < 1
                       or not float(f).is_integer() for f in factors)):
            raise ValueError(f"{supported}; got scale_factor={scale_factor!r}.")
        self.scale_factor = tuple(int(f) for f in factors)

    def forward(self, input):
        """
        input: (N, C, H, W)
        returns output: (N, C, H * s_h, W * s_w), output[n, c, y, x] = input[n, c, y // s_h, x // s_w]
        """
        check_input(self, input, "(N, C, H, W)")
        ### BEGIN SOLUTION
        N, C, H, W = input.shape
        sh, sw = self.scale_factor
        self.save_for_backward(input.shape)
        blocks = input[:, :, :, None, :, None].expand(N, C, H, sh, W, sw)
        return blocks.reshape(N, C, H * sh, W * sw)
        ### END SOLUTION

    def backward(self, grad_output):
        """
        grad_output: (N, C, H * s_h, W * s_w)
        returns grad_input: (N, C, H, W)
        """
        ### BEGIN SOLUTION
        N, C, H, W = self.saved_for_backward()
        sh, sw = self.scale_factor
        # Each input pixel was copied into a whole block, so it collects the sum of that block's gradients.
        return grad_output.reshape(N, C, H, sh, W, sw).sum(dim=(3, 5))
        ### END SOLUTION

    def extra_repr(self):
        sh, sw = self.scale_factor
        factor = sh if sh == sw else self.scale_factor
        return f"scale_factor={factor}, mode='nearest'"
