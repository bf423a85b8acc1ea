"""The capstone's noise2noise denoiser, defined once for notebook 09 and benchmarks/run.py.

An encoder-decoder of Conv2d / ConvTranspose2d with LeakyReLU, whose skip connections are Residual
containers: each resolution adds its input to what the coarser levels send back, and the whole network
adds its input to its output, so it learns the correction to apply to a noisy patch. ``build`` makes
it from course_lib.nn or, with ``TORCH_LAYERS``, from torch.nn with the same parameter names, so a
state dict copies one into the other. Infrastructure: exercise code never imports this module.

    data = denoising_patches(PATCH_SIZE, SHORT.n_train, SHORT.n_test, SIGMA)
    model = make_denoiser()                          # course_lib, the capstone's initialisation
    ours, theirs = Training(model, SHORT), Training(torch_twin(model), SHORT)   # the twin: same weights
    for noisy_input, noisy_target in noise2noise_batches(data, BATCH_SIZE, SHORT.steps):
        ours.step(noisy_input, noisy_target)         # train_step: forward, MSELoss, backward, Adam
        theirs.step(noisy_input, noisy_target)       # twin_train_step: autograd, torch.optim.Adam
    evaluate(model, data.test_noisy, data.test_clean)  # PSNR in dB on held-out photos
"""

import time
from dataclasses import dataclass
from types import SimpleNamespace

import torch

from course_lib import nn, optim
from course_lib.exercises import TorchResidual
from course_lib.metrics import psnr

WIDTH = 32  # channels at full and half resolution; twice as many at a quarter
NEGATIVE_SLOPE = 0.1
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
SIGMA = 0.1
PATCH_SIZE = 32
DOWNSAMPLING = 4  # two stride-2 convolutions: patch sides must be multiples of 4

# torch.nn has no Residual; the registry's reference for the Residual exercise stands in for it.
TORCH_LAYERS = SimpleNamespace(Sequential=torch.nn.Sequential, Residual=TorchResidual, Conv2d=torch.nn.Conv2d,
                               ConvTranspose2d=torch.nn.ConvTranspose2d, LeakyReLU=torch.nn.LeakyReLU)


@dataclass(frozen=True)
class Schedule:
    """How long to train: ``steps`` batches of BATCH_SIZE drawn from ``n_train`` patches (a new order
    every epoch), then PSNR on ``n_test`` held-out patches; the data is ``denoising_patches(PATCH_SIZE,
    n_train, n_test, SIGMA, seed=0)``. Adam's learning rate is LEARNING_RATE, and a tenth of it for the
    last fifth of the steps, which settles the weights near the minimum the large steps found."""

    n_train: int
    n_test: int
    steps: int

    @property
    def slow_down_at(self):
        """The first step (counting from 0) at the lower learning rate."""
        return self.steps - self.steps // 5

    def learning_rate(self, step):
        return LEARNING_RATE if step < self.slow_down_at else LEARNING_RATE / 10


# The notebook's run (CI: under a minute for both models) and the full one (benchmarks/run.py).
SHORT = Schedule(n_train=3200, n_test=500, steps=100)
FULL = Schedule(n_train=20000, n_test=2000, steps=1875)


def build(layers, width=WIDTH, negative_slope=NEGATIVE_SLOPE):
    """The denoiser from ``layers``: course_lib.nn, or TORCH_LAYERS for its torch twin.

    input: (N, 3, H, W) noisy patches, H and W multiples of 4; output: (N, 3, H, W), input + correction.
    Shapes inside, with w = width (the two levels below full resolution are Residuals, so each adds
    its input back after its transposed convolution):
        Conv2d(3, w, 3, padding=1)                 (N, w, H, W)
          Conv2d(w, w, 3, stride=2, padding=1)     (N, w, H/2, W/2)
            Conv2d(w, 2w, 3, stride=2, padding=1)  (N, 2w, H/4, W/4)
            Conv2d(2w, 2w, 3, padding=1)           (N, 2w, H/4, W/4)
            ConvTranspose2d(2w, w, 4, stride=2, padding=1)   (N, w, H/2, W/2)  + skip
          ConvTranspose2d(w, w, 4, stride=2, padding=1)      (N, w, H, W)      + skip
        Conv2d(w, 3, 3, padding=1)                 (N, 3, H, W)                + the input
    A LeakyReLU(negative_slope) follows every layer but the last and the transposed convolutions,
    whose activation comes after the skip is added. Parameters start as the library's default.
    """
    def act():
        return layers.LeakyReLU(negative_slope)

    quarter = layers.Sequential(
        layers.Conv2d(width, 2 * width, 3, stride=2, padding=1), act(),
        layers.Conv2d(2 * width, 2 * width, 3, padding=1), act(),
        layers.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1))
    half = layers.Sequential(
        layers.Conv2d(width, width, 3, stride=2, padding=1), act(),
        layers.Residual(quarter), act(),
        layers.ConvTranspose2d(width, width, 4, stride=2, padding=1))
    return layers.Residual(layers.Sequential(
        layers.Conv2d(3, width, 3, padding=1), act(),
        layers.Residual(half), act(),
        layers.Conv2d(width, 3, 3, padding=1)))


def make_denoiser(width=WIDTH, negative_slope=NEGATIVE_SLOPE):
    """The course_lib denoiser with the capstone's start: Kaiming-uniform weights for the layers a
    LeakyReLU follows (directly or after a skip), zero biases, and an all-zero last layer, so the fresh
    model returns its input unchanged and training only has to learn the correction.
    Uses the student's nn.init.kaiming_uniform_ and nn.init.zeros_; draws from torch's global generator.
    """
    model = build(nn, width, negative_slope)
    last = model.module[-1]
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and layer is not last:
            nn.init.kaiming_uniform_(layer.weight, a=negative_slope, nonlinearity="leaky_relu")
            nn.init.zeros_(layer.bias)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return model


def torch_twin(model):
    """The torch.nn twin of the course_lib denoiser ``model``: same layers, a copy of its weights and dtype."""
    width = model.module[0].out_channels
    twin = build(TORCH_LAYERS, width, model.module[1].negative_slope).to(model.module[0].weight.dtype)
    twin.load_state_dict(model.state_dict())
    return twin


def check_patches(patches, name="patches"):
    """Raise a clear error unless ``patches`` is a floating (N, 3, H, W) tensor with H, W multiples of 4."""
    if not isinstance(patches, torch.Tensor) or not patches.is_floating_point() or patches.dim() != 4 \
            or patches.shape[1] != 3:
        shape = tuple(patches.shape) if isinstance(patches, torch.Tensor) else type(patches).__name__
        raise ValueError(f"the denoiser expects {name} as a floating-point tensor (N, 3, H, W) of RGB patches, "
                         f"got {shape}.")
    if patches.shape[2] % DOWNSAMPLING or patches.shape[3] % DOWNSAMPLING:
        raise ValueError(f"the denoiser halves the resolution twice, so the sides of {name} must be multiples "
                         f"of {DOWNSAMPLING}; got {patches.shape[2]}x{patches.shape[3]}.")


def noise2noise_batches(data, batch_size, steps, seed=0):
    """``steps`` pairs (noisy_input, noisy_target), each (batch_size, 3, p, p), from ``data`` (DenoisingPatches).

    Every epoch visits the train patches in a new random order (drawn from ``seed``, not the global
    generator, so the two models of a comparison get the same batches); a last partial batch is
    skipped. The two noisy copies swap roles from one epoch to the next: both are equally good targets.
    """
    count = len(data.train_noisy_a)
    if not 1 <= batch_size <= count:
        raise ValueError(f"batch_size must be between 1 and the number of train patches ({count}), "
                         f"got {batch_size}.")
    generator = torch.Generator().manual_seed(seed)
    copies = (data.train_noisy_a, data.train_noisy_b)
    step, epoch = 0, 0
    while step < steps:
        order = torch.randperm(count, generator=generator)
        noisy_input, noisy_target = copies if epoch % 2 == 0 else copies[::-1]
        for start in range(0, count - batch_size + 1, batch_size):
            if step == steps:
                return
            chosen = order[start:start + batch_size]
            yield noisy_input[chosen], noisy_target[chosen]
            step += 1
        epoch += 1


def train_step(model, optimizer, loss_fn, noisy_input, noisy_target):
    """One noise2noise step of the course_lib model: forward, MSE against the other noisy copy, backward
    by hand, optimiser step. noisy_input, noisy_target: (N, 3, H, W). Returns the loss (a float)."""
    optimizer.zero_grad()
    loss = loss_fn(model(noisy_input), noisy_target)
    model.backward(loss_fn.backward())
    optimizer.step()
    return loss.item()


def twin_train_step(twin, optimizer, noisy_input, noisy_target):
    """The same step for the torch twin, with autograd and a torch.optim optimiser. Returns the loss."""
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(twin(noisy_input), noisy_target)
    loss.backward()
    optimizer.step()
    return loss.item()


class Training:
    """One model's run through a Schedule: its Adam optimiser, the losses and the seconds each step took.

    model: the course_lib denoiser (trained by ``train_step`` with course_lib.optim.Adam) or its torch
        twin (``twin_train_step``, torch.optim.Adam); both get the same settings.
    """

    def __init__(self, model, schedule):
        self.model, self.schedule = model, schedule
        self.is_twin = isinstance(model, torch.nn.Module)
        adam = torch.optim.Adam if self.is_twin else optim.Adam
        self.optimizer = adam(model.parameters(), lr=schedule.learning_rate(0))
        self.loss_fn = nn.MSELoss()
        self.losses, self.seconds = [], []

    def step(self, noisy_input, noisy_target):
        """Train on one batch, noisy_input and noisy_target (N, 3, H, W); returns the loss (a float)."""
        check_patches(noisy_input, "noisy_input")
        learning_rate = self.schedule.learning_rate(len(self.losses))
        started = time.perf_counter()
        if self.is_twin:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
            loss = twin_train_step(self.model, self.optimizer, noisy_input, noisy_target)
        else:
            self.optimizer.lr = learning_rate
            loss = train_step(self.model, self.optimizer, self.loss_fn, noisy_input, noisy_target)
        self.seconds.append(time.perf_counter() - started)
        self.losses.append(loss)
        return loss


def denoise(model, noisy, chunk=500):
    """The model's output for ``noisy`` (M, 3, H, W), forward only, ``chunk`` patches at a time: (M, 3, H, W).
    Works for the course_lib model and its torch twin."""
    check_patches(noisy, "noisy")
    with nn.no_grad(), torch.no_grad():
        return torch.cat([model(part) for part in noisy.split(chunk)])


def evaluate(model, noisy, clean):
    """PSNR in dB of the model's output for ``noisy`` against ``clean`` (both (M, 3, H, W)), averaged over M."""
    return psnr(denoise(model, noisy), clean)
