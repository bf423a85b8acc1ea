"""The course's reference solutions with one speed lever undone at a time, for benchmarks/run.py (not a test).

Each variant computes exactly what the reference computes (tests/test_benchmark_levers.py checks them
against autograd); only the way differs:

- ``BatchedConv2d``, ``BatchedConvTranspose2d``: columns in torch's (N, C * kh * kw, L) layout and a batch of
  N small matrix products, where the reference lays all samples' columns out as one (C * kh * kw, L * N)
  matrix and multiplies once (the solutions before this lever, unfold and fold included).
- ``FoldOnlyConv2d``: Conv2d's input gradient always by fold, where the reference takes the second view
  (an unfold of grad_output with the flipped kernel) for stride-1 layers that narrow the channels.
- ``BlockFoldConvTranspose2d``: ConvTranspose2d's fold in (k / s)^2 passes of s x s blocks instead of kh * kw
  passes, possible when the stride divides the kernel (the capstone's 4 / 2).
- ``PassesLeakyReLU``: LeakyReLU with a new tensor at every step (clamp, clamp, multiply, add; a float mask
  from a comparison), where the reference makes two passes forward and three in place backward.
- ``FormulaAdam``: Adam written formula by formula, each making a new tensor, where the reference updates
  its averages in place (on the capstone's small parameters, each operation costs more than its arithmetic).

``LEVERS`` lists them as ``Lever``s for benchmarks/run.py.
"""

from dataclasses import dataclass, field
from types import SimpleNamespace


from course_lib import nn, optim
from course_lib.nn.conv import _sliding_positions, _transposed_output_size


def unfold_batch_first(input, kernel_size, dilation, padding, stride):
    """unfold with its columns contiguous in torch's layout: input (N, C, H, W) -> (N, C * kh * kw, L)."""
    N, C, H, W = input.shape
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel_size, dilation, padding, stride
    out_h, out_w = _sliding_positions("unfold", (H, W), kernel_size, dilation, padding, stride)
    padded = input.new_zeros(N, C, H + 2 * ph, W + 2 * pw)
    padded[:, :, ph:ph + H, pw:pw + W] = input
    plane, row = padded.shape[2] * padded.shape[3], padded.shape[3]
    patches = padded.as_strided((N, C, kh, kw, out_h, out_w), (C * plane, plane, dh * row, dw, sh * row, sw))
    return patches.reshape(N, C * kh * kw, out_h * out_w)


def fold_batch_first(input, output_size, kernel_size, dilation, padding, stride):
    """fold into a contiguous (N, C, H, W) image: input (N, C * kh * kw, L) -> (N, C, H, W)."""
    (H, W), (kh, kw), (dh, dw), (ph, pw), (sh, sw) = output_size, kernel_size, dilation, padding, stride
    out_h, out_w = _sliding_positions("fold", output_size, kernel_size, dilation, padding, stride)
    N, C = input.shape[0], input.shape[1] // (kh * kw)
    patches = input.reshape(N, C, kh, kw, out_h, out_w)
    padded = input.new_zeros(N, C, H + 2 * ph, W + 2 * pw)
    for i in range(kh):
        for j in range(kw):
            padded[:, :, i * dh:i * dh + sh * out_h:sh, j * dw:j * dw + sw * out_w:sw] += patches[:, :, i, j]
    return padded[:, :, ph:ph + H, pw:pw + W]


def geometry(layer):
    return layer.kernel_size, layer.dilation, layer.padding, layer.stride


class BatchedConv2d(nn.Conv2d):
    """Conv2d with N small matrix products on (N, in * kh * kw, L) columns."""

    def forward(self, input):
        """input: (N, in, H, W); returns (N, out, H_out, W_out)."""
        self._check_input(input)
        out_h, out_w = _sliding_positions(self, input.shape[2:], *geometry(self))
        columns = unfold_batch_first(input, *geometry(self))
        self.save_for_backward(columns, tuple(input.shape[2:]))
        output = self.weight.data.reshape(self.out_channels, -1) @ columns
        if self.bias is not None:
            output += self.bias.data[:, None]
        return output.reshape(input.shape[0], self.out_channels, out_h, out_w)

    def backward(self, grad_output):
        """grad_output: (N, out, H_out, W_out); returns (N, in, H, W)."""
        columns, input_size = self.saved_for_backward()
        grad_rows = grad_output.flatten(2)  # (N, out, L)
        self.weight.grad += (grad_rows @ columns.transpose(1, 2)).sum(dim=0).reshape(self.weight.shape)
        if self.bias is not None:
            self.bias.grad += grad_rows.sum(dim=(0, 2))
        grad_columns = self.weight.data.reshape(self.out_channels, -1).T @ grad_rows
        return fold_batch_first(grad_columns, input_size, *geometry(self))


class BatchedConvTranspose2d(nn.ConvTranspose2d):
    """ConvTranspose2d with N small matrix products on (N, out * kh * kw, L) columns."""

    def forward(self, input):
        """input: (N, in, H, W); returns (N, out, H_out, W_out)."""
        self._check_input(input)
        out_h, out_w = _transposed_output_size(self, input.shape[2:])
        N, _, H, W = input.shape
        grid_h, grid_w = _sliding_positions(self, (out_h, out_w), *geometry(self))
        grid = input.new_zeros(N, self.in_channels, grid_h, grid_w)
        grid[:, :, :H, :W] = input
        self.save_for_backward(grid, (H, W))
        columns = self.weight.data.reshape(self.in_channels, -1).T @ grid.flatten(2)
        output = fold_batch_first(columns, (out_h, out_w), *geometry(self))
        if self.bias is not None:
            output += self.bias.data[:, None, None]
        return output

    def backward(self, grad_output):
        """grad_output: (N, out, H_out, W_out); returns (N, in, H, W)."""
        grid, (H, W) = self.saved_for_backward()
        grad_columns = unfold_batch_first(grad_output, *geometry(self))
        self.weight.grad += (grid.flatten(2) @ grad_columns.transpose(1, 2)).sum(dim=0).reshape(self.weight.shape)
        if self.bias is not None:
            self.bias.grad += grad_output.sum(dim=(0, 2, 3))
        grad_grid = self.weight.data.reshape(self.in_channels, -1) @ grad_columns
        return grad_grid.reshape(grid.shape)[:, :, :H, :W]


class FoldOnlyConv2d(nn.Conv2d):
    """Conv2d (the reference's forward) whose input gradient always goes through fold."""

    def backward(self, grad_output):
        """grad_output: (N, out, H_out, W_out); returns (N, in, H, W)."""
        column_matrix, (H, W) = self.saved_for_backward()
        N, _, out_h, out_w = grad_output.shape
        grad_matrix = grad_output.permute(1, 2, 3, 0).flatten(1)
        self.weight.grad += (grad_matrix @ column_matrix.T).reshape(self.weight.shape)
        if self.bias is not None:
            self.bias.grad += grad_matrix.sum(dim=1)
        grad_columns = self.weight.data.reshape(self.out_channels, -1).T @ grad_matrix
        return nn.fold(grad_columns.unflatten(1, (out_h * out_w, N)).permute(2, 0, 1), (H, W), *geometry(self))


def fold_in_blocks(columns, output_size, kernel_size, padding, stride):
    """fold for a kernel that the stride divides (no dilation), one pass per s x s block of kernel offsets:
    columns (N, C * kh * kw, L) laid out as the reference's unfold lays them out -> (N, C, H, W)."""
    (H, W), (kh, kw), (ph, pw), (sh, sw) = output_size, kernel_size, padding, stride
    out_h, out_w = _sliding_positions("fold", output_size, kernel_size, (1, 1), padding, stride)
    N, C = columns.shape[0], columns.shape[1] // (kh * kw)
    blocks_h, blocks_w = kh // sh, kw // sw
    patches = columns.reshape(N, C, blocks_h, sh, blocks_w, sw, out_h, out_w)
    # Output row y * sh + a * sh + r is block row y + a, row r inside the block: (C, rows, sh, cols, sw, N).
    padded = columns.new_zeros(C, out_h + blocks_h - 1, sh, out_w + blocks_w - 1, sw, N)
    for a in range(blocks_h):
        for b in range(blocks_w):
            padded[:, a:a + out_h, :, b:b + out_w] += patches[:, :, a, :, b].permute(1, 4, 2, 5, 3, 0)
    image = padded.reshape(C, padded.shape[1] * sh, padded.shape[3] * sw, N).permute(3, 0, 1, 2)
    return image[:, :, ph:ph + H, pw:pw + W]


class BlockFoldConvTranspose2d(nn.ConvTranspose2d):
    """ConvTranspose2d (the reference's backward) whose forward folds s x s blocks of offsets at once."""

    def forward(self, input):
        """input: (N, in, H, W); returns (N, out, H_out, W_out)."""
        self._check_input(input)
        out_h, out_w = _transposed_output_size(self, input.shape[2:])
        # Blocks tile the padded output only if the stride divides the kernel and the positions' span.
        spans = (out_h + 2 * self.padding[0] - self.kernel_size[0], out_w + 2 * self.padding[1] - self.kernel_size[1])
        if self.dilation != (1, 1) or any(k % s or span % s for k, s, span in zip(self.kernel_size, self.stride, spans)):
            return super().forward(input)
        N, _, H, W = input.shape
        grid_h, grid_w = _sliding_positions(self, (out_h, out_w), *geometry(self))
        grid = input.new_zeros(self.in_channels, grid_h, grid_w, N)
        grid[:, :H, :W] = input.permute(1, 2, 3, 0)
        self.save_for_backward(grid, (H, W))
        columns = self.weight.data.reshape(self.in_channels, -1).T @ grid.flatten(1)
        output = fold_in_blocks(columns.unflatten(1, (grid_h * grid_w, N)).permute(2, 0, 1), (out_h, out_w),
                                self.kernel_size, self.padding, self.stride)
        if self.bias is not None:
            output += self.bias.data[:, None, None]
        return output


class PassesLeakyReLU(nn.LeakyReLU):
    """LeakyReLU making a new tensor at every step."""

    def forward(self, input):
        """input: (*); returns (*)."""
        self.save_for_backward(input)
        return input.clamp(min=0) + self.negative_slope * input.clamp(max=0)

    def backward(self, grad_output):
        """grad_output: (*); returns (*)."""
        input = self.saved_for_backward()
        positive = (input > 0).to(grad_output.dtype)
        return grad_output * (self.negative_slope + (1 - self.negative_slope) * positive)


class FormulaAdam(optim.Adam):
    """Adam with every formula of its docstring as a new tensor."""

    def step(self):
        """Update every parameter's .data from its .grad."""
        beta1, beta2 = self.betas
        for p in self.params:
            grad = p.grad + self.weight_decay * p.data
            state = self.state[p]
            state["step"] = t = state.get("step", 0) + 1
            state["exp_avg"] = beta1 * state.get("exp_avg", 0) + (1 - beta1) * grad
            state["exp_avg_sq"] = beta2 * state.get("exp_avg_sq", 0) + (1 - beta2) * grad**2
            m_hat = state["exp_avg"] / (1 - beta1**t)
            v_hat = state["exp_avg_sq"] / (1 - beta2**t)
            p.data -= self.lr * m_hat / (v_hat.sqrt() + self.eps)


def layers_with(**replaced):
    """course_lib.nn's layers, with the classes named in ``replaced`` swapped for the given ones."""
    return SimpleNamespace(**{name: replaced.get(name, getattr(nn, name))
                              for name in ("Sequential", "Residual", "Conv2d", "ConvTranspose2d", "LeakyReLU")})


@dataclass(frozen=True)
class Lever:
    """A speed lever, in words, and the capstone without it: its layers (a namespace for
    course_lib.denoiser.build) and its optimiser class."""

    words: str
    layers: SimpleNamespace = field(default_factory=layers_with)
    adam: type = optim.Adam


LEVERS = (
    Lever("one GEMM over (C kh kw, L N) columns, not N small ones",
          layers_with(Conv2d=BatchedConv2d, ConvTranspose2d=BatchedConvTranspose2d)),
    Lever("stride-1 input gradient as an unfold of grad_output, flipped kernel", layers_with(Conv2d=FoldOnlyConv2d)),
    Lever("fold in kh*kw passes, not (k/s)^2 passes of s x s blocks",
          layers_with(ConvTranspose2d=BlockFoldConvTranspose2d)),
    Lever("LeakyReLU: two passes forward, three in place backward", layers_with(LeakyReLU=PassesLeakyReLU)),
    Lever("Adam: averages updated in place", adam=FormulaAdam),
)
