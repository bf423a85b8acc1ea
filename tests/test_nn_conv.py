"""unfold, fold, Conv2d, ConvTranspose2d and Upsample against torch (autograd in float64), torch's
default init, and the misuse errors."""

import re

import pytest
import torch
import torch.nn.functional as F

from autograd_twins import assert_close, check_against_autograd, twins
from course_lib.nn.conv import Conv2d, ConvTranspose2d, Upsample, fold, unfold
from course_lib.nn.module import no_grad


def randn(*shape, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype)


# (input shape, kernel_size, dilation, padding, stride): batch 1, 1 channel, 1x1 and non-square
# kernels, stride larger than the kernel, padding, dilation, a kernel as large as the padded input.
UNFOLD_CASES = [
    ((1, 1, 4, 4), 1, 1, 0, 1),
    ((2, 3, 5, 6), 3, 1, 0, 1),
    ((2, 3, 5, 6), (2, 3), 1, 1, 1),
    ((1, 2, 9, 8), 2, 1, 0, 3),
    ((2, 2, 7, 7), 3, 2, 1, 2),
    ((1, 3, 6, 5), (3, 1), (1, 2), (2, 0), (1, 2)),
    ((2, 1, 3, 3), 5, 1, 1, 1),
    ((1, 2, 2, 3), 3, (1, 2), 2, 4),
]


@pytest.mark.parametrize("shape, kernel_size, dilation, padding, stride", UNFOLD_CASES, ids=str)
def test_unfold_and_fold_match_torch(shape, kernel_size, dilation, padding, stride):
    x = randn(*shape)
    expected_columns = F.unfold(x, kernel_size, dilation, padding, stride)
    assert_close(unfold(x, kernel_size, dilation, padding, stride), expected_columns)

    columns = torch.randn_like(expected_columns)
    output_size = shape[2:]
    assert_close(fold(columns, output_size, kernel_size, dilation, padding, stride),
                 F.fold(columns, output_size, kernel_size, dilation, padding, stride))


def test_unfold_and_fold_keep_float32():
    x = torch.randn(2, 3, 6, 5)
    columns = unfold(x, 3, padding=1)
    output = fold(columns, (6, 5), 3, padding=1)
    assert columns.dtype == output.dtype == torch.float32
    torch.testing.assert_close(columns, F.unfold(x, 3, padding=1))
    torch.testing.assert_close(output, F.fold(columns, (6, 5), 3, padding=1))


# (in, out, kernel_size, stride, padding, dilation, bias, (N, H, W))
CONV_CASES = [
    (1, 1, 1, 1, 0, 1, True, (1, 5, 5)),
    (3, 4, 3, 1, 1, 1, True, (2, 6, 6)),
    (3, 4, (2, 3), 1, 0, 1, True, (2, 5, 7)),
    (2, 3, 2, 3, 0, 1, True, (2, 8, 7)),
    (2, 3, 3, (2, 1), (1, 2), (2, 1), False, (1, 7, 6)),
    (1, 2, 3, 1, 0, 2, True, (2, 5, 5)),
    (4, 2, (1, 3), 2, (0, 1), 1, False, (3, 4, 9)),
    (2, 2, 3, 1, 3, 1, True, (1, 2, 2)),
    # Stride 1 and fewer channels out than in: the input gradient as an unfold of grad_output with the kernel
    # flipped (non-square, dilated); with padding beyond the kernel's extent, fold's view again.
    (5, 2, (2, 3), 1, (1, 0), (2, 1), True, (2, 6, 7)),
    (4, 3, 3, 1, (3, 1), 1, False, (2, 4, 5)),
]


@pytest.mark.parametrize("in_channels, out_channels, kernel_size, stride, padding, dilation, bias, size",
                         CONV_CASES, ids=str)
def test_conv2d_matches_autograd_in_float64(in_channels, out_channels, kernel_size, stride, padding,
                                            dilation, bias, size):
    torch.manual_seed(0)
    ours, theirs = twins(Conv2d, torch.nn.Conv2d, in_channels, out_channels, kernel_size, stride=stride,
                         padding=padding, dilation=dilation, bias=bias)
    check_against_autograd(ours, theirs, randn(size[0], in_channels, *size[1:]))


# (in, out, kernel_size, stride, padding, output_padding, dilation, bias, (N, H, W)); the last three
# have output_padding >= stride, which torch allows when the dilation is larger.
CONV_TRANSPOSE_CASES = [
    (1, 1, 1, 1, 0, 0, 1, True, (1, 3, 3)),
    (3, 2, 3, 1, 1, 0, 1, True, (2, 4, 4)),
    (2, 3, (2, 3), 2, 0, 1, 1, True, (2, 3, 5)),
    (2, 3, 2, 3, 0, (2, 1), 1, False, (1, 4, 3)),
    (1, 4, (3, 1), 2, 1, 0, 1, False, (1, 1, 6)),
    (2, 2, 3, 1, 1, 2, 3, True, (2, 4, 5)),
    (3, 1, 3, (2, 1), (2, 0), 1, (1, 2), True, (2, 5, 4)),
    (2, 2, 3, 1, 0, 2, 3, True, (1, 3, 3)),
]


@pytest.mark.parametrize("in_channels, out_channels, kernel_size, stride, padding, output_padding, dilation, "
                         "bias, size", CONV_TRANSPOSE_CASES, ids=str)
def test_conv_transpose2d_matches_autograd_in_float64(in_channels, out_channels, kernel_size, stride, padding,
                                                      output_padding, dilation, bias, size):
    torch.manual_seed(0)
    ours, theirs = twins(ConvTranspose2d, torch.nn.ConvTranspose2d, in_channels, out_channels, kernel_size,
                         stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
                         bias=bias)
    check_against_autograd(ours, theirs, randn(size[0], in_channels, *size[1:]))


def test_conv_transpose2d_output_size_is_torchs_formula():
    layer = ConvTranspose2d(2, 3, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2))
    # H: (5 - 1) * 2 - 2 * 1 + 1 * (3 - 1) + 1 + 1 = 10; W: (4 - 1) * 3 - 0 + 2 * (2 - 1) + 2 + 1 = 14
    assert layer(torch.zeros(1, 2, 5, 4)).shape == (1, 3, 10, 14)


SAME_SIZE_LAYERS = [
    (Conv2d, torch.nn.Conv2d, dict(padding=1)),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, dict(padding=1)),
]


@pytest.mark.parametrize("our_class, torch_class, options", SAME_SIZE_LAYERS, ids=["Conv2d", "ConvTranspose2d"])
def test_a_layer_used_twice_in_one_pass_matches_autograd(our_class, torch_class, options):
    torch.manual_seed(1)
    ours, theirs = twins(our_class, torch_class, 3, 3, 3, **options)
    x = randn(2, 3, 5, 4)
    x_ref = x.clone().requires_grad_()
    expected = theirs(theirs(x_ref))
    grad_output = torch.randn_like(expected)
    expected.backward(grad_output)

    assert_close(ours(ours(x)), expected.detach())
    assert_close(ours.backward(ours.backward(grad_output)), x_ref.grad)
    assert_close(ours.weight.grad, theirs.weight.grad)
    assert_close(ours.bias.grad, theirs.bias.grad)


def test_backward_needs_its_own_forward():
    layer = Conv2d(1, 1, 3)
    with no_grad():
        output = layer(torch.randn(1, 1, 4, 4))
    with pytest.raises(RuntimeError, match="without a matching forward"):
        layer.backward(torch.ones_like(output))


INIT_CASES = [
    (Conv2d, torch.nn.Conv2d, (3, 8, 3), {}),
    (Conv2d, torch.nn.Conv2d, (1, 1, 1), {}),
    (Conv2d, torch.nn.Conv2d, (16, 5, (3, 5)), {}),
    (Conv2d, torch.nn.Conv2d, (7, 2, 2), dict(bias=False)),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, (3, 8, 3), {}),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, (8, 3, (2, 4)), dict(stride=2)),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, (1, 5, 1), dict(bias=False)),
]


@pytest.mark.parametrize("our_class, torch_class, args, kwargs", INIT_CASES, ids=str)
def test_default_init_is_torchs_draw_for_draw(our_class, torch_class, args, kwargs):
    torch.manual_seed(3)
    ours = our_class(*args, **kwargs)
    ours_next_draw = torch.rand(1)
    torch.manual_seed(3)
    theirs = torch_class(*args, **kwargs)
    theirs_next_draw = torch.rand(1)

    assert ours.weight.shape == theirs.weight.shape
    assert torch.equal(ours.weight.data, theirs.weight.detach())
    if theirs.bias is None:
        assert ours.bias is None
    else:
        assert torch.equal(ours.bias.data, theirs.bias.detach())
    assert torch.equal(ours_next_draw, theirs_next_draw)


@pytest.mark.parametrize("our_class, torch_class", [(Conv2d, torch.nn.Conv2d),
                                                    (ConvTranspose2d, torch.nn.ConvTranspose2d)])
def test_float32_keeps_its_dtype_and_matches_torch(our_class, torch_class):
    ours = our_class(2, 3, 3, stride=2, padding=1)
    theirs = torch_class(2, 3, 3, stride=2, padding=1)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 2, 5, 6)
    x_ref = x.clone().requires_grad_()
    expected = theirs(x_ref)
    expected.backward(torch.ones_like(expected))

    output = ours(x)
    grad_input = ours.backward(torch.ones_like(output))
    assert output.dtype == grad_input.dtype == ours.weight.grad.dtype == ours.bias.grad.dtype == torch.float32
    torch.testing.assert_close(output, expected.detach())
    torch.testing.assert_close(grad_input, x_ref.grad)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad)
    torch.testing.assert_close(ours.bias.grad, theirs.bias.grad)


@pytest.mark.parametrize("our_class, torch_class, args, kwargs", [
    (Conv2d, torch.nn.Conv2d, (3, 8, 3), {}),
    (Conv2d, torch.nn.Conv2d, (3, 8, (3, 5)), dict(stride=2, padding=(1, 0), dilation=2, bias=False)),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 2, 2), dict(stride=2)),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 2, 3), dict(stride=2, padding=1, output_padding=1,
                                                                 dilation=(1, 2), bias=False)),
], ids=str)
def test_repr_matches_torch(our_class, torch_class, args, kwargs):
    assert repr(our_class(*args, **kwargs)) == repr(torch_class(*args, **kwargs))


@pytest.mark.parametrize("scale_factor", [1, 2, (2, 3), (3, 1), 2.0], ids=str)
def test_upsample_matches_autograd_in_float64(scale_factor):
    x = randn(2, 3, 4, 5)
    x_ref = x.clone().requires_grad_()
    expected = torch.nn.Upsample(scale_factor=scale_factor, mode="nearest")(x_ref)
    grad_output = torch.randn_like(expected)
    expected.backward(grad_output)

    layer = Upsample(scale_factor=scale_factor)
    assert_close(layer(x), expected.detach())
    assert_close(layer.backward(grad_output), x_ref.grad)


def test_upsample_used_twice_and_in_float32():
    x = torch.randn(1, 2, 3, 2)
    layer = Upsample(scale_factor=2)
    output = layer(layer(x))
    torch.testing.assert_close(output, torch.nn.Upsample(scale_factor=4)(x))
    grad_input = layer.backward(layer.backward(torch.ones_like(output)))
    assert output.dtype == grad_input.dtype == torch.float32
    # Each input pixel became a 4x4 block of ones' worth of gradient.
    torch.testing.assert_close(grad_input, torch.full_like(x, 16.0))


@pytest.mark.parametrize("arguments", [
    dict(size=(8, 8)),
    dict(scale_factor=1.5),
    dict(scale_factor=(2, 0.5)),
    dict(scale_factor=0),
    dict(scale_factor=(2, 2, 2)),
    dict(scale_factor=None),
    dict(scale_factor=True),
    dict(scale_factor=2, mode="bilinear"),
], ids=str)
def test_upsample_refuses_what_it_does_not_support(arguments):
    with pytest.raises(ValueError, match=r'only an integer scale_factor .* mode="nearest"'):
        Upsample(**arguments)


def test_upsample_repr_and_input_check():
    assert repr(Upsample(scale_factor=2)) == "Upsample(scale_factor=2, mode='nearest')"
    assert repr(Upsample(scale_factor=(2, 3))) == "Upsample(scale_factor=(2, 3), mode='nearest')"
    with pytest.raises(ValueError, match=re.escape("expects input (N, C, H, W), got (3, 4, 4)")):
        Upsample(scale_factor=2)(torch.zeros(3, 4, 4))


def test_wrong_rank_or_channels_is_a_clear_error():
    message = "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1)) expects input (N, 3, H, W), got (3, 32, 32)."
    with pytest.raises(ValueError, match=re.escape(message)):
        Conv2d(3, 8, 3)(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match=re.escape("expects input (N, 3, H, W), got (1, 4, 8, 8)")):
        Conv2d(3, 8, 3)(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match=re.escape("ConvTranspose2d(4, 2, kernel_size=(2, 2), stride=(2, 2)) "
                                                   "expects input (N, 4, H, W), got (1, 2, 8, 8)")):
        ConvTranspose2d(4, 2, 2, stride=2)(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match=re.escape("unfold(kernel_size=(3, 3), dilation=(1, 1), padding=(0, 0), "
                                                   "stride=(1, 1)) expects input (N, C, H, W), got (3, 8, 8)")):
        unfold(torch.zeros(3, 8, 8), 3)


def test_integer_input_or_mismatched_dtype_is_a_clear_error():
    with pytest.raises(TypeError, match="floating-point"):
        Conv2d(1, 1, 3)(torch.zeros(1, 1, 5, 5, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"torch.float64 parameters but got a torch.float32 input"):
        Conv2d(1, 1, 3).double()(torch.zeros(1, 1, 5, 5))
    with pytest.raises(TypeError, match=r"torch.float32 parameters but got a torch.float64 input"):
        ConvTranspose2d(1, 1, 3)(torch.zeros(1, 1, 5, 5, dtype=torch.float64))


def test_a_kernel_larger_than_the_padded_input_is_a_clear_error():
    # A 3x3 kernel with dilation 2 spans 2 * (3 - 1) + 1 = 5 pixels.
    with pytest.raises(ValueError, match="kernel extent 5x5 does not fit in the padded input 3x3"):
        Conv2d(1, 1, 3, dilation=2)(torch.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"^unfold\(.*kernel extent 4x2 does not fit in the padded input 5x1"):
        unfold(torch.zeros(1, 1, 3, 1), (4, 2), padding=(1, 0))
    with pytest.raises(ValueError, match="kernel extent 3x3 does not fit in the padded output_size 2x2"):
        fold(torch.zeros(1, 9, 1), (2, 2), 3)


@pytest.mark.parametrize("arguments, name", [
    (dict(kernel_size=0), "kernel_size"),
    (dict(kernel_size=(3,)), "kernel_size"),
    (dict(kernel_size=2.5), "kernel_size"),
    (dict(kernel_size=3, stride=0), "stride"),
    (dict(kernel_size=3, stride=(1, -2)), "stride"),
    (dict(kernel_size=3, padding=-1), "padding"),
    (dict(kernel_size=3, padding="same"), "padding"),
    (dict(kernel_size=3, dilation=0), "dilation"),
], ids=str)
def test_bad_layer_arguments_are_clear_errors(arguments, name):
    with pytest.raises(ValueError, match=f"Conv2d expects {name} to be a"):
        Conv2d(2, 2, **arguments)
    with pytest.raises(ValueError, match=f"ConvTranspose2d expects {name} to be a"):
        ConvTranspose2d(2, 2, **arguments)
    with pytest.raises(ValueError, match=f"unfold expects {name} to be a"):
        unfold(torch.zeros(1, 2, 5, 5), **arguments)


@pytest.mark.parametrize("in_channels, out_channels", [(0, 3), (3, -1), (2.5, 3), (True, 3)])
def test_channel_counts_must_be_positive_integers(in_channels, out_channels):
    with pytest.raises(ValueError, match="positive integer"):
        Conv2d(in_channels, out_channels, 3)
    with pytest.raises(ValueError, match="positive integer"):
        ConvTranspose2d(in_channels, out_channels, 3)


def test_output_padding_follows_torchs_rule():
    with pytest.raises(ValueError, match=r"output_padding smaller than stride or dilation.*\(2, 2\)"):
        ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding smaller than stride or dilation"):
        ConvTranspose2d(1, 1, 3, stride=(2, 1), output_padding=(1, 1))
    ConvTranspose2d(1, 1, 3, stride=(2, 1), output_padding=(1, 1), dilation=(1, 2))  # allowed by dilation


def test_conv_transpose2d_padding_that_crops_everything_is_a_clear_error():
    # (3 - 1) * 1 - 2 * 2 + 1 * (1 - 1) + 0 + 1 = -1 rows
    with pytest.raises(ValueError, match=r"output of -1x-1, because padding \(2, 2\) crops more"):
        ConvTranspose2d(1, 1, 1, padding=2)(torch.zeros(1, 1, 3, 3))


def test_fold_input_inconsistent_with_output_size_is_a_clear_error():
    # A 5x5 image holds (5 - 3) + 1 = 3 positions of a 3x3 kernel each way: L must be 9.
    with pytest.raises(ValueError, match=re.escape("3 x 3 = 9 patch positions, so input must be (N, C * 9, 9); "
                                                   "got (1, 18, 10)")):
        fold(torch.zeros(1, 18, 10), (5, 5), 3)
    with pytest.raises(ValueError, match=re.escape("multiple of kh * kw = 9; got (1, 10, 9)")):
        fold(torch.zeros(1, 10, 9), (5, 5), 3)
    with pytest.raises(ValueError, match=re.escape("expects input (N, C * kh * kw, L), got (1, 1, 18, 9)")):
        fold(torch.zeros(1, 1, 18, 9), (5, 5), 3)
    with pytest.raises(ValueError, match="fold expects output_size to be a positive integer"):
        fold(torch.zeros(1, 9, 9), (5, 0), 3)


@pytest.mark.parametrize("our_class, torch_class, args", [
    (Conv2d, torch.nn.Conv2d, (3, 4, 3, 1, 0, 1, 1, False)),  # groups, bias
    (Conv2d, torch.nn.Conv2d, (3, 4, 3, 2, 1, 2, 1, True, "zeros", "cpu", None)),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, (3, 4, 3, 2, 1, 1, 1, False, 2)),  # ..., groups, bias, dilation
    (ConvTranspose2d, torch.nn.ConvTranspose2d, (3, 4, 3, 1, 0, 0, 1, True, 1, "zeros", None, torch.float32)),
], ids=str)
def test_torchs_positional_signatures_build_the_same_layer(our_class, torch_class, args):
    torch.manual_seed(5)
    ours = our_class(*args)
    torch.manual_seed(5)
    theirs = torch_class(*args)
    assert repr(ours) == repr(theirs)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    assert all(torch.equal(value, theirs.state_dict()[name]) for name, value in ours.state_dict().items())


@pytest.mark.parametrize("arguments, message", [
    (dict(groups=2), "supports only groups=1; got groups=2"),
    (dict(padding_mode="reflect"), "supports only padding_mode='zeros'; got padding_mode='reflect'"),
    (dict(device="cuda"), "supports only device=None or device='cpu'; got device='cuda'"),
    (dict(dtype=torch.float64), "supports only dtype=None or dtype=torch.float32; got dtype=torch.float64"),
], ids=str)
def test_unsupported_torch_arguments_are_refused_by_name(arguments, message):
    for layer in (Conv2d, ConvTranspose2d):
        with pytest.raises(ValueError, match=re.escape(f"{layer.__name__} {message}.")):
            layer(2, 2, 3, **arguments)


@pytest.mark.parametrize("our_class, torch_class, args, shape", [
    (Conv2d, torch.nn.Conv2d, (3, 4, 3), (0, 3, 5, 5)),
    (Conv2d, torch.nn.Conv2d, (3, 4, 2, 2, 1), (0, 3, 4, 5)),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, (3, 4, 3, 2, 1, 1), (0, 3, 4, 4)),
], ids=str)
def test_an_empty_batch_runs_forward_and_backward(our_class, torch_class, args, shape):
    check_against_autograd(*twins(our_class, torch_class, *args), randn(*shape))
