"""Correct but slow implementations, as students write them: edits to the instructor edition, in the form
of tests/mistakes.py ((file under course_lib/, old text, new text), each old text found exactly once).

Each passes the checker; the speed report must find why it is slow (tests/test_speed.py). They hold
solution code: they live in tests/, which the student edition never includes.
"""

from mistakes import CONV, solution

# Conv2d.forward's solution from its first line to its last: what each slow version replaces.
CONV2D_FORWARD = solution("conv2d.forward")

# What backward needs, saved as the reference saves it, so that only forward is slow.
SAVED = """        N, _, H, W = input.shape
        columns = unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)
        self.save_for_backward(columns.permute(1, 2, 0).flatten(1), (H, W))
        weights = self.weight.data.reshape(self.out_channels, -1)
        bias = self.bias.data if self.bias is not None else input.new_zeros(self.out_channels)
"""

# Six nested loops collapsed to three: every output pixel of every sample is its own dot product.
PIXEL_LOOP = SAVED + """        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        padded = input.new_zeros(N, self.in_channels, H + 2 * ph, W + 2 * pw)
        padded[:, :, ph:ph + H, pw:pw + W] = input
        output = input.new_zeros(N, self.out_channels, out_h, out_w)
        for n in range(N):
            for y in range(out_h):
                for x in range(out_w):
                    patch = padded[n, :, y * sh:y * sh + dh * (kh - 1) + 1:dh, x * sw:x * sw + dw * (kw - 1) + 1:dw]
                    output[n, :, y, x] = weights @ patch.reshape(-1) + bias
        return output
"""

# One matrix product per sample, each result appended to the output with torch.cat.
SAMPLE_LOOP_WITH_CAT = SAVED + """        output = input.new_zeros(0, self.out_channels, out_h, out_w)
        for n in range(N):
            sample = (weights @ columns[n] + bias[:, None]).reshape(1, self.out_channels, out_h, out_w)
            output = torch.cat([output, sample])
        return output
"""

SLOW_CONV2D_FORWARD = {
    "pixel loop": [(CONV, CONV2D_FORWARD, PIXEL_LOOP)],
    "sample loop with cat": [(CONV, CONV2D_FORWARD, SAMPLE_LOOP_WITH_CAT)],
}
