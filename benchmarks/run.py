"""The course's performance figures, measured in one run on this machine (run by hand; not a test).

    python benchmarks/run.py                # everything: about 10 minutes on 2 cores
    python benchmarks/run.py --quick        # the notebook's short schedule, fewer repeats, no notebooks
    python benchmarks/run.py --threads 1    # as CI runs notebooks (two at once, one thread each)
    python benchmarks/run.py --default-malloc   # without the notebooks' malloc setting (slower course_lib)

Prints the machine, then:
1. Conv2d and ConvTranspose2d, forward + backward, at the capstone's layer shapes (float32): course_lib's
   time divided by torch autograd's, median of repeats (course_lib and torch alternate, so both see the
   same load).
2. The capstone's training step (course_lib/denoiser.py) divided by its torch twin's, likewise.
3. PSNR on held-out photos of both models after the same schedule (same start, same batches), the noisy
   input's PSNR, and each model's wall time for data + training + evaluation.
4. Each notebook's execution time (nbclient, as course_lib/authoring.py runs it; nothing is written).
Then the course's goals: time ratios <= 1.3; PSNR within 0.1 dB of the twin; at least 5 dB over the
noisy input within 5 minutes.
"""

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from course_lib import nn
from course_lib.authoring import execute
from course_lib.data import denoising_patches
from course_lib.denoiser import (BATCH_SIZE, FULL, PATCH_SIZE, SHORT, SIGMA, Training, evaluate, make_denoiser,
                                 noise2noise_batches, torch_twin)
from course_lib.metrics import psnr
from course_lib.notebook import keep_freed_memory

ROOT = Path(__file__).resolve().parents[1]
GOAL_RATIO = 1.3
GOAL_PSNR_GAP_DB = 0.1
GOAL_GAIN_DB = 5.0
GOAL_SECONDS = 300
WARMUP = 3


def cpu_model():
    """The CPU's name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_ms(seconds):
    return 1000 * statistics.median(seconds)


def alternate(first, second, repeats):
    """Median seconds of ``first()`` and of ``second()``, run alternately, after WARMUP runs of each."""
    times = ([], [])
    for run in range(WARMUP + repeats):
        for function, kept in zip((first, second), times):
            started = time.perf_counter()
            function()
            if run >= WARMUP:
                kept.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def capstone_layers():
    """(course_lib layer, its torch twin, input shape) for every convolution of the capstone's model,
    with the shapes one training batch gives them (recorded by forward hooks on the twin)."""
    twin = torch_twin(make_denoiser())
    shapes = []
    hooks = [layer.register_forward_hook(lambda layer, inputs, output: shapes.append((layer, inputs[0].shape)))
             for layer in twin.modules() if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    twin(torch.zeros(BATCH_SIZE, 3, PATCH_SIZE, PATCH_SIZE))
    for hook in hooks:
        hook.remove()
    layers = []
    for torch_layer, shape in shapes:
        ours = getattr(nn, type(torch_layer).__name__)(
            torch_layer.in_channels, torch_layer.out_channels, torch_layer.kernel_size, stride=torch_layer.stride,
            padding=torch_layer.padding)
        torch_layer.load_state_dict(ours.state_dict())
        layers.append((ours, torch_layer, tuple(shape)))
    return layers


def layer_ratios(repeats):
    print(f"\n1. Convolutions, forward + backward, float32, median of {repeats} (ms)")
    print(f"   {'layer':<48} {'input':<18} {'course_lib':>10} {'torch':>8} {'ratio':>6}")
    ratios = []
    for ours, theirs, shape in capstone_layers():
        x = torch.randn(shape)
        x_ref = x.clone().requires_grad_()
        grad_output = torch.randn(theirs(x_ref).shape)

        def course_lib_pass():
            ours(x)
            ours.backward(grad_output)

        def torch_pass():
            theirs(x_ref).backward(grad_output)

        ours_seconds, torch_seconds = alternate(course_lib_pass, torch_pass, repeats)
        ratios.append(ours_seconds / torch_seconds)
        name = f"{type(ours).__name__}({ours.in_channels}, {ours.out_channels}, {ours.kernel_size[0]}, " \
               f"stride={ours.stride[0]}, padding={ours.padding[0]})"
        print(f"   {name:<48} {str(shape):<18} {1000 * ours_seconds:>10.2f} {1000 * torch_seconds:>8.2f} "
              f"{ratios[-1]:>6.2f}")
    return max(ratios)


def step_ratio(repeats):
    print(f"\n2. Capstone training step (batch {BATCH_SIZE}, {PATCH_SIZE}x{PATCH_SIZE}), median of {repeats} (ms)")
    torch.manual_seed(0)
    model = make_denoiser()
    ours, theirs = Training(model, FULL), Training(torch_twin(model), FULL)
    noisy_input, noisy_target = (torch.rand(BATCH_SIZE, 3, PATCH_SIZE, PATCH_SIZE) for _ in range(2))
    ours_seconds, torch_seconds = alternate(lambda: ours.step(noisy_input, noisy_target),
                                            lambda: theirs.step(noisy_input, noisy_target), repeats)
    ratio = ours_seconds / torch_seconds
    print(f"   course_lib {1000 * ours_seconds:.1f}, torch twin {1000 * torch_seconds:.1f}: ratio {ratio:.2f}")
    return ratio


def train_and_evaluate(model, schedule):
    """Data, training and evaluation of one model on ``schedule``: (PSNR dB, wall seconds, noisy PSNR)."""
    started = time.perf_counter()
    data = denoising_patches(PATCH_SIZE, schedule.n_train, schedule.n_test, SIGMA, seed=0)
    training = Training(model, schedule)
    for noisy_input, noisy_target in noise2noise_batches(data, BATCH_SIZE, schedule.steps):
        training.step(noisy_input, noisy_target)
    quality = evaluate(model, data.test_noisy, data.test_clean)
    return quality, time.perf_counter() - started, psnr(data.test_noisy, data.test_clean)


def psnr_comparison(schedule, name):
    epochs = schedule.steps * BATCH_SIZE / schedule.n_train
    print(f"\n3. PSNR on {schedule.n_test} held-out patches, schedule {name}: {schedule.steps} steps of {BATCH_SIZE} "
          f"({epochs:.1f} epochs of {schedule.n_train} patches), sigma {SIGMA}")
    torch.manual_seed(0)
    model = make_denoiser()
    twin = torch_twin(model)
    ours, ours_seconds, noisy = train_and_evaluate(model, schedule)
    theirs, torch_seconds, _ = train_and_evaluate(twin, schedule)
    print(f"   noisy input {noisy:.2f} dB")
    print(f"   course_lib  {ours:.2f} dB (+{ours - noisy:.2f}) in {ours_seconds:.0f} s")
    print(f"   torch twin  {theirs:.2f} dB (+{theirs - noisy:.2f}) in {torch_seconds:.0f} s")
    return ours, theirs, noisy, ours_seconds


def notebook_times():
    print("\n4. Notebooks, executed top to bottom (s)")
    slowest = 0.0
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        _, seconds = execute(path)
        slowest = max(slowest, seconds)
        print(f"   {path.name:<48} {seconds:6.1f}")
    return slowest


def goal(text, met):
    print(f"   [{'met' if met else 'MISSED'}] {text}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch threads here and in the notebook kernels (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats per measurement")
    parser.add_argument("--schedule", choices=["short", "full"], default="full", help="schedule for the PSNR part")
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--quick", action="store_true", help="same as --schedule short --repeats 5 --skip-notebooks")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is, instead of keeping freed memory as the notebooks do")
    args = parser.parse_args()
    if args.quick:
        args.schedule, args.repeats, args.skip_notebooks = "short", 5, True
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the notebook kernels

    kept = not args.default_malloc and keep_freed_memory()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical cores; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; Python {platform.python_version()}; malloc keeps freed memory "
          f"(course_lib.notebook.keep_freed_memory): {'yes' if kept else 'no'}")
    worst_layer = layer_ratios(args.repeats)
    step = step_ratio(args.repeats)
    ours, theirs, noisy, seconds = psnr_comparison(FULL if args.schedule == "full" else SHORT, args.schedule)
    slowest = None if args.skip_notebooks else notebook_times()

    print("\nGoals")
    goal(f"every convolution <= {GOAL_RATIO}x torch (worst {worst_layer:.2f}x)", worst_layer <= GOAL_RATIO)
    goal(f"training step <= {GOAL_RATIO}x torch ({step:.2f}x)", step <= GOAL_RATIO)
    goal(f"PSNR within {GOAL_PSNR_GAP_DB} dB of the twin ({ours - theirs:+.2f} dB)",
         abs(ours - theirs) <= GOAL_PSNR_GAP_DB)
    goal(f"at least +{GOAL_GAIN_DB:g} dB over the noisy input within {GOAL_SECONDS} s "
         f"(+{ours - noisy:.2f} dB in {seconds:.0f} s)", ours - noisy >= GOAL_GAIN_DB and seconds <= GOAL_SECONDS)
    if slowest is not None:
        goal(f"every notebook within 60 s (slowest {slowest:.1f} s)", slowest <= 60)


if __name__ == "__main__":
    main()
