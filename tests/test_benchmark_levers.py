"""benchmarks/levers.py: each variant that undoes a speed lever computes what the reference computes
(autograd in float64), so the benchmark compares ways, not results."""

import sys
from pathlib import Path

import pytest
import torch

from autograd_twins import assert_close, check_against_autograd, twins

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import levers  # noqa: E402

CONV = [((3, 2, 3), dict(padding=1), (2, 3, 6, 5)),  # stride 1, fewer channels out: the flipped view
        ((2, 3, (2, 3)), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2)), (2, 2, 7, 8)),
        ((4, 2, 3), dict(padding=(3, 1)), (0, 4, 4, 5))]
TRANSPOSED = [((3, 2, 4), dict(stride=2, padding=1), (2, 3, 4, 5)),  # the capstone's: blocks of 2 x 2
              ((2, 3, 3), dict(stride=2, padding=1, output_padding=1), (2, 2, 3, 3)),
              ((2, 2, 4), dict(stride=2, padding=1, output_padding=1), (1, 2, 3, 4))]


@pytest.mark.parametrize("variant", [levers.BatchedConv2d, levers.FoldOnlyConv2d])
@pytest.mark.parametrize("args, kwargs, shape", CONV, ids=str)
def test_conv2d_variants_match_autograd(variant, args, kwargs, shape):
    torch.manual_seed(0)
    check_against_autograd(*twins(variant, torch.nn.Conv2d, *args, **kwargs), torch.randn(shape, dtype=torch.float64))


@pytest.mark.parametrize("variant", [levers.BatchedConvTranspose2d, levers.BlockFoldConvTranspose2d])
@pytest.mark.parametrize("args, kwargs, shape", TRANSPOSED, ids=str)
def test_conv_transpose2d_variants_match_autograd(variant, args, kwargs, shape):
    torch.manual_seed(0)
    check_against_autograd(*twins(variant, torch.nn.ConvTranspose2d, *args, **kwargs),
                           torch.randn(shape, dtype=torch.float64))


@pytest.mark.parametrize("slope", [0.1, 1.5])
def test_leaky_relu_variant_matches_autograd(slope):
    x = torch.randn(3, 4, dtype=torch.float64)
    x[0, 0] = 0.0
    check_against_autograd(levers.PassesLeakyReLU(slope), torch.nn.LeakyReLU(slope), x)


def test_formula_adam_matches_torch_step_by_step():
    torch.manual_seed(0)
    values = [torch.randn(3, 4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)]
    ours = [levers.nn.Parameter(value.clone()) for value in values]
    theirs = [torch.nn.Parameter(value.clone()) for value in values]
    ours_adam = levers.FormulaAdam(ours, lr=0.1, weight_decay=0.01)
    theirs_adam = torch.optim.Adam(theirs, lr=0.1, weight_decay=0.01)
    for _ in range(5):
        for mine, reference in zip(ours, theirs):
            mine.grad = torch.randn(mine.shape, dtype=torch.float64)
            reference.grad = mine.grad.clone()
        ours_adam.step()
        theirs_adam.step()
        for mine, reference in zip(ours, theirs):
            assert_close(mine.data, reference.detach())


def test_every_lever_changes_a_layer_or_the_optimiser_of_the_capstone():
    for lever in levers.LEVERS:
        assert lever.adam is not levers.optim.Adam or any(
            getattr(lever.layers, name) is not getattr(levers.nn, name)
            for name in ("Conv2d", "ConvTranspose2d", "LeakyReLU"))
