"""Data sets made on the spot, with no download: synthetic digits and natural-image patches.

``digits`` renders the digits 0-9 with the fonts matplotlib ships and warps them at random, like
MATLAB's synthetic digit set. ``denoising_patches`` cuts patches out of the photos bundled with
scikit-image and adds Gaussian noise, with two independent noisy copies for noise2noise training.
Both are deterministic given their seed.
"""

import functools
import math
import numbers
import operator
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import skimage.data
import torch
import torch.nn.functional as F
from matplotlib.ft2font import FT2Font

IMAGE_SIZE = 28
# As in MNIST, a digit's longer side spans 20 of the 28 pixels before the random scaling.
_DIGIT_BOX = 20
_OVERSAMPLE = 2  # warp at twice the resolution, then average 2x2 blocks to smooth the edges
_RENDER_SIZE_PX = 160  # glyphs are drawn this large and shrunk, so thin strokes stay smooth
_DIGIT_GLYPH_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

MAX_ROTATION_DEGREES = 15.0
SCALE_RANGE = (0.8, 1.05)
MAX_SHIFT_PX = 2.0


def digit_fonts():
    """File names (e.g. ``"DejaVuSans.ttf"``) of the matplotlib fonts that ``digits`` draws with.

    A font is used only if all ten digits map to glyphs named ``zero`` ... ``nine`` that draw some
    ink. That skips fonts without digits (``DejaVuSansDisplay.ttf``, the ``STIXSiz*`` fonts),
    symbol fonts that put other signs at the digits' code points (``cmsy10.ttf``, ``cmex10.ttf``),
    placeholder fonts (``LastResortHE-Regular.ttf``) and old-style figures (``cmmi10.ttf``).
    """
    return tuple(_rendered_digit_fonts())


@functools.lru_cache(maxsize=1)
def _rendered_digit_fonts():
    """{font file name: its ten digits from ``_render_digits``} for every font that has them."""
    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    rendered = {path.name: _render_digits(path) for path in sorted(font_dir.glob("*.ttf"))}
    return {name: bitmaps for name, bitmaps in rendered.items() if bitmaps is not None}


def _render_digits(font_path):
    """The ten digits of one font as uint8 arrays (height, width) in [0, 255], or None if it lacks any."""
    font = FT2Font(str(font_path))
    charmap = font.get_charmap()
    font.set_size(_RENDER_SIZE_PX, 72)  # at 72 dpi one point is one pixel
    bitmaps = []
    for digit, glyph_name in enumerate(_DIGIT_GLYPH_NAMES):
        glyph_index = charmap.get(ord(str(digit)), 0)
        if glyph_index == 0 or font.get_glyph_name(glyph_index) != glyph_name:
            return None
        font.set_text(str(digit), 0.0)
        font.draw_glyphs_to_bitmap(antialiased=True)
        bitmap = np.asarray(font.get_image())
        if not bitmap.any():
            return None
        bitmaps.append(bitmap)
    return bitmaps


@functools.lru_cache(maxsize=1)
def _glyph_templates():
    """Every (font, digit) glyph, centred: float32 (n_fonts * 10, 1, S, S) in [0, 1], S = 2 * 28.

    Row ``10 * font + digit``. Each glyph is cropped to its ink, shrunk so its longer side is
    20/28 of the frame, and centred; the random warp in ``digits`` starts from these.
    """
    size = IMAGE_SIZE * _OVERSAMPLE
    box = _DIGIT_BOX * _OVERSAMPLE
    fonts = _rendered_digit_fonts()
    templates = torch.zeros(len(fonts) * 10, 1, size, size)
    for font_number, bitmaps in enumerate(fonts.values()):
        for digit, bitmap in enumerate(bitmaps):
            rows, cols = np.nonzero(bitmap)
            ink = torch.from_numpy(bitmap[rows.min():rows.max() + 1, cols.min():cols.max() + 1] / 255.0)
            shrink = box / max(ink.shape)
            height, width = (max(1, round(side * shrink)) for side in ink.shape)
            glyph = F.interpolate(ink[None, None].float(), size=(height, width), mode="bilinear",
                                  antialias=True, align_corners=False)
            top, left = (size - height) // 2, (size - width) // 2
            templates[10 * font_number + digit, 0, top:top + height, left:left + width] = glyph[0, 0]
    return templates


def digits(n=5000, seed=0):
    """Synthetic digits: the fonts of ``digit_fonts()``, randomly rotated, scaled and shifted.

    Returns ``(images, labels)``:
      images: float32 (n, 1, 28, 28) in [0, 1], a white digit on black.
      labels: int64 (n,) in 0..9; every digit appears n // 10 or n // 10 + 1 times, in random order.
    Each image picks a font at random, turns by up to +-15 degrees, scales by 0.8-1.05 and shifts by
    up to 2 pixels each way. The same ``seed`` gives identical tensors; the first call renders
    the glyphs (cached for the rest of the session).
    """
    n = _check_int("n", n, minimum=1, hint="the number of images to make, e.g. digits(n=5000)")
    seed = _check_int("seed", seed, minimum=0, hint="any non-negative integer")
    templates = _glyph_templates()
    n_fonts = len(templates) // 10
    generator = torch.Generator().manual_seed(seed)

    labels = (torch.arange(n) % 10)[torch.randperm(n, generator=generator)]
    fonts = torch.randint(n_fonts, (n,), generator=generator)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(MAX_ROTATION_DEGREES)
    low, high = SCALE_RANGE
    scale = low + (high - low) * torch.rand(n, generator=generator)
    # affine_grid measures positions from -1 to 1 across the image, i.e. 2 / 28 per pixel.
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * MAX_SHIFT_PX * 2 / IMAGE_SIZE

    # affine_grid maps each output position to where it samples the template, so it takes the
    # inverse warp: turn back by the angle, undo the shift, divide by the scale.
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    inverse_rotation = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)
    inverse_shift = -(inverse_rotation @ shift[:, :, None])
    theta = torch.cat([inverse_rotation, inverse_shift], 2)

    size = IMAGE_SIZE * _OVERSAMPLE
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    warped = F.grid_sample(templates[10 * fonts + labels], grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    # Resampling only averages values in [0, 1], but float rounding can overshoot 1 by an ulp.
    return F.avg_pool2d(warped, _OVERSAMPLE).clamp_(0, 1), labels


# Photos that ship inside scikit-image (names of skimage.data functions), split so that no photo
# gives both train and test patches. "cat" is the same photo as "chelsea", so it is in neither;
# of "stereo_motorcycle" only the left view is used.
TRAIN_PHOTOS = ("astronaut", "rocket", "immunohistochemistry", "stereo_motorcycle")
TEST_PHOTOS = ("chelsea", "coffee")


@functools.lru_cache(maxsize=None)
def load_photo(name):
    """One of TRAIN_PHOTOS or TEST_PHOTOS as float32 (3, H, W) in [0, 1], RGB."""
    if name not in TRAIN_PHOTOS + TEST_PHOTOS:
        raise ValueError(f"Unknown photo {name!r}: expected one of {TRAIN_PHOTOS + TEST_PHOTOS}.")
    image = getattr(skimage.data, name)()
    if name == "stereo_motorcycle":
        image = image[0]  # (left view, right view, disparity)
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(255)


@dataclass(frozen=True)
class DenoisingPatches:
    """Patches for denoising; every tensor is float32 (n_train or n_test, 3, p, p).

    The clean ones are in [0, 1]. A noisy one is its clean patch plus N(0, sigma^2) noise per value,
    *not* clipped (values go slightly below 0 and above 1), so that the noise averages to exactly
    zero, which noise2noise training relies on.

    train_noisy_a, train_noisy_b: two independent noisy copies of train_clean (noise2noise pairs).
    train_clean: the clean train patches, for reference and for supervised training.
    test_clean, test_noisy: patches from other photos (TEST_PHOTOS) and one noisy copy of each.
    sigma: the noise standard deviation.
    """

    train_noisy_a: torch.Tensor
    train_noisy_b: torch.Tensor
    train_clean: torch.Tensor
    test_clean: torch.Tensor
    test_noisy: torch.Tensor
    sigma: float


def denoising_patches(patch_size=32, n_train=20000, n_test=2000, sigma=0.1, seed=0):
    """Random RGB patches of scikit-image's photos, with Gaussian noise; see ``DenoisingPatches``.

    Train patches come from TRAIN_PHOTOS and test patches from TEST_PHOTOS, never the same photo.
    Each patch picks a photo at random (so large photos do not dominate), then a position.
    The same ``seed`` gives identical tensors, and the test set does not depend on ``n_train``.
    Memory: each train tensor takes n_train * 3 * patch_size^2 * 4 bytes (245 MB at the defaults).
    """
    smallest_side = min(min(load_photo(name).shape[1:]) for name in TRAIN_PHOTOS + TEST_PHOTOS)
    patch_size = _check_int("patch_size", patch_size, minimum=1,
                            hint=f"a side length in pixels, at most {smallest_side} (the smallest photo)")
    if patch_size > smallest_side:
        raise ValueError(f"patch_size={patch_size} is larger than the smallest photo side ({smallest_side} "
                         f"pixels); choose patch_size <= {smallest_side}.")
    n_train = _check_int("n_train", n_train, minimum=1, hint="the number of train patches, e.g. 20000")
    n_test = _check_int("n_test", n_test, minimum=1, hint="the number of test patches, e.g. 2000")
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not (0 <= sigma < math.inf):
        raise ValueError(f"sigma must be a finite number >= 0 (the noise std, 0.1 for 10% of the range), "
                         f"got {sigma!r}.")
    seed = _check_int("seed", seed, minimum=0, hint="any non-negative integer")

    # Separate random streams, so the test set stays the same when n_train changes.
    train_seed, test_seed = (int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(2))
    train_generator = torch.Generator().manual_seed(train_seed)
    test_generator = torch.Generator().manual_seed(test_seed)

    train_clean = _random_patches(TRAIN_PHOTOS, n_train, patch_size, train_generator)
    train_noisy_a = _add_noise(train_clean, sigma, train_generator)
    train_noisy_b = _add_noise(train_clean, sigma, train_generator)
    test_clean = _random_patches(TEST_PHOTOS, n_test, patch_size, test_generator)
    test_noisy = _add_noise(test_clean, sigma, test_generator)
    return DenoisingPatches(train_noisy_a, train_noisy_b, train_clean, test_clean, test_noisy, float(sigma))


def _random_patches(photo_names, n, patch_size, generator):
    """n patches, float32 (n, 3, patch_size, patch_size), each from a random photo at a random place."""
    patches = torch.empty(n, 3, patch_size, patch_size)
    photo_of_patch = torch.randint(len(photo_names), (n,), generator=generator)
    offsets = torch.arange(patch_size)
    for photo_number, name in enumerate(photo_names):
        photo = load_photo(name)
        chosen = (photo_of_patch == photo_number).nonzero()[:, 0]
        top = torch.randint(photo.shape[1] - patch_size + 1, (len(chosen), 1, 1), generator=generator)
        left = torch.randint(photo.shape[2] - patch_size + 1, (len(chosen), 1, 1), generator=generator)
        # (3, k, p, p) -> (k, 3, p, p)
        patches[chosen] = photo[:, top + offsets[:, None], left + offsets].transpose(0, 1)
    return patches


def _add_noise(clean, sigma, generator):
    """clean + N(0, sigma^2) noise, same shape, not clipped."""
    noise = torch.randn(clean.shape, generator=generator)
    return noise.mul_(sigma).add_(clean)


def _check_int(name, value, minimum, hint):
    # operator.index accepts Python and numpy integers and refuses 2.5; True is an int to Python.
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer ({hint}), got {value!r}.") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum} ({hint}), got {value}.")
    return value
