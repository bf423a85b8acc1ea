"""The hint catalogue: every mistake the checker can name, declared once, with a stable id and its text.

An id is ``<scope>/<slug>``: the scope is the exercise the text is written for ("conv2d.backward"), a
prefix that ``exercises.select`` accepts for a family of exercises ("init": every init function), or
"any" for a fallback that fits every exercise. Ids are stable: reports, feedback and class statistics
count students by them, so an id is never reused for another mistake; retire it instead.

The code that recognises mistakes (``fingerprints.py``: tests on tensors; ``candidates.py``: what a
mistake computes, with autograd; ``advice.py``: exceptions) refers to ids only. ``pick(scope, slug)``
prefers the text written for the exercise, ``<exercise>/<slug>``, over the fallback ``any/<slug>``.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Hint:
    """A recognised mistake. id: its stable catalogue id; name: a few words; cause: what usually causes
    it and what to do; detail: what was measured on this tensor ("factor 0.5 = 1/2"), or ""."""

    id: str
    name: str
    cause: str
    detail: str = ""

    def __str__(self):
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.name}{detail}: {self.cause}"


# (id, name, cause), grouped by exercise in course order; generic fallbacks last.
ENTRIES = (
    # --- 01_activations -------------------------------------------------------------------------------
    ("relu.forward/wrong-side", "the negative part kept",
     "ReLU keeps the positive part, max(0, x): input.clamp(min=0), not clamp(max=0) or min(0, x)."),
    ("relu.backward/grad-output-forgotten", "grad_output forgotten",
     "backward returned ReLU's derivative alone (the 0/1 mask); the chain rule multiplies it by what came "
     "from above: grad_input = grad_output * (input > 0)."),
    ("relu.backward/relu-not-mask", "multiplied by relu(x) instead of the mask",
     "the derivative of max(0, x) is 1 where x > 0 and 0 elsewhere, not max(0, x) itself: multiply "
     "grad_output by (input > 0), not by input.clamp(min=0)."),
    ("relu.backward/mask-includes-zero", "derivative 1 at exactly 0",
     "at x = 0 ReLU has a kink, and torch takes its derivative there to be 0: use (input > 0), "
     "not (input >= 0)."),
    ("leaky_relu.forward/max-trick", "max(x, a * x) with negative_slope > 1",
     "max(x, negative_slope * x) equals LeakyReLU only while negative_slope <= 1; for a larger slope it "
     "picks the slope on the positive side. Choose by the sign of the input: x where x > 0, "
     "negative_slope * x elsewhere."),
    ("leaky_relu.forward/slope-on-positive-side", "slope on the positive side",
     "negative_slope multiplies the negative inputs; positive inputs pass unchanged."),
    ("leaky_relu.forward/default-slope-hard-coded", "negative_slope ignored (0.01 written in)",
     "use self.negative_slope, the slope the layer was built with, not the default 0.01."),
    ("leaky_relu.backward/grad-output-forgotten", "grad_output forgotten",
     "backward returned LeakyReLU's derivative alone (1 or negative_slope); the chain rule multiplies it by "
     "grad_output."),
    ("leaky_relu.backward/slope-on-positive-side", "slope on the positive side",
     "the derivative is 1 where the input was positive and negative_slope elsewhere, not the other way "
     "round."),
    ("leaky_relu.backward/zero-on-negative-side", "zero gradient for negative inputs",
     "this is ReLU's derivative: LeakyReLU's is negative_slope (not 0) where the input was not positive."),
    ("leaky_relu.backward/one-at-zero", "derivative 1 at exactly 0",
     "at x = 0 torch takes LeakyReLU's derivative to be negative_slope: test input > 0, not input >= 0."),
    ("sigmoid.forward/sign-in-exp", "exp(x) instead of exp(-x)",
     "Sigmoid(x) = 1 / (1 + exp(-x)); with exp(+x) you get Sigmoid(-x) = 1 - Sigmoid(x)."),
    ("sigmoid.forward/negative-branch-missing", "Sigmoid(|x|): the branch for x < 0 missing",
     "with exp(-|x|) (no overflow), x >= 0 gives 1 / (1 + exp(-|x|)) but x < 0 gives "
     "exp(-|x|) / (1 + exp(-|x|)): choose between the two with torch.where(input >= 0, ..., ...)."),
    ("sigmoid.backward/grad-output-forgotten", "grad_output forgotten",
     "backward returned Sigmoid's derivative s * (1 - s) alone; the chain rule multiplies it by "
     "grad_output."),
    ("sigmoid.backward/derivative-at-output", "derivative taken at the output",
     "with s the saved output, the derivative is s * (1 - s), not sigmoid(s) * (1 - sigmoid(s)): s is "
     "already Sigmoid(x)."),
    ("sigmoid.backward/input-used-as-output", "the input used as if it were the output",
     "s * (1 - s) needs s = Sigmoid(x), the output; this backward used the input x. Save the output in "
     "forward (self.save_for_backward(output))."),
    ("tanh.forward/half-argument", "2 * sigmoid(x) - 1 is tanh(x / 2)",
     "tanh(x) = 2 * sigmoid(2 * x) - 1: the argument of the sigmoid is 2x. Or use torch.tanh."),
    ("tanh.backward/one-minus-y", "1 - y instead of 1 - y**2",
     "the derivative of tanh is 1 - tanh(x)**2 = 1 - y**2, with y the saved output: the square is missing."),
    ("tanh.backward/grad-output-forgotten", "grad_output forgotten",
     "backward returned Tanh's derivative 1 - y**2 alone; the chain rule multiplies it by grad_output."),
    ("tanh.backward/derivative-at-output", "derivative taken at the output",
     "with y the saved output, the derivative is 1 - y**2, not 1 - tanh(y)**2: y is already tanh(x)."),
    ("tanh.backward/input-used-as-output", "the input used as if it were the output",
     "1 - y**2 needs y = tanh(x), the output; this backward used the input x. Save the output in forward."),
    # --- 02_unfold_convolution ----------------------------------------------------------------------
    ("unfold/offsets-swapped", "kernel offsets i and j swapped",
     "row c * kh * kw + i * kw + j holds kernel offset (i, j): i moves down the rows (dilation_h), j along "
     "the columns (dilation_w). Here the two offsets are exchanged."),
    ("unfold/stride-ignored", "stride ignored",
     "patch (y, x) starts at padded pixel (y * stride_h, x * stride_w): neighbouring patches are stride "
     "pixels apart, not 1."),
    ("unfold/dilation-ignored", "dilation ignored",
     "kernel offset (i, j) reads pixel (i * dilation_h, j * dilation_w) of the patch: with dilation 2 the "
     "kernel's taps are 2 pixels apart."),
    ("unfold/padding-one-side", "padding on one side only",
     "padding puts padding_h zero rows at the top AND at the bottom (padding_w columns left AND right): "
     "copy the input to padded[:, :, ph:ph + H, pw:pw + W], not to the top-left corner."),
    ("unfold/channel-order", "rows ordered (i, j, c) instead of (c, i, j)",
     "a column lists channel 0's kh * kw values first, then channel 1's...: row c * kh * kw + i * kw + j. "
     "Here the channel varies fastest."),
    ("unfold/positions-transposed", "patch positions in column-major order",
     "column y * W_out + x holds patch (y, x): positions go along a row of the output first (row-major), "
     "as reshape(..., H_out * W_out) lays them out."),
    ("fold/overwrites-overlaps", "overlapping patches overwritten, not added",
     "fold adds: where patches overlap, a pixel gets the sum of every patch's value (+=). Assigning (=) "
     "keeps only the last patch's."),
    ("fold/crop-one-side", "cropped on one side",
     "the padding lies on both sides of the image: return padded[:, :, ph:ph + H, pw:pw + W], not "
     "padded[:, :, :H, :W]."),
    ("fold/offsets-swapped", "kernel offsets i and j swapped",
     "row c * kh * kw + i * kw + j of a column goes to kernel offset (i, j): i down the rows (dilation_h), "
     "j along the columns (dilation_w). Here the two offsets are exchanged."),
    ("fold/stride-ignored", "stride ignored",
     "patch (y, x) goes back to padded pixel (y * stride_h, x * stride_w) onwards: step the slice by the "
     "stride (start:stop:stride)."),
    ("fold/dilation-ignored", "dilation ignored",
     "kernel offset (i, j) lands on pixel (i * dilation_h, j * dilation_w) of the patch, not (i, j)."),
    ("conv2d.forward/kernel-flipped", "kernel flipped",
     "torch's Conv2d is a cross-correlation: weight[o, c, i, j] multiplies the pixel at offset (i, j) of "
     "the patch. Do not flip the kernel as a textbook convolution does."),
    ("conv2d.forward/weight-flattened-wrong-order", "weight flattened in the wrong order",
     "unfold's rows are ordered (c, i, j), so weight (C_out, C_in, kh, kw) flattens with "
     "weight.reshape(C_out, -1) as it is; permuting it first (e.g. to (C_out, kh, kw, C_in)) pairs weights "
     "with the wrong pixels."),
    ("conv2d.forward/bias-missing", "bias missing",
     "add bias[o] to every pixel of output channel o: output += bias[:, None] on (N, C_out, L) "
     "(or bias[:, None, None] on (N, C_out, H_out, W_out))."),
    ("conv2d.backward/kernel-flipped", "kernel flipped in the grad input",
     "the gradient w.r.t. the input uses the same weights as forward, unflipped: "
     "grad_columns = weight.reshape(C_out, -1).T @ grad_output rows, then fold."),
    ("conv2d.backward/weight-grad-transposed", "weight gradient laid out (C_in * kh * kw, C_out)",
     "weight.grad is (C_out, C_in, kh, kw): compute grad_rows @ columns.transpose(1, 2), which is "
     "(N, C_out, C_in * kh * kw), sum over N, then reshape; columns @ grad_rows.T is its transpose."),
    ("conv2d.backward/grads-averaged-over-batch", "parameter gradients divided by the batch size",
     "the loss already holds any mean it takes: a parameter's gradient is the sum over the batch of each "
     "sample's, with no division by N."),
    ("conv2d.backward/bias-not-summed", "bias gradient not summed over batch and positions",
     "bias[o] is added at every pixel of every sample, so d loss / d bias[o] is grad_output[:, o] summed "
     "over N, H_out and W_out: grad_output.sum(dim=(0, 2, 3)) (or grad_rows.sum(dim=(0, 2)) on the "
     "(N, C_out, L) rows), shape (C_out,)."),
    ("conv2d.backward/weight-grad-not-summed", "weight gradient not summed over the batch",
     "every sample uses the same weight: (grad_rows @ columns.transpose(1, 2)) is (N, C_out, C_in * kh * kw); "
     "sum it over dim 0 before reshaping to (C_out, C_in, kh, kw)."),
    ("conv2d.backward/reshape-not-fold", "reshape where fold is needed",
     "grad_columns (N, C_in * kh * kw, L) has one value per (pixel, patch) pair, and a pixel sits in "
     "several patches: fold(grad_columns, (H, W), kernel_size, dilation, padding, stride) adds them up "
     "into (N, C_in, H, W). A reshape cannot."),
    ("conv_transpose2d.forward/weight-channel-order", "weight read as (C_out, C_in, kh, kw)",
     "ConvTranspose2d stores its weight as (C_in, C_out, kh, kw), the other way round from Conv2d: "
     "weight.reshape(C_in, -1).T gives the (C_out * kh * kw, C_in) matrix to multiply the input with."),
    ("conv_transpose2d.forward/kernel-flipped", "kernel flipped",
     "ConvTranspose2d is Conv2d's backward: each input pixel adds weight[c, :, i, j] at offset (i, j) "
     "of its patch, unflipped (matrix product, then fold)."),
    ("conv_transpose2d.forward/bias-missing", "bias missing",
     "add bias[o] to every pixel of output channel o: output += bias[:, None, None]."),
    ("conv_transpose2d.forward/grid-not-padded", "the grid of kernel positions not padded",
     "when output_padding >= stride, the output holds more kernel positions than the input has pixels: "
     "fold expects a column for each. Put the input in the top-left of a zero grid of the size fold "
     "expects (its message says how many positions) before the matrix product."),
    ("conv_transpose2d.backward/weight-grad-transposed", "weight gradient laid out (C_out * kh * kw, C_in)",
     "weight.grad is (C_in, C_out, kh, kw): input rows (N, C_in, L) @ unfolded grad columns transposed "
     "(N, L, C_out * kh * kw), summed over N; the product the other way round is its transpose."),
    ("conv_transpose2d.backward/bias-not-summed", "bias gradient not summed over batch and positions",
     "bias[o] is added at every output pixel of every sample, so d loss / d bias[o] is grad_output[:, o] "
     "summed over N, H_out and W_out: grad_output.sum(dim=(0, 2, 3)), shape (C_out,)."),
    # --- 03_transpose_convolution: Upsample --------------------------------------------------------
    ("upsample.forward/tiled", "the image tiled instead of each pixel copied",
     "each pixel becomes an s_h x s_w block of copies of itself (repeat_interleave, or expand on new "
     "dimensions then reshape); input.repeat(1, 1, s_h, s_w) tiles the whole image instead."),
    ("upsample.backward/one-element-per-block", "one element of each block instead of the block's sum",
     "each input pixel was copied into a whole s_h x s_w block, so its gradient is the sum of the block's "
     "gradients, not grad_output[:, :, ::s_h, ::s_w]."),
    ("upsample.backward/tiled-sum", "summed over tiles instead of blocks",
     "output pixel (y, x) came from input pixel (y // s_h, x // s_w): reshape grad_output to "
     "(N, C, H, s_h, W, s_w) and sum dims 3 and 5. Reshaping to (N, C, s_h, H, s_w, W) sums pixels from "
     "all over the image."),
    ("upsample.backward/block-mean", "the block's mean instead of its sum",
     "every copy in a block adds to the loss, so the input pixel gets the sum of the block's gradients; "
     "no division by s_h * s_w."),
    # --- 04_mse_loss ----------------------------------------------------------------------------------
    ("linear.forward/weight-not-transposed", "input @ weight instead of input @ weight.T",
     "weight is (out_features, in_features): output = input @ weight.T + bias."),
    ("linear.forward/bias-missing", "bias missing", "output = input @ weight.T + bias (when bias is not None)."),
    ("linear.forward/two-d-only", "written for 2-d input only",
     "Linear takes input (*, in_features), any number of leading dimensions: input @ weight.T works for "
     "all of them (torch.mm, .t() and x.T need exactly 2 dimensions)."),
    ("linear.backward/grad-input-weight-transposed", "grad_output @ weight.T instead of grad_output @ weight",
     "output = input @ weight.T, so d loss / d input = grad_output @ weight: (*, out) @ (out, in) -> (*, in)."),
    ("linear.backward/two-d-only", "written for 2-d input only",
     "input may be (*, in_features) with several leading dimensions: flatten them first, "
     "input.reshape(-1, in_features) and grad_output.reshape(-1, out_features), then "
     "weight.grad += grad_rows.T @ input_rows and bias.grad += grad_rows.sum(dim=0)."),
    ("linear.backward/bias-not-summed", "bias gradient not summed over the leading dimensions",
     "bias is added to every row of the output, so d loss / d bias is grad_output summed over every "
     "dimension but the last: grad_output.reshape(-1, out_features).sum(dim=0), shape (out_features,)."),
    ("mse_loss.forward/not-divided", "sum instead of mean",
     'reduction="mean" divides the sum of squares by the number of elements, input.numel().'),
    ("mse_loss.forward/divided-by-batch", "divided by the batch size instead of every element",
     'the mean of reduction="mean" is over every element: divide by input.numel(), not input.shape[0].'),
    ("mse_loss.forward/mean-always", 'reduction="sum" ignored',
     'with reduction="sum" the loss is the sum of squares, without dividing.'),
    ("mse_loss.backward/two-forgotten", "the 2 of the square's derivative missing",
     "d/dx (x - t)**2 = 2 (x - t): grad_input = 2 * (input - target) / numel (mean) times grad_output."),
    ("mse_loss.backward/not-divided", "the mean's division missing",
     'with reduction="mean" the loss is divided by numel, and so is its gradient: 2 * (input - target) / '
     "input.numel()."),
    ("mse_loss.backward/divided-by-batch", "divided by the batch size instead of every element",
     'the mean is over every element: divide by input.numel(), not by the batch size input.shape[0].'),
    ("mse_loss.backward/summed-over-elements", "one number for every element",
     "each input element has its own derivative, 2 * (input_i - target_i) / numel: a derivative written for "
     "the whole vector at once (-(2/N) sum(e)) replaces them all by their sum."),
    ("mse_loss.backward/sign-flipped", "target - input instead of input - target",
     "d/d input of (input - target)**2 is +2 (input - target): the difference is taken the other way round."),
    ("mse_loss.backward/grad-output-ignored", "grad_output ignored",
     "when the loss is not the final value (a loss scaled or summed with others), backward gets "
     "grad_output = d final / d loss and must multiply by it; its default 1.0 covers the usual case."),
    # --- 05_sgd ---------------------------------------------------------------------------------------
    ("sgd.step/momentum-ignored", "momentum ignored",
     "with momentum, keep a buffer per parameter in self.state[p]: b = g on the first step, then "
     "b = momentum * b + (1 - dampening) * g, and step with b."),
    ("sgd.step/dampening-ignored", "dampening ignored",
     "after the first step the buffer update is b = momentum * b + (1 - dampening) * g."),
    ("sgd.step/nesterov-ignored", "nesterov ignored",
     "with nesterov=True the step uses g + momentum * b (the gradient plus the updated buffer), not b."),
    ("sgd.step/weight-decay-ignored", "weight_decay ignored",
     "weight decay adds weight_decay * p to the gradient first: g = p.grad + weight_decay * p.data."),
    ("sgd.step/decay-after-momentum", "weight decay added after the momentum buffer",
     "torch adds weight_decay * p to the gradient before it enters the buffer: g = p.grad + weight_decay "
     "* p first, then the buffer, then the step."),
    ("sgd.step/dampening-on-first-step", "dampening applied on the first step",
     "the buffer starts as the gradient itself, b = g (a copy), with no (1 - dampening) factor; dampening "
     "applies from the second step on."),
    ("sgd.step/buffer-not-kept", "momentum buffer not kept between steps",
     "the buffer must live in self.state[p] (self.state[p]['momentum_buffer'] = b) so the next step "
     "starts from it; a local variable starts afresh at every step."),
    ("sgd.step/buffer-aliases-grad", "momentum buffer is p.grad itself",
     "on the first step the buffer must be a copy of the gradient (b = g.clone()): b = p.grad keeps the "
     "parameter's gradient tensor, which zero_grad() empties and the next backward refills, so the next "
     "step's buffer holds the new gradient instead of the old one."),
    ("sgd.step/weight-decay-sign", "weight decay with the wrong sign",
     "decay pulls weights towards 0: g = p.grad + weight_decay * p, then p -= lr * g."),
    ("adam.step/no-bias-correction", "no bias correction",
     "m and v start at 0, so early averages are too small: step with m_hat = m / (1 - beta1**t) and "
     "v_hat = v / (1 - beta2**t), t the step number (1 on the first step)."),
    ("adam.step/eps-inside-sqrt", "eps inside the square root",
     "the step is lr * m_hat / (sqrt(v_hat) + eps): eps is added after the square root."),
    ("adam.step/decoupled-weight-decay", "decoupled weight decay (AdamW)",
     "Adam adds weight_decay * p to the gradient before the moments (g = p.grad + weight_decay * p); "
     "subtracting lr * weight_decay * p from p directly is AdamW."),
    ("adam.step/bias-correction-stored", "bias-corrected moments stored",
     "keep the raw averages m and v in self.state[p] and correct a copy at each step (m_hat, v_hat); "
     "storing m_hat as m corrects it again at every step."),
    ("adam.step/step-counted-per-parameter", "step count shared by the parameters",
     "t counts optimizer steps: each parameter's first step is t = 1. A single counter incremented "
     "inside the loop over parameters grows by the number of parameters at each step; keep it in "
     "self.state[p]."),
    ("adam.step/weight-decay-ignored", "weight_decay ignored",
     "weight decay adds weight_decay * p to the gradient before the moments: g = p.grad + weight_decay * p."),
    # --- 06_sequential ----------------------------------------------------------------------------------
    ("sequential.forward/outputs-not-chained", "the modules not chained",
     "each module gets the previous module's output: x = module(x) in the loop, then return x. Here every "
     "module was given the original input."),
    ("sequential.backward/forward-order", "backward in forward order",
     "the last module's backward comes first: for module in reversed(self._in_order): "
     "grad = module.backward(grad). Each gets the gradient w.r.t. its own output."),
    ("sequential.backward/outputs-not-chained", "the gradients not chained",
     "each module's backward gets what the module after it returned: grad = module.backward(grad) in "
     "the loop, then return grad. Here every module was given the final grad_output."),
    ("init/not-in-place", "not filled in place",
     "an init must write into the tensor it is given (tensor.uniform_(...), tensor.normal_(...), "
     "tensor.zero_()); building a new tensor leaves the argument unchanged."),
    ("init/argument-not-returned", "argument not returned",
     "like torch.nn.init, return the tensor you filled, so that w = init(w) works."),
    ("init/normal-not-uniform", "normal instead of uniform",
     "the values look normally distributed: this law is uniform, use tensor.uniform_(-bound, bound)."),
    ("init/uniform-not-normal", "uniform instead of normal",
     "the values look uniformly distributed: this law is normal, use tensor.normal_(0, std)."),
    ("init/std-as-bound", "the std used as the bound",
     "U(-b, b) has std b / sqrt(3): the bound is sqrt(3) * std."),
    ("init/bound-as-std", "the bound used as the std",
     "a normal law takes the std itself, normal_(0, std); sqrt(3) * std is the bound of the uniform law."),
    ("init/spread-off", "spread off by a factor",
     "check the fan (fan_in, fan_out or their sum), the gain and the square root in the formula; "
     "U(-b, b) has std b / sqrt(3)."),
    ("init.xavier_uniform_/fan-in-alone", "fan_in alone instead of fan_in + fan_out",
     "Xavier averages both directions: bound = gain * sqrt(6 / (fan_in + fan_out))."),
    ("init.xavier_uniform_/gain-missing", "gain left out", "bound = gain * sqrt(6 / (fan_in + fan_out))."),
    ("init.xavier_normal_/fan-in-alone", "fan_in alone instead of fan_in + fan_out",
     "Xavier averages both directions: std = gain * sqrt(2 / (fan_in + fan_out))."),
    ("init.xavier_normal_/gain-missing", "gain left out", "std = gain * sqrt(2 / (fan_in + fan_out))."),
    ("init.kaiming_uniform_/other-fan", "the other fan",
     "mode names the fan to use: fan_in for mode='fan_in', fan_out for mode='fan_out' "
     "(fan = _calculate_correct_fan(values, mode) is given above the exercise)."),
    ("init.kaiming_uniform_/gain-missing", "gain left out",
     "bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)."),
    ("init.kaiming_normal_/other-fan", "the other fan",
     "mode names the fan to use: fan_in for mode='fan_in', fan_out for mode='fan_out'."),
    ("init.kaiming_normal_/gain-missing", "gain left out",
     "std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."),
    # --- 07_skip_layers -------------------------------------------------------------------------------
    ("residual.forward/skip-missing", "the skip path missing",
     "Residual returns input + module(input): the input itself is added to the branch's output."),
    ("residual.forward/branch-missing", "the branch missing",
     "Residual returns input + module(input): the wrapped module's output is part of the sum."),
    ("residual.backward/skip-missing", "the skip path's gradient missing",
     "output = input + module(input) reaches the input two ways: grad_input = grad_output + "
     "module.backward(grad_output). The identity path contributes grad_output itself."),
    ("residual.backward/branch-missing", "the branch's gradient missing",
     "call self.module.backward(grad_output) and add what it returns to grad_output: it is the branch's "
     "share of the gradient, and it fills the module's parameter gradients."),
    # --- any exercise ----------------------------------------------------------------------------------
    ("any/nan", "NaN or infinite values",
     "usually a division by zero (x / |x| where an input is exactly 0), exp of a large number, or a tensor "
     "made with torch.empty and never filled."),
    ("any/all-zeros", "all zeros",
     "the result was never filled in: a gradient that is never added to, a new zero tensor returned, or a "
     "mask that is never true."),
    ("any/nothing-returned", "nothing returned",
     "the function returned None: forward must return its output and backward the gradient w.r.t. its "
     "input (a missing return statement?)."),
    ("any/not-a-tensor", "not a tensor",
     "return a torch.Tensor: keep the result in torch (no .item(), .tolist() or Python numbers), and "
     "return the tensor itself, not a tuple."),
    ("any/wrong-dtype", "wrong dtype",
     "a tensor was made without a dtype (torch.zeros(...) is float32) or was converted: make new tensors "
     "with torch.zeros_like(x) or x.new_zeros(...), or pass dtype=x.dtype."),
    ("any/sign-flipped", "sign flipped",
     "a minus sign missing or extra: in a derivative, or an update that adds the gradient instead of "
     "subtracting it."),
    ("any/constant-factor", "off by a constant factor",
     "a constant missing or extra: a 2 dropped from a derivative, a division by the batch size N, a mean "
     "where a sum was meant or the other way round. The detail names the factor."),
    ("any/transposed", "transposed",
     "rows and columns swapped: e.g. a weight gradient computed as input.T @ grad_output (in, out) "
     "instead of grad_output.T @ input (out, in)."),
    ("any/shifted", "shifted by one position",
     "padding applied on one side only, or a slice or index that starts one position too early or too "
     "late (stride or padding off by one)."),
    ("any/shape-transposed", "transposed shape",
     "the two dimensions are the wrong way round: check which side of the matrix product each tensor "
     "goes on, and the final transpose or reshape."),
    ("any/size-one-dims", "extra or missing dimension of size 1",
     "a dimension of size 1 was added or dropped: check keepdim, squeeze/unsqueeze, or the reshape at "
     "the end."),
    ("any/same-numel-other-shape", "same elements, other shape",
     "the number of elements is right but the layout is not: a final reshape or view is missing or "
     "wrong (it must give the shape in the docstring)."),
    ("any/input-in-attribute", "input stored in an attribute",
     "forward keeps its input (or output) in an attribute such as self.input, so a second forward call "
     "overwrites it and the first call's backward uses the second call's input. Use "
     "self.save_for_backward(...) in forward and self.saved_for_backward() in backward."),
    ("any/grad-overwritten", "gradient overwritten instead of accumulated",
     "backward assigns the parameter's gradient (p.grad = ...) instead of adding to it (p.grad += ...): "
     "when the module is used twice, or backward runs again without zero_grad, only the last "
     "contribution is left."),
    ("any/bias-grad-missing", "bias gradient missing",
     "backward never adds d loss / d bias to bias.grad: it is grad_output summed over every dimension "
     "except the output-channel (or output-feature) one."),
    ("any/bias-none", "bias=False not handled",
     "a layer built with bias=False has self.bias = None: guard every use of the bias, in forward and in "
     "backward, with a test: if self.bias is not None."),
    ("any/hyper-parameter-ignored", "hyper-parameter ignored",
     "step() never uses this hyper-parameter (a value written in, or only used on some path): read it "
     "from self (self.betas, self.eps, ...)."),
    ("any/forward-wrong-shape", "not run: forward returned the wrong shape",
     "backward takes grad_output of the shape forward returned, so it cannot be checked until forward "
     "returns the right shape (see the output row, and the forward exercise's own check)."),
)

CATALOGUE = {entry[0]: Hint(*entry) for entry in ENTRIES}
if len(CATALOGUE) != len(ENTRIES):
    raise ValueError("course_lib/check/hints.py: two catalogue entries share an id")


def hint(hint_id, detail=""):
    """The catalogue's Hint ``hint_id``, with ``detail`` for this tensor; an unknown id raises KeyError."""
    found = CATALOGUE[hint_id]
    return Hint(found.id, found.name, found.cause, str(detail)) if detail else found


def pick(scope, slug):
    """The id for mistake ``slug`` in ``scope`` (an exercise id, or any title): ``<scope>/<slug>`` when
    the catalogue has a text written for it, else ``any/<slug>``, else None."""
    for hint_id in (f"{scope}/{slug}", f"any/{slug}"):
        if hint_id in CATALOGUE:
            return hint_id
    return None
