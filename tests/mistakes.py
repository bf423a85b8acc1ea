"""Realistic wrong implementations, one entry per mistake, each with the hint the checker must give it.

MISTAKES: (hint id, exercise id, edits): checking ``exercise id`` on the instructor edition with the
``edits`` applied must fail and name ``hint id`` among its hints (tests/test_mistakes.py). An edit is
(file under course_lib/, old text, new text); each old text occurs exactly once in that file. They are
written as a student who half understands would write them, inside the solution regions.

These hold solution code: they live in tests/, which the student edition never includes.
"""

from pathlib import Path

from course_lib.exercises import EXERCISES, get
from course_lib.release import exercise_regions

ROOT = Path(__file__).resolve().parents[1]


def solution(exercise_id, starting_at=""):
    """The instructor's solution of ``exercise_id`` (the lines between its markers, each ending in a newline),
    from its first line that starts with ``starting_at``: the old text of an edit that replaces it."""
    exercise = get(exercise_id)
    in_file = {other.function: other for other in EXERCISES if other.file == exercise.file}
    regions = {found.id: region for found, region in
               exercise_regions((ROOT / exercise.file).read_text(), exercise.file, in_file)}
    lines = [line + "\n" for line in regions[exercise_id].lines]
    first = next(index for index, line in enumerate(lines) if line.startswith(starting_at))
    return "".join(lines[first:])


ACTIVATION, CONV, LINEAR, LOSS = "nn/activation.py", "nn/conv.py", "nn/linear.py", "nn/loss.py"
CONTAINER, INIT, SGD, ADAM = "nn/container.py", "nn/init.py", "optim/sgd.py", "optim/adam.py"

RELU_RETURN = "        return input.clamp(min=0)\n"
RELU_SAVE = "        self.save_for_backward(input)\n" + RELU_RETURN
RELU_BACKWARD = "        return grad_output * (input > 0)\n"
LEAKY_FORWARD = ("        scaled = self.negative_slope * input\n"
                 "        return torch.maximum(input, scaled) if self.negative_slope <= 1"
                 " else torch.minimum(input, scaled)\n")
LEAKY_DERIVATIVE = "            derivative = input.sign().clamp_(min=self.negative_slope)\n"
LEAKY_BACKWARD = ("        if -1 <= self.negative_slope <= 1:\n" + LEAKY_DERIVATIVE + "        else:\n"
                  "            derivative = (input > 0).to(grad_output.dtype) * (1 - self.negative_slope)"
                  " + self.negative_slope\n"
                  "        return derivative.mul_(grad_output)\n")
SIGMOID_FORWARD = ("        small = torch.exp(-input.abs())\n"
                   "        output = torch.where(input >= 0, 1 / (1 + small), small / (1 + small))\n")
SIGMOID_BACKWARD = "        return grad_output * output * (1 - output)\n"
TANH_BACKWARD = "        return grad_output * (1 - output**2)\n"

UNFOLD_PADDED = """    padded = input.new_zeros(C, padded_h, padded_w, N)
    padded[:, ph:ph + H, pw:pw + W] = input.permute(1, 2, 3, 0)
"""
UNFOLD_STRIDED = """    column, row, plane = N, padded_w * N, padded_h * padded_w * N
    patches = padded.as_strided((C, kh, kw, out_h, out_w, N),
                                (plane, dh * row, dw * column, sh * row, sw * column, 1))
    columns = patches.reshape(C * kh * kw, out_h * out_w, N)
    return columns.permute(2, 0, 1)  # torch's layout (N, C * kh * kw, L), as a view: no copy
"""


def unfold_loop(rows="i * dh", columns="j * dw", sh="sh", sw="sw", stack=2, each=""):
    """unfold written with a loop over kernel offsets, as many students write it, with the given slices
    (on an (N, C, padded_h, padded_w) image, the layout the notebook describes)."""
    return f"""    padded = input.new_zeros(N, C, padded_h, padded_w)
    padded[:, :, ph:ph + H, pw:pw + W] = input
    patches = []
    for i in range(kh):
        for j in range(kw):
            patch = padded[:, :, {rows}:{rows} + {sh} * (out_h - 1) + 1:{sh},
                           {columns}:{columns} + {sw} * (out_w - 1) + 1:{sw}]
            patches.append(patch{each})
    return torch.stack(patches, dim={stack}).reshape(N, C * kh * kw, out_h * out_w)
"""


def unfold(**slices):
    return [(CONV, UNFOLD_PADDED, ""), (CONV, UNFOLD_STRIDED, unfold_loop(**slices))]


FOLD_ADD = ("            padded[:, :, i * dh:i * dh + sh * out_h:sh, j * dw:j * dw + sw * out_w:sw]"
            ".add_(patches[:, :, i, j])\n")


def fold(window, operator="+="):
    return [(CONV, FOLD_ADD, f"            padded[:, :, {window}] {operator} patches[:, :, i, j]\n")]


CONV_PRODUCT = "        output = self.weight.data.reshape(self.out_channels, -1) @ column_matrix\n"
CONV_RESHAPE = "        return output.reshape(self.out_channels, out_h, out_w, N).permute(3, 0, 1, 2)\n"
CONV_WEIGHT_GRAD = "        self.weight.grad += (grad_matrix @ column_matrix.T).reshape(self.weight.shape)\n"
CONV_BIAS_GRAD = "            self.bias.grad += grad_matrix.sum(dim=1)\n"
# The input gradient, from its first line to the end of the region: both views of it.
CONV_GRAD_INPUT = solution("conv2d.backward", starting_at="        (kh, kw), (dh, dw), (ph, pw) = ")
# The input gradient as a student who knows only the fold view writes it.
CONV_FOLD_ONLY = """        grad_columns = self.weight.data.reshape(self.out_channels, -1).T @ grad_matrix
        return fold(grad_columns.unflatten(1, (out_h * out_w, N)).permute(2, 0, 1), (H, W), self.kernel_size,
                    self.dilation, self.padding, self.stride)
"""
TRANSPOSED_PRODUCT = "self.weight.data.reshape(self.in_channels, -1).T @ grid.flatten(1)"
TRANSPOSED_BIAS = "        if self.bias is not None:\n            output += self.bias.data[:, None, None]\n"
TRANSPOSED_WEIGHT_GRAD = "(grad_matrix @ grid.flatten(1).T).T.reshape(self.weight.shape)"
UPSAMPLE_FORWARD = ("        blocks = input[:, :, :, None, :, None].expand(N, C, H, sh, W, sw)\n"
                    "        return blocks.reshape(N, C, H * sh, W * sw)\n")
UPSAMPLE_BACKWARD = "        return grad_output.reshape(N, C, H, sh, W, sw).sum(dim=(3, 5))\n"
LINEAR_FORWARD = "        output = input @ self.weight.data.T\n"
LINEAR_WEIGHT_GRAD = "        self.weight.grad += grad_rows.T @ input_rows\n"
LINEAR_BIAS_GRAD = "            self.bias.grad += grad_rows.sum(dim=0)\n"
LINEAR_GRAD_INPUT = "        return grad_output @ self.weight.data\n"
MSE_RETURN = '        return total / difference.numel() if self.reduction == "mean" else total\n'
MSE_GRAD = "        grad_input = 2 * difference * grad_output\n"
MSE_GRAD_RETURN = '        return grad_input / difference.numel() if self.reduction == "mean" else grad_input\n'
SGD_DECAY = "            grad = p.grad + self.weight_decay * p.data\n"
SGD_BUFFER = ('                buffer = self.state[p].get("momentum_buffer")\n'
              "                buffer = grad if buffer is None else self.momentum * buffer"
              " + (1 - self.dampening) * grad\n")
SGD_MOMENTUM = (
    "            if self.momentum != 0:\n" + SGD_BUFFER + '                self.state[p]["momentum_buffer"] = buffer\n'
    "                grad = grad + self.momentum * buffer if self.nesterov else buffer\n")
ADAM_DECAY = "            grad = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad\n"
ADAM_V_HAT = "            v_hat = v / (1 - beta2**t)\n"
ADAM_UPDATE = "            p.data.addcdiv_(m, v_hat.sqrt_().add_(self.eps), value=-self.lr / (1 - beta1**t))\n"
XAVIER_STD = "    std = gain * math.sqrt(2.0 / (fan_in + fan_out))\n"
XAVIER_UNIFORM = XAVIER_STD + "    bound = math.sqrt(3.0) * std\n"
XAVIER_NORMAL = XAVIER_STD + "    values.normal_(0, std)\n"
KAIMING_UNIFORM = "    std = gain / math.sqrt(fan)\n    bound = math.sqrt(3.0) * std\n"
KAIMING_NORMAL = "    std = gain / math.sqrt(fan)\n    values.normal_(0, std)\n"

MISTAKES = [
    # --- 01_activations ---------------------------------------------------------------------------------
    ("relu.forward/wrong-side", "relu.forward", [(ACTIVATION, RELU_RETURN, "        return input.clamp(max=0)\n")]),
    ("relu.backward/grad-output-forgotten", "relu.backward",
     [(ACTIVATION, RELU_BACKWARD, "        return (input > 0).to(input.dtype)\n")]),
    ("relu.backward/relu-not-mask", "relu.backward",
     [(ACTIVATION, RELU_BACKWARD, "        return grad_output * input.clamp(min=0)\n")]),
    ("relu.backward/mask-includes-zero", "relu.backward",
     [(ACTIVATION, RELU_BACKWARD, "        return grad_output * (input >= 0)\n")]),
    ("any/nan", "relu.backward",  # d|x|/dx = x / |x|, so ReLU' = (x / |x| + 1) / 2: 0/0 at the kink
     [(ACTIVATION, RELU_BACKWARD, "        return grad_output * (input / input.abs() + 1) / 2\n")]),
    ("any/all-zeros", "relu.backward",  # the output is saved, and a ReLU's output is never negative
     [(ACTIVATION, RELU_SAVE, "        output = input.clamp(min=0)\n        self.save_for_backward(output)\n"
                              "        return output\n"),
      (ACTIVATION, RELU_BACKWARD, "        return grad_output * (input < 0)\n")]),
    ("any/input-in-attribute", "relu.backward",
     [(ACTIVATION, RELU_SAVE, "        self.input = input\n" + RELU_RETURN),
      (ACTIVATION, "        input = self.saved_for_backward()\n" + RELU_BACKWARD,
       "        return grad_output * (self.input > 0)\n")]),
    ("leaky_relu.forward/max-trick", "leaky_relu.forward",
     [(ACTIVATION, LEAKY_FORWARD, "        return torch.maximum(input, self.negative_slope * input)\n")]),
    ("leaky_relu.forward/slope-on-positive-side", "leaky_relu.forward",
     [(ACTIVATION, LEAKY_FORWARD, "        return torch.where(input > 0, self.negative_slope * input, input)\n")]),
    ("leaky_relu.forward/default-slope-hard-coded", "leaky_relu.forward",
     [(ACTIVATION, LEAKY_FORWARD, "        return torch.where(input > 0, input, 0.01 * input)\n")]),
    ("leaky_relu.backward/grad-output-forgotten", "leaky_relu.backward",
     [(ACTIVATION, "        return derivative.mul_(grad_output)\n", "        return derivative\n")]),
    ("leaky_relu.backward/slope-on-positive-side", "leaky_relu.backward",
     [(ACTIVATION, LEAKY_BACKWARD, "        return grad_output * torch.where(input > 0, self.negative_slope, 1.0)\n")]),
    ("leaky_relu.backward/zero-on-negative-side", "leaky_relu.backward",
     [(ACTIVATION, LEAKY_BACKWARD, "        return grad_output * (input > 0)\n")]),
    ("leaky_relu.backward/one-at-zero", "leaky_relu.backward",
     [(ACTIVATION, LEAKY_BACKWARD, "        derivative = (input >= 0).to(grad_output.dtype) * (1 - self.negative_slope)"
                                   " + self.negative_slope\n        return derivative.mul_(grad_output)\n")]),
    ("sigmoid.forward/sign-in-exp", "sigmoid.forward",
     [(ACTIVATION, SIGMOID_FORWARD, "        output = 1 / (1 + torch.exp(input))\n")]),
    ("sigmoid.forward/negative-branch-missing", "sigmoid.forward",
     [(ACTIVATION, SIGMOID_FORWARD, "        output = 1 / (1 + torch.exp(-input.abs()))\n")]),
    ("sigmoid.backward/grad-output-forgotten", "sigmoid.backward",
     [(ACTIVATION, SIGMOID_BACKWARD, "        return output * (1 - output)\n")]),
    ("sigmoid.backward/derivative-at-output", "sigmoid.backward",
     [(ACTIVATION, SIGMOID_BACKWARD,
       "        return grad_output * torch.sigmoid(output) * (1 - torch.sigmoid(output))\n")]),
    ("sigmoid.backward/input-used-as-output", "sigmoid.backward",
     [(ACTIVATION, SIGMOID_FORWARD + "        self.save_for_backward(output)\n",
       SIGMOID_FORWARD + "        self.save_for_backward(input)\n")]),
    ("tanh.forward/half-argument", "tanh.forward",
     [(ACTIVATION, "        output = torch.tanh(input)\n", "        output = 2 * torch.sigmoid(input) - 1\n")]),
    ("tanh.backward/one-minus-y", "tanh.backward",
     [(ACTIVATION, TANH_BACKWARD, "        return grad_output * (1 - output)\n")]),
    ("tanh.backward/grad-output-forgotten", "tanh.backward",
     [(ACTIVATION, TANH_BACKWARD, "        return 1 - output**2\n")]),
    ("tanh.backward/derivative-at-output", "tanh.backward",
     [(ACTIVATION, TANH_BACKWARD, "        return grad_output * (1 - torch.tanh(output) ** 2)\n")]),
    ("tanh.backward/input-used-as-output", "tanh.backward",
     [(ACTIVATION, "        output = torch.tanh(input)\n        self.save_for_backward(output)\n",
       "        output = torch.tanh(input)\n        self.save_for_backward(input)\n")]),
    ("any/sign-flipped", "tanh.backward",
     [(ACTIVATION, TANH_BACKWARD, "        return grad_output * (output**2 - 1)\n")]),
    ("any/nothing-returned", "tanh.backward", [(ACTIVATION, TANH_BACKWARD, "        grad_output * (1 - output**2)\n")]),
    # --- 02_unfold_convolution ------------------------------------------------------------------------
    ("unfold/offsets-swapped", "unfold", unfold(rows="j * dh", columns="i * dw")),
    ("unfold/stride-ignored", "unfold", unfold(sh="1", sw="1")),
    ("unfold/dilation-ignored", "unfold", unfold(rows="i", columns="j")),
    ("unfold/padding-one-side", "unfold",
     [(CONV, "    padded[:, ph:ph + H, pw:pw + W] = input.permute(1, 2, 3, 0)\n",
       "    padded[:, :H, :W] = input.permute(1, 2, 3, 0)\n")]),
    ("unfold/channel-order", "unfold", unfold(stack=1)),
    ("unfold/positions-transposed", "unfold", unfold(each=".transpose(-1, -2)")),
    ("any/wrong-dtype", "unfold", [(CONV, "    padded = input.new_zeros(C, padded_h, padded_w, N)\n",
                                    "    padded = torch.zeros(C, padded_h, padded_w, N)\n")]),
    ("fold/overwrites-overlaps", "fold",
     fold("i * dh:i * dh + sh * out_h:sh, j * dw:j * dw + sw * out_w:sw", operator="=")),
    ("fold/crop-one-side", "fold",
     [(CONV, "    return padded[:, :, ph:ph + H, pw:pw + W]\n", "    return padded[:, :, :H, :W]\n")]),
    ("fold/offsets-swapped", "fold", fold("j * dh:j * dh + sh * out_h:sh, i * dw:i * dw + sw * out_w:sw")),
    ("fold/stride-ignored", "fold", fold("i * dh:i * dh + out_h, j * dw:j * dw + out_w")),
    ("fold/dilation-ignored", "fold", fold("i:i + sh * out_h:sh, j:j + sw * out_w:sw")),
    ("conv2d.forward/kernel-flipped", "conv2d.forward",
     [(CONV, CONV_PRODUCT,
       "        output = self.weight.data.flip(2, 3).reshape(self.out_channels, -1) @ column_matrix\n")]),
    ("conv2d.forward/weight-flattened-wrong-order", "conv2d.forward",
     [(CONV, CONV_PRODUCT,
       "        output = self.weight.data.permute(0, 2, 3, 1).reshape(self.out_channels, -1) @ column_matrix\n")]),
    ("conv2d.forward/bias-missing", "conv2d.forward",
     [(CONV, "        if self.bias is not None:\n            output += self.bias.data[:, None]\n", "")]),
    ("any/same-numel-other-shape", "conv2d.forward", [(CONV, CONV_RESHAPE, "        return output\n")]),
    ("any/shifted", "conv2d.forward",  # pads by hand, with the image in the top-left corner
     [(CONV, "        columns = unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)"
             "  # (N, in kh kw, L)\n",
       "        padded = input.new_zeros(N, self.in_channels, H + 2 * self.padding[0], W + 2 * self.padding[1])\n"
       "        padded[:, :, :H, :W] = input\n"
       "        columns = unfold(padded, self.kernel_size, self.dilation, 0, self.stride)\n")]),
    ("conv2d.backward/kernel-flipped", "conv2d.backward",
     [(CONV, CONV_GRAD_INPUT,
       CONV_FOLD_ONLY.replace("self.weight.data.reshape", "self.weight.data.flip(2, 3).reshape"))]),
    ("conv2d.backward/weight-grad-transposed", "conv2d.backward",
     [(CONV, CONV_WEIGHT_GRAD,
       "        self.weight.grad += (column_matrix @ grad_matrix.T).reshape(self.weight.shape)\n")]),
    ("conv2d.backward/grads-averaged-over-batch", "conv2d.backward",
     [(CONV, CONV_WEIGHT_GRAD,
       "        self.weight.grad += (grad_matrix @ column_matrix.T / N).reshape(self.weight.shape)\n"),
      (CONV, CONV_BIAS_GRAD, "            self.bias.grad += grad_matrix.sum(dim=1) / N\n")]),
    ("conv2d.backward/bias-not-summed", "conv2d.backward",
     [(CONV, CONV_BIAS_GRAD, "            self.bias.grad += grad_output.sum(dim=0)\n")]),
    ("conv2d.backward/weight-grad-not-summed", "conv2d.backward",  # one product per sample, never added up
     [(CONV, CONV_WEIGHT_GRAD,
       "        columns = column_matrix.unflatten(1, (out_h * out_w, N)).permute(2, 0, 1)  # (N, in kh kw, L)\n"
       "        self.weight.grad += (grad_output.flatten(2) @ columns.transpose(1, 2)).reshape(self.weight.shape)\n")]),
    ("conv2d.backward/reshape-not-fold", "conv2d.backward",
     [(CONV, CONV_GRAD_INPUT, "        grad_columns = self.weight.data.reshape(self.out_channels, -1).T @ grad_matrix\n"
                              "        return grad_columns.reshape(N, self.in_channels, H, W)\n")]),
    ("any/forward-wrong-shape", "conv2d.backward", [(CONV, CONV_RESHAPE, "        return output\n")]),
    # --- 03_transpose_convolution ---------------------------------------------------------------------
    ("conv_transpose2d.forward/weight-channel-order", "conv_transpose2d.forward",  # "(out, in) like Conv2d"
     [(CONV, TRANSPOSED_PRODUCT,
       "self.weight.data.transpose(0, 1).reshape(self.in_channels, -1).T @ grid.flatten(1)")]),
    ("conv_transpose2d.forward/kernel-flipped", "conv_transpose2d.forward",
     [(CONV, TRANSPOSED_PRODUCT, "self.weight.data.flip(2, 3).reshape(self.in_channels, -1).T @ grid.flatten(1)")]),
    ("conv_transpose2d.forward/bias-missing", "conv_transpose2d.forward", [(CONV, TRANSPOSED_BIAS, "")]),
    ("conv_transpose2d.forward/grid-not-padded", "conv_transpose2d.forward",
     [(CONV, "        grid = input.new_zeros(self.in_channels, grid_h, grid_w, N)\n"
             "        grid[:, :H, :W] = input.permute(1, 2, 3, 0)\n",
       "        grid = input.permute(1, 2, 3, 0)\n"),
      (CONV, "columns.unflatten(1, (grid_h * grid_w, N))", "columns.unflatten(1, (H * W, N))")]),
    ("conv_transpose2d.backward/weight-grad-transposed", "conv_transpose2d.backward",
     [(CONV, TRANSPOSED_WEIGHT_GRAD, "(grad_matrix @ grid.flatten(1).T).reshape(self.weight.shape)")]),
    ("conv_transpose2d.backward/bias-not-summed", "conv_transpose2d.backward",
     [(CONV, "            self.bias.grad += grad_output.sum(dim=(0, 2, 3))\n",
       "            self.bias.grad += grad_output.sum(dim=0)\n")]),
    ("upsample.forward/tiled", "upsample.forward", [(CONV, UPSAMPLE_FORWARD, "        return input.repeat(1, 1, sh, sw)\n")]),
    ("upsample.backward/one-element-per-block", "upsample.backward",
     [(CONV, UPSAMPLE_BACKWARD, "        return grad_output[:, :, ::sh, ::sw]\n")]),
    ("upsample.backward/tiled-sum", "upsample.backward",
     [(CONV, UPSAMPLE_BACKWARD, "        return grad_output.reshape(N, C, sh, H, sw, W).sum(dim=(2, 4))\n")]),
    ("upsample.backward/block-mean", "upsample.backward",
     [(CONV, UPSAMPLE_BACKWARD, "        return grad_output.reshape(N, C, H, sh, W, sw).mean(dim=(3, 5))\n")]),
    # --- 04_mse_loss -----------------------------------------------------------------------------------
    ("linear.forward/weight-not-transposed", "linear.forward",
     [(LINEAR, LINEAR_FORWARD, "        output = input @ self.weight.data\n")]),
    ("linear.forward/bias-missing", "linear.forward",
     [(LINEAR, "        return output if self.bias is None else output + self.bias.data\n", "        return output\n")]),
    ("linear.forward/two-d-only", "linear.forward",
     [(LINEAR, LINEAR_FORWARD, "        output = torch.mm(input, self.weight.data.t())\n")]),
    ("linear.backward/grad-input-weight-transposed", "linear.backward",
     [(LINEAR, LINEAR_GRAD_INPUT, "        return grad_output @ self.weight.data.T\n")]),
    ("linear.backward/two-d-only", "linear.backward",
     [(LINEAR, LINEAR_WEIGHT_GRAD, "        self.weight.grad += grad_output.T @ input\n")]),
    ("linear.backward/bias-not-summed", "linear.backward",
     [(LINEAR, LINEAR_BIAS_GRAD, "            self.bias.grad += grad_output.sum(dim=0)\n")]),
    ("any/bias-none", "linear.forward",
     [(LINEAR, "        return output if self.bias is None else output + self.bias.data\n",
       "        return output + self.bias.data\n")]),
    ("any/transposed", "linear.backward", [(LINEAR, LINEAR_WEIGHT_GRAD, "        self.weight.grad += input_rows.T @ grad_rows\n")]),
    ("any/bias-grad-missing", "linear.backward",
     [(LINEAR, "        if self.bias is not None:\n" + LINEAR_BIAS_GRAD, "")]),
    ("any/grad-overwritten", "linear.backward", [(LINEAR, LINEAR_WEIGHT_GRAD, "        self.weight.grad = grad_rows.T @ input_rows\n")]),
    ("any/constant-factor", "linear.backward",
     [(LINEAR, LINEAR_BIAS_GRAD, "            self.bias.grad += grad_rows.mean(dim=0)\n")]),
    ("any/shape-transposed", "linear.backward",
     [(LINEAR, LINEAR_GRAD_INPUT, "        return self.weight.data.T @ grad_output.T\n")]),
    ("any/size-one-dims", "linear.backward",
     [(LINEAR, LINEAR_BIAS_GRAD, "            self.bias.grad = self.bias.grad + grad_rows.sum(dim=0, keepdim=True)\n")]),
    ("mse_loss.forward/not-divided", "mse_loss.forward", [(LOSS, MSE_RETURN, "        return total\n")]),
    ("mse_loss.forward/divided-by-batch", "mse_loss.forward",
     [(LOSS, MSE_RETURN, '        return total / difference.shape[0] if self.reduction == "mean" else total\n')]),
    ("mse_loss.forward/mean-always", "mse_loss.forward", [(LOSS, MSE_RETURN, "        return total / difference.numel()\n")]),
    ("any/not-a-tensor", "mse_loss.forward",
     [(LOSS, MSE_RETURN, '        return (total / difference.numel()).item() if self.reduction == "mean" else total.item()\n')]),
    ("mse_loss.backward/two-forgotten", "mse_loss.backward", [(LOSS, MSE_GRAD, "        grad_input = difference * grad_output\n")]),
    ("mse_loss.backward/not-divided", "mse_loss.backward", [(LOSS, MSE_GRAD_RETURN, "        return grad_input\n")]),
    ("mse_loss.backward/divided-by-batch", "mse_loss.backward",
     [(LOSS, MSE_GRAD_RETURN, '        return grad_input / difference.shape[0] if self.reduction == "mean" else grad_input\n')]),
    ("mse_loss.backward/summed-over-elements", "mse_loss.backward",
     [(LOSS, MSE_GRAD, "        grad_input = 2 * difference.sum() * grad_output * torch.ones_like(difference)\n")]),
    ("mse_loss.backward/sign-flipped", "mse_loss.backward", [(LOSS, MSE_GRAD, "        grad_input = -2 * difference * grad_output\n")]),
    ("mse_loss.backward/grad-output-ignored", "mse_loss.backward", [(LOSS, MSE_GRAD, "        grad_input = 2 * difference\n")]),
    # --- 05_sgd -----------------------------------------------------------------------------------------
    ("sgd.step/momentum-ignored", "sgd.step", [(SGD, SGD_MOMENTUM, "")]),
    ("sgd.step/dampening-ignored", "sgd.step",
     [(SGD, "self.momentum * buffer + (1 - self.dampening) * grad", "self.momentum * buffer + grad")]),
    ("sgd.step/nesterov-ignored", "sgd.step",
     [(SGD, "                grad = grad + self.momentum * buffer if self.nesterov else buffer\n", "                grad = buffer\n")]),
    ("sgd.step/weight-decay-ignored", "sgd.step", [(SGD, SGD_DECAY, "            grad = p.grad\n")]),
    ("sgd.step/decay-after-momentum", "sgd.step",
     [(SGD, SGD_DECAY, "            grad = p.grad.clone()\n"),
      (SGD, "            p.data -= self.lr * grad\n", "            p.data -= self.lr * (grad + self.weight_decay * p.data)\n")]),
    ("sgd.step/dampening-on-first-step", "sgd.step",  # the buffer starts at zero
     [(SGD, SGD_BUFFER, '                buffer = self.state[p].get("momentum_buffer", 0)\n'
                        "                buffer = self.momentum * buffer + (1 - self.dampening) * grad\n")]),
    ("sgd.step/buffer-not-kept", "sgd.step", [(SGD, '                self.state[p]["momentum_buffer"] = buffer\n', "")]),
    ("sgd.step/buffer-aliases-grad", "sgd.step",  # decay added in place, to p.grad itself
     [(SGD, SGD_DECAY, "            grad = p.grad\n            grad += self.weight_decay * p.data\n")]),
    ("sgd.step/weight-decay-sign", "sgd.step", [(SGD, SGD_DECAY, "            grad = p.grad - self.weight_decay * p.data\n")]),
    ("adam.step/no-bias-correction", "adam.step",
     [(ADAM, ADAM_V_HAT, "            v_hat = v.clone()\n"),
      (ADAM, ADAM_UPDATE, "            p.data.addcdiv_(m, v_hat.sqrt_().add_(self.eps), value=-self.lr)\n")]),
    ("adam.step/eps-inside-sqrt", "adam.step", [(ADAM, "v_hat.sqrt_().add_(self.eps)", "v_hat.add_(self.eps).sqrt_()")]),
    ("adam.step/decoupled-weight-decay", "adam.step",
     [(ADAM, ADAM_DECAY, "            grad = p.grad\n            p.data -= self.lr * self.weight_decay * p.data\n")]),
    ("adam.step/bias-correction-stored", "adam.step",  # divided in place: the averages themselves change
     [(ADAM, ADAM_V_HAT, "            v_hat = v.div_(1 - beta2**t)\n"),
      (ADAM, ADAM_UPDATE,
       "            p.data.addcdiv_(m.div_(1 - beta1**t), v_hat.sqrt().add_(self.eps), value=-self.lr)\n")]),
    ("adam.step/step-counted-per-parameter", "adam.step",
     [(ADAM, '            state["step"] += 1\n            t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]\n',
       '            self.t = getattr(self, "t", 0) + 1\n            t, m, v = self.t, state["exp_avg"], state["exp_avg_sq"]\n')]),
    ("adam.step/weight-decay-ignored", "adam.step", [(ADAM, ADAM_DECAY, "            grad = p.grad\n")]),
    ("any/hyper-parameter-ignored", "adam.step",
     [(ADAM, "        beta1, beta2 = self.betas\n", "        beta1, beta2 = 0.9, 0.999\n")]),
    # --- 06_sequential -----------------------------------------------------------------------------------
    ("sequential.forward/outputs-not-chained", "sequential.forward",
     [(CONTAINER, "        for module in self:\n            input = module(input)\n        return input\n",
       "        output = input\n        for module in self:\n            output = module(input)\n        return output\n")]),
    ("sequential.backward/forward-order", "sequential.backward",
     [(CONTAINER, "        for module in reversed(self._in_order):\n", "        for module in self._in_order:\n")]),
    ("sequential.backward/outputs-not-chained", "sequential.backward",
     [(CONTAINER, "            grad_output = module.backward(grad_output)\n        return grad_output\n",
       "            grad_input = module.backward(grad_output)\n        return grad_input\n")]),
    ("init/not-in-place", "init.zeros_", [(INIT, "    values.zero_()\n", "    values = torch.zeros_like(values)\n")]),
    ("init/argument-not-returned", "init.zeros_", [(INIT, "    values.zero_()\n", "    return values.zero_()\n")]),
    ("init/normal-not-uniform", "init.xavier_uniform_",
     [(INIT, XAVIER_UNIFORM + "    values.uniform_(-bound, bound)\n", XAVIER_STD + "    values.normal_(0, std)\n")]),
    ("init/uniform-not-normal", "init.xavier_normal_",
     [(INIT, XAVIER_NORMAL, XAVIER_STD + "    values.uniform_(-math.sqrt(3.0) * std, math.sqrt(3.0) * std)\n")]),
    ("init/std-as-bound", "init.kaiming_uniform_",
     [(INIT, KAIMING_UNIFORM, "    std = gain / math.sqrt(fan)\n    bound = std\n")]),
    ("init/bound-as-std", "init.kaiming_normal_",
     [(INIT, KAIMING_NORMAL, "    std = gain / math.sqrt(fan)\n    values.normal_(0, math.sqrt(3.0) * std)\n")]),
    ("init/spread-off", "init.kaiming_uniform_",  # Xavier's 6 in Kaiming's bound
     [(INIT, KAIMING_UNIFORM, "    std = gain / math.sqrt(fan)\n    bound = math.sqrt(6.0) * std\n")]),
    ("init.xavier_uniform_/fan-in-alone", "init.xavier_uniform_",
     [(INIT, XAVIER_UNIFORM, "    std = gain * math.sqrt(2.0 / fan_in)\n    bound = math.sqrt(3.0) * std\n")]),
    ("init.xavier_uniform_/gain-missing", "init.xavier_uniform_",
     [(INIT, XAVIER_UNIFORM, "    std = math.sqrt(2.0 / (fan_in + fan_out))\n    bound = math.sqrt(3.0) * std\n")]),
    ("init.xavier_normal_/fan-in-alone", "init.xavier_normal_",
     [(INIT, XAVIER_NORMAL, "    std = gain * math.sqrt(2.0 / fan_in)\n    values.normal_(0, std)\n")]),
    ("init.xavier_normal_/gain-missing", "init.xavier_normal_",
     [(INIT, XAVIER_NORMAL, "    std = math.sqrt(2.0 / (fan_in + fan_out))\n    values.normal_(0, std)\n")]),
    ("init.kaiming_uniform_/other-fan", "init.kaiming_uniform_",
     [(INIT, KAIMING_UNIFORM, "    fan_in, fan_out = _calculate_fan_in_and_fan_out(values)\n"
                              "    std = gain / math.sqrt(fan_in)\n    bound = math.sqrt(3.0) * std\n")]),
    ("init.kaiming_uniform_/gain-missing", "init.kaiming_uniform_",
     [(INIT, KAIMING_UNIFORM, "    std = 1 / math.sqrt(fan)\n    bound = math.sqrt(3.0) * std\n")]),
    ("init.kaiming_normal_/other-fan", "init.kaiming_normal_",
     [(INIT, KAIMING_NORMAL, "    fan_in, fan_out = _calculate_fan_in_and_fan_out(values)\n"
                             "    std = gain / math.sqrt(fan_in)\n    values.normal_(0, std)\n")]),
    ("init.kaiming_normal_/gain-missing", "init.kaiming_normal_",
     [(INIT, KAIMING_NORMAL, "    std = 1 / math.sqrt(fan)\n    values.normal_(0, std)\n")]),
    # --- 07_skip_layers ---------------------------------------------------------------------------------
    ("residual.forward/skip-missing", "residual.forward", [(CONTAINER, "        return input + branch\n", "        return branch\n")]),
    ("residual.forward/branch-missing", "residual.forward", [(CONTAINER, "        return input + branch\n", "        return input\n")]),
    ("residual.backward/skip-missing", "residual.backward",
     [(CONTAINER, "        return grad_output + self.module.backward(grad_output)\n",
       "        return self.module.backward(grad_output)\n")]),
    ("residual.backward/branch-missing", "residual.backward",
     [(CONTAINER, "        return grad_output + self.module.backward(grad_output)\n", "        return grad_output\n")]),
]
