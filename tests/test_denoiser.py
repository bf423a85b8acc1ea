"""The capstone's denoiser (course_lib/denoiser.py): the course_lib model against its torch twin, in float64."""

from types import SimpleNamespace

import pytest
import torch

from course_lib import nn
from course_lib.check import check_module
from course_lib.data import denoising_patches
from course_lib.denoiser import (FULL, Schedule, Training, build, check_patches, denoise, evaluate,
                                 make_denoiser, noise2noise_batches, torch_twin)
from course_lib.metrics import psnr


def test_output_and_every_gradient_equal_the_twins():
    # torch's default init: every weight, the last layer's too, is non-zero, so every gradient is.
    torch.manual_seed(0)
    model = build(nn)
    report = check_module(model, torch_twin(model), input_shape=(2, 3, 8, 12))
    assert report.passed, str(report)
    compared = {row.name for row in report.cases[0].rows}
    assert {f"{name}.grad" for name, _ in model.named_parameters()} <= compared
    assert len(model.parameters()) == 14  # 7 convolutions, each with a weight and a bias


def test_the_twin_has_the_same_layers_and_weights():
    torch.manual_seed(0)
    model = make_denoiser(width=4, negative_slope=0.2).double()
    twin = torch_twin(model)
    assert [(name, tuple(value.shape)) for name, value in twin.state_dict().items()] == \
           [(name, tuple(value.shape)) for name, value in model.state_dict().items()]
    assert all(torch.equal(twin.state_dict()[name], value) for name, value in model.state_dict().items())
    assert next(twin.parameters()).dtype == torch.float64
    assert twin.module[1].negative_slope == 0.2


def test_the_fresh_capstone_model_returns_its_input():
    torch.manual_seed(0)
    model = make_denoiser()
    noisy = torch.rand(2, 3, 16, 16)
    assert torch.equal(model(noisy), noisy)
    last = model.module[-1]
    assert not last.weight.data.any() and not last.bias.data.any()
    hidden = [layer for layer in model.modules() if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))
              and layer is not last]
    assert len(hidden) == 6
    assert all(layer.weight.data.abs().min() > 0 and not layer.bias.data.any() for layer in hidden)


def test_training_keeps_the_two_models_equal():
    data = denoising_patches(patch_size=16, n_train=24, n_test=4, sigma=0.1, seed=0)
    schedule = Schedule(n_train=24, n_test=4, steps=5)  # steps 0-3 at the full rate, step 4 at a tenth
    torch.manual_seed(0)
    model = make_denoiser(width=8).double()
    start = model.state_dict()
    ours, theirs = Training(model, schedule), Training(torch_twin(model), schedule)
    for noisy_input, noisy_target in noise2noise_batches(data, 8, schedule.steps):
        ours.step(noisy_input.double(), noisy_target.double())
        theirs.step(noisy_input.double(), noisy_target.double())

    torch.testing.assert_close(torch.tensor(ours.losses), torch.tensor(theirs.losses), rtol=1e-9, atol=0)
    twin_weights = theirs.model.state_dict()
    for name, value in model.state_dict().items():
        expected = twin_weights[name]
        assert (value - expected).abs().max() <= 1e-6 * expected.abs().max(), name
        assert not torch.equal(value, start[name]), f"{name} did not change"
    assert ours.optimizer.lr == theirs.optimizer.param_groups[0]["lr"] == 1e-4
    assert len(ours.seconds) == len(theirs.seconds) == schedule.steps


def test_the_learning_rate_drops_for_the_last_fifth():
    assert FULL.slow_down_at == 1500
    assert [FULL.learning_rate(step) for step in (0, 1499, 1500, 1874)] == [1e-3, 1e-3, 1e-4, 1e-4]


def fake_patches(count):
    """Patches whose value is their index (copy a) or minus it (copy b): (count, 1, 1, 1)."""
    index = torch.arange(1.0, count + 1).view(count, 1, 1, 1)
    return SimpleNamespace(train_noisy_a=index, train_noisy_b=-index)


def test_batches_visit_every_patch_once_per_epoch_and_swap_the_copies():
    batches = list(noise2noise_batches(fake_patches(10), batch_size=4, steps=5, seed=3))
    assert len(batches) == 5 and all(noisy_input.shape == (4, 1, 1, 1) for noisy_input, _ in batches)
    for noisy_input, noisy_target in batches:
        assert torch.equal(noisy_target, -noisy_input)  # the same patches, the other copy
    # 10 patches in batches of 4: two batches per epoch (the last 2 patches wait for another order).
    first_epoch = torch.cat([noisy_input for noisy_input, _ in batches[:2]]).flatten()
    assert len(set(first_epoch.tolist())) == 8 and (first_epoch > 0).all()
    assert all((noisy_input < 0).all() for noisy_input, _ in batches[2:4])
    assert (batches[4][0] > 0).all()


def test_batches_depend_on_their_seed_only():
    def draw(seed):
        return torch.cat([noisy_input for noisy_input, _ in noise2noise_batches(fake_patches(12), 3, 8, seed)])

    torch.manual_seed(0)
    first = draw(seed=1)
    torch.manual_seed(1)
    assert torch.equal(draw(seed=1), first)
    assert not torch.equal(draw(seed=2), first)


def test_evaluating_the_fresh_model_gives_the_noisy_inputs_psnr():
    data = denoising_patches(patch_size=8, n_train=1, n_test=7, sigma=0.2, seed=0)
    torch.manual_seed(0)
    model = make_denoiser(width=4)
    assert evaluate(model, data.test_noisy, data.test_clean) == psnr(data.test_noisy, data.test_clean)
    assert torch.equal(denoise(torch_twin(model), data.test_noisy, chunk=3), data.test_noisy)


@pytest.mark.parametrize("patches, message", [
    (torch.zeros(2, 3, 30, 32), "multiples of 4; got 30x32"),
    (torch.zeros(2, 1, 32, 32), r"\(N, 3, H, W\) of RGB patches, got \(2, 1, 32, 32\)"),
    (torch.zeros(3, 32, 32), r"got \(3, 32, 32\)"),
    (torch.zeros(2, 3, 32, 32, dtype=torch.int64), "floating-point"),
    ([[0.5]], "got list"),
])
def test_bad_patches_get_a_clear_error(patches, message):
    with pytest.raises(ValueError, match=message):
        check_patches(patches)


def test_a_training_step_refuses_bad_patches_before_changing_anything():
    torch.manual_seed(0)
    model = make_denoiser(width=4)
    training = Training(model, Schedule(n_train=1, n_test=1, steps=1))
    with pytest.raises(ValueError, match="the sides of noisy_input must be multiples of 4"):
        training.step(torch.zeros(1, 3, 6, 6), torch.zeros(1, 3, 6, 6))
    assert training.losses == [] and model.module[0].weight.grad.abs().sum() == 0


def test_batches_refuse_a_batch_larger_than_the_data():
    with pytest.raises(ValueError, match=r"between 1 and the number of train patches \(10\), got 11"):
        next(noise2noise_batches(fake_patches(10), batch_size=11, steps=1))

