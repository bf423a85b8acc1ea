"""course_lib.data and course_lib.metrics: synthetic digits, denoising patches and PSNR."""

import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import skimage.data
import skimage.metrics
import torch
from matplotlib.ft2font import FT2Font

from course_lib import data
from course_lib.metrics import psnr


# ---------------------------------------------------------------------------------------- digits

@pytest.fixture(scope="module")
def digit_set():
    return data.digits(n=2000, seed=0)


def test_digits_shapes_dtypes_and_range(digit_set):
    images, labels = digit_set
    assert images.shape == (2000, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (2000,) and labels.dtype == torch.int64
    assert images.min() >= 0 and images.max() <= 1
    assert set(labels.tolist()) == set(range(10))


def test_digits_are_white_on_black_and_inside_the_frame(digit_set):
    images, _ = digit_set
    ink = images.sum(dim=(1, 2, 3))
    # A digit 16-21 pixels tall covers far more than 10 pixels' worth, and far less than half the image.
    assert (ink > 10).all() and (ink < 28 * 28 / 2).all()
    frame = torch.ones(28, 28, dtype=torch.bool)
    frame[1:-1, 1:-1] = False
    assert images[:, 0, frame].sum() < 1e-3 * ink.sum()


def test_labels_are_balanced():
    _, labels = data.digits(n=1234, seed=3)
    counts = torch.bincount(labels, minlength=10)
    assert counts.sum() == 1234 and set(counts.tolist()) <= {123, 124}


def test_digits_are_deterministic_by_seed():
    first, second, other = data.digits(300, seed=5), data.digits(300, seed=5), data.digits(300, seed=6)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


def test_images_match_their_labels(digit_set):
    images, labels = digit_set
    # A "1" is a single stroke, an "8" two loops.
    assert images[labels == 1].mean() < 0.8 * images[labels == 8].mean()
    # Class means from one seed classify another seed's digits far above chance (10%).
    class_means = torch.stack([images[labels == digit].mean(0).flatten() for digit in range(10)])
    test_images, test_labels = data.digits(n=1000, seed=1)
    predicted = torch.cdist(test_images.flatten(1), class_means).argmin(1)
    assert (predicted == test_labels).double().mean() > 0.5


def test_no_two_digits_are_identical(digit_set):
    images, _ = digit_set
    assert len(torch.unique(images.flatten(1), dim=0)) == len(images)


def test_fonts_without_digit_glyphs_are_skipped():
    fonts = data.digit_fonts()
    for font_without_digits in ["DejaVuSansDisplay.ttf", "STIXSizOneSymReg.ttf", "STIXNonUni.ttf"]:
        assert font_without_digits not in fonts
    # Fonts with other signs (or a placeholder box) at the digits' code points.
    for symbol_font in ["cmsy10.ttf", "cmex10.ttf", "LastResortHE-Regular.ttf"]:
        assert symbol_font not in fonts
    assert {"DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneral.ttf", "cmr10.ttf"} <= set(fonts)
    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name in fonts:
        charmap = FT2Font(str(font_dir / name)).get_charmap()
        glyphs = [charmap.get(ord(digit), 0) for digit in "0123456789"]
        assert 0 not in glyphs and len(set(glyphs)) == 10, name


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n=0), ValueError, "n must be >= 1"),
    (dict(n=2.5), TypeError, "n must be an integer"),
    (dict(seed=-1), ValueError, "seed must be >= 0"),
])
def test_digits_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        data.digits(**kwargs)


# ------------------------------------------------------------------------------ denoising patches

def photo_uint8(name):
    """The photo straight from scikit-image: uint8 (H, W, 3); the left view of the stereo pair."""
    image = getattr(skimage.data, name)()
    return image[0] if isinstance(image, tuple) else image


def find_patch(patch, photo):
    """Whether uint8 (p, p, 3) ``patch`` occurs in uint8 (H, W, 3) ``photo``."""
    p = patch.shape[0]
    corners = photo[:-p + 1 or None, :-p + 1 or None]
    opposite = photo[p - 1:, p - 1:]
    candidates = np.argwhere((corners == patch[0, 0]).all(-1) & (opposite == patch[-1, -1]).all(-1))
    return any(np.array_equal(photo[y:y + p, x:x + p], patch) for y, x in candidates)


def as_uint8_images(patches):
    return (patches * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_train_and_test_photos_are_different():
    assert not set(data.TRAIN_PHOTOS) & set(data.TEST_PHOTOS)
    for train_name in data.TRAIN_PHOTOS:
        for test_name in data.TEST_PHOTOS:
            train, test = photo_uint8(train_name), photo_uint8(test_name)
            assert train.shape != test.shape or not np.array_equal(train, test), (train_name, test_name)


def test_patches_come_from_their_own_split_only():
    patches = data.denoising_patches(patch_size=16, n_train=40, n_test=20, seed=2)
    photos = {name: photo_uint8(name) for name in data.TRAIN_PHOTOS + data.TEST_PHOTOS}
    for clean, own, other in [(patches.train_clean, data.TRAIN_PHOTOS, data.TEST_PHOTOS),
                              (patches.test_clean, data.TEST_PHOTOS, data.TRAIN_PHOTOS)]:
        sources = []
        for patch in as_uint8_images(clean):
            found_in = [name for name in own if find_patch(patch, photos[name])]
            assert found_in, "a patch is not cut out of any photo of its split"
            assert not any(find_patch(patch, photos[name]) for name in other)
            sources += found_in
        assert set(sources) == set(own), "every photo of the split gives patches"


def test_patch_shapes_dtypes_and_ranges():
    patches = data.denoising_patches(patch_size=16, n_train=300, n_test=50, sigma=0.1, seed=0)
    for name in ["train_noisy_a", "train_noisy_b", "train_clean"]:
        assert getattr(patches, name).shape == (300, 3, 16, 16), name
    for name in ["test_clean", "test_noisy"]:
        assert getattr(patches, name).shape == (50, 3, 16, 16), name
    for name in ["train_noisy_a", "train_noisy_b", "train_clean", "test_clean", "test_noisy"]:
        assert getattr(patches, name).dtype == torch.float32, name
    assert patches.sigma == 0.1
    for clean in [patches.train_clean, patches.test_clean]:
        assert clean.min() >= 0 and clean.max() <= 1
        assert clean.std() > 0.05  # real photo content, not a constant
    # The noise is not clipped: noisy values leave [0, 1].
    assert patches.train_noisy_a.min() < -0.1 and patches.train_noisy_a.max() > 1.1


@pytest.mark.parametrize("sigma", [0.05, 0.2])
def test_noise_statistics(sigma):
    patches = data.denoising_patches(patch_size=8, n_train=2000, n_test=500, sigma=sigma, seed=1)
    noise_a = (patches.train_noisy_a - patches.train_clean).double().flatten()
    noise_b = (patches.train_noisy_b - patches.train_clean).double().flatten()
    noise_test = (patches.test_noisy - patches.test_clean).double().flatten()
    for noise in [noise_a, noise_b, noise_test]:
        assert noise.std().item() == pytest.approx(sigma, rel=0.01)
        assert abs(noise.mean().item()) < 4 * sigma / math.sqrt(noise.numel())
    # Independent copies: uncorrelated, so their difference has variance 2 sigma^2.
    assert abs(torch.corrcoef(torch.stack([noise_a, noise_b]))[0, 1].item()) < 4 / math.sqrt(noise_a.numel())
    difference = (patches.train_noisy_a - patches.train_noisy_b).double()
    assert difference.std().item() == pytest.approx(sigma * math.sqrt(2), rel=0.01)


def test_zero_sigma_gives_clean_copies():
    patches = data.denoising_patches(patch_size=8, n_train=20, n_test=10, sigma=0.0)
    assert torch.equal(patches.train_noisy_a, patches.train_clean)
    assert torch.equal(patches.train_noisy_b, patches.train_clean)
    assert torch.equal(patches.test_noisy, patches.test_clean)


def test_patches_are_deterministic_by_seed():
    def make(seed, n_train=50):
        return data.denoising_patches(patch_size=8, n_train=n_train, n_test=20, seed=seed)

    first, second, other = make(0), make(0), make(1)
    for name in ["train_noisy_a", "train_noisy_b", "train_clean", "test_clean", "test_noisy"]:
        assert torch.equal(getattr(first, name), getattr(second, name)), name
        assert not torch.equal(getattr(first, name), getattr(other, name)), name
    more_train = make(0, n_train=80)
    assert torch.equal(more_train.test_clean, first.test_clean)
    assert torch.equal(more_train.test_noisy, first.test_noisy)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(patch_size=301), ValueError, "larger than the smallest photo side \\(300"),
    (dict(patch_size=0), ValueError, "patch_size must be >= 1"),
    (dict(n_train=0), ValueError, "n_train must be >= 1"),
    (dict(n_test=-5), ValueError, "n_test must be >= 1"),
    (dict(n_train=10.0), TypeError, "n_train must be an integer"),
    (dict(sigma=-0.1), ValueError, "sigma must be a finite number >= 0"),
    (dict(sigma=float("nan")), ValueError, "sigma must be a finite number >= 0"),
    (dict(sigma="0.1"), ValueError, "sigma must be a finite number >= 0"),
])
def test_denoising_patches_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        data.denoising_patches(**kwargs)


# ------------------------------------------------------------------------------------------ psnr

def test_psnr_matches_skimage_image_by_image():
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(4, 3, 8, 8, generator=generator, dtype=torch.float64)
    noise_levels = torch.tensor([0.01, 0.05, 0.1, 0.3], dtype=torch.float64)[:, None, None, None]
    prediction = target + noise_levels * torch.randn(target.shape, generator=generator, dtype=torch.float64)
    expected = np.mean([skimage.metrics.peak_signal_noise_ratio(t.numpy(), p.numpy(), data_range=1.0)
                        for t, p in zip(target, prediction)])
    assert psnr(prediction, target) == pytest.approx(expected, rel=1e-12)
    assert psnr(prediction.float(), target.float()) == pytest.approx(expected, rel=1e-5)
    for image in [0, 3]:
        single = skimage.metrics.peak_signal_noise_ratio(target[image].numpy(), prediction[image].numpy(),
                                                         data_range=1.0)
        assert psnr(prediction[image], target[image]) == pytest.approx(single, rel=1e-12)
        assert psnr(prediction[image, 0], target[image, 0]) == pytest.approx(
            skimage.metrics.peak_signal_noise_ratio(target[image, 0].numpy(), prediction[image, 0].numpy(),
                                                    data_range=1.0), rel=1e-12)
    scaled = skimage.metrics.peak_signal_noise_ratio(255 * target[1].numpy(), 255 * prediction[1].numpy(),
                                                     data_range=255)
    assert psnr(255 * prediction[1], 255 * target[1], data_range=255) == pytest.approx(scaled, rel=1e-12)


def test_psnr_hand_derived_values():
    target = torch.zeros(2, 3, 4, 4)
    # Errors of 0.1 and 0.01 everywhere: MSE 0.01 and 0.0001, i.e. 20 dB and 40 dB.
    prediction = torch.stack([torch.full((3, 4, 4), 0.1), torch.full((3, 4, 4), 0.01)])
    assert psnr(prediction[0], target[0]) == pytest.approx(20.0, rel=1e-6)
    assert psnr(prediction[1:], target[1:]) == pytest.approx(40.0, rel=1e-6)
    # The mean of the dB values, not the PSNR of the mean MSE (which would be 22.97 dB).
    assert psnr(prediction, target) == pytest.approx(30.0, rel=1e-6)
    assert psnr(255 * prediction[0], 255 * target[0], data_range=255) == pytest.approx(20.0, rel=1e-6)
    assert psnr(target, target) == math.inf


def test_psnr_accepts_tensors_that_require_grad():
    prediction = torch.full((1, 1, 2, 2), 0.1, requires_grad=True)
    assert psnr(prediction, torch.zeros(1, 1, 2, 2)) == pytest.approx(20.0, rel=1e-6)


@pytest.mark.parametrize("prediction, target, data_range, message", [
    (torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 7), 1.0, "same shape"),
    (torch.zeros(2, 3, 8, 8), torch.zeros(3, 8, 8), 1.0, "same shape"),
    (torch.zeros(1, 2, 3, 8, 8), torch.zeros(1, 2, 3, 8, 8), 1.0, "a batch \\(N, C, H, W\\)"),
    (torch.zeros(0, 3, 8, 8), torch.zeros(0, 3, 8, 8), 1.0, "not empty"),
    (torch.zeros(3, 8, 8), torch.zeros(3, 8, 8), 0.0, "data_range must be > 0"),
])
def test_psnr_bad_arguments(prediction, target, data_range, message):
    with pytest.raises(ValueError, match=message):
        psnr(prediction, target, data_range=data_range)
