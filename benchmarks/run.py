"""The course's performance figures, measured in one run on this machine (run by hand; not a test).

    python benchmarks/run.py                # everything: about 12 minutes on 2 cores
    python benchmarks/run.py --quick        # the notebook's short schedule, fewer repeats, no notebooks
    python benchmarks/run.py --threads 1    # as CI runs notebooks (two at once, one thread each)
    python benchmarks/run.py --default-malloc   # without the notebooks' malloc setting (slower course_lib)

Prints the machine, then:
1. Conv2d and ConvTranspose2d, forward + backward, at the capstone's layer shapes (float32): course_lib's
   time divided by torch autograd's, median of repeats (course_lib and torch alternate, so all see the
   same load).
2. The speed levers of the reference solutions (benchmarks/levers.py), each undone in turn: the ratio to
   torch of every layer the lever changes and of the whole training step, without the lever and with it.
3. The capstone's training step (course_lib/denoiser.py) divided by its torch twin's, likewise.
4. The speed report (course_lib/speed.py) of every exercise the training step runs, on the reference
   solutions: each one's time beside torch's at the capstone's shapes.
5. PSNR on held-out photos of both models after the same schedule (same start, same batches), the noisy
   input's PSNR, and each model's wall time for data + training + evaluation.
6. Each notebook's execution time (nbclient, as course_lib/authoring.py runs it; nothing is written).
Then the course's goals, each met or missed: every convolution and the training step at most 1.5x torch
(the aim: 1.3x); every exercise of the speed report within speed.USUAL_RATIO of torch, as the report tells
students; PSNR within 0.1 dB of the twin; at least 5 dB over the noisy input within 5 minutes; every
notebook within 60 s.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from course_lib import nn, optim, speed
from course_lib.authoring import execute
from course_lib.data import denoising_patches
from course_lib.denoiser import (BATCH_SIZE, FULL, PATCH_SIZE, SHORT, SIGMA, Training, build, evaluate,
                                 make_denoiser, noise2noise_batches, torch_twin)
from course_lib.metrics import psnr
from course_lib.notebook import keep_freed_memory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from levers import LEVERS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOAL_RATIO = 1.5
AIM_RATIO = 1.3
GOAL_PSNR_GAP_DB = 0.1
GOAL_GAIN_DB = 5.0
GOAL_SECONDS = 300
WARMUP = 3
NAME_WIDTH = 50
LEVER_WIDTH = 68


def cpu_model():
    """The CPU's name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def alternate(functions, repeats):
    """Median seconds of each of ``functions``, run in turn, after WARMUP runs of each."""
    times = [[] for _ in functions]
    for run in range(WARMUP + repeats):
        for function, kept in zip(functions, times):
            started = time.perf_counter()
            function()
            if run >= WARMUP:
                kept.append(time.perf_counter() - started)
    return [statistics.median(kept) for kept in times]


def describe(layer):
    """"Conv2d(32, 3, 3, stride=1, padding=1)", "LeakyReLU(0.1)": a capstone layer in a few words."""
    if isinstance(layer, torch.nn.LeakyReLU):
        return f"LeakyReLU({layer.negative_slope:g})"
    return (f"{type(layer).__name__}({layer.in_channels}, {layer.out_channels}, {layer.kernel_size[0]}, "
            f"stride={layer.stride[0]}, padding={layer.padding[0]})")


def layer_pass(layers, torch_layer, input_shape, output_shape):
    """Forward + backward of the course_lib twin of ``torch_layer`` built from ``layers`` (a namespace of
    classes, such as course_lib.nn) and of torch's layer with autograd: two functions to time."""
    if isinstance(torch_layer, torch.nn.LeakyReLU):
        ours = layers.LeakyReLU(torch_layer.negative_slope)
    else:
        ours = speed.course_layer(SimpleNamespace(nn=layers), torch_layer)
    x, grad_output = torch.randn(input_shape), torch.randn(output_shape)
    x_ref = x.clone().requires_grad_()

    def course_lib_pass():
        ours(x)
        ours.backward(grad_output)

    def torch_pass():
        torch_layer(x_ref).backward(grad_output)

    return course_lib_pass, torch_pass


def layer_ratios(repeats):
    print(f"\n1. Convolutions, forward + backward, float32, median of {repeats} (ms)")
    print(f"   {'layer':<{NAME_WIDTH}} {'input':<18} {'course_lib':>10} {'torch':>8} {'ratio':>6}")
    ratios = []
    for torch_layer, input_shape, output_shape in speed.capstone(speed.CAPSTONE).of(
            (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        ours_seconds, torch_seconds = alternate(layer_pass(nn, torch_layer, input_shape, output_shape), repeats)
        ratios.append(ours_seconds / torch_seconds)
        print(f"   {describe(torch_layer):<{NAME_WIDTH}} {str(input_shape):<18} {1000 * ours_seconds:>10.2f} "
              f"{1000 * torch_seconds:>8.2f} {ratios[-1]:>6.2f}")
    return max(ratios)


def step_functions(model, adam=optim.Adam):
    """A training step of the course_lib ``model`` (the capstone's network) with the optimiser class ``adam``,
    and one of its torch twin (same weights), on one fixed batch: two functions to time."""
    ours, theirs = Training(model, FULL), Training(torch_twin(model), FULL)
    ours.optimizer = adam(model.parameters(), lr=FULL.learning_rate(0))
    noisy_input, noisy_target = (torch.rand(BATCH_SIZE, 3, PATCH_SIZE, PATCH_SIZE) for _ in range(2))
    return lambda: ours.step(noisy_input, noisy_target), lambda: theirs.step(noisy_input, noisy_target)


def lever_effects(repeats):
    print(f"\n2. Speed levers, each undone in turn: course_lib / torch without the lever and with it, median of "
          f"{repeats}")
    capstone_layers = speed.capstone(speed.CAPSTONE).layers
    for lever in LEVERS:
        print(f"   {lever.words}")
        print(f"      {'(forward + backward)':<{LEVER_WIDTH}} {'without':>8} {'with':>6}")
        changed = [(layer, *shapes) for layer, *shapes in capstone_layers
                   if getattr(lever.layers, type(layer).__name__) is not getattr(nn, type(layer).__name__)]
        for torch_layer, input_shape, output_shape in changed:
            without_pass, torch_pass = layer_pass(lever.layers, torch_layer, input_shape, output_shape)
            with_pass, _ = layer_pass(nn, torch_layer, input_shape, output_shape)
            lever_row(f"{describe(torch_layer)} {input_shape}", (without_pass, with_pass, torch_pass), repeats)
        if lever.adam is not optim.Adam:
            lever_row("Adam step", adam_steps(lever.adam), repeats)
        torch.manual_seed(0)
        without_step, torch_step = step_functions(build(lever.layers), lever.adam)
        torch.manual_seed(0)
        with_step, _ = step_functions(build(nn))
        lever_row("training step", (without_step, with_step, torch_step), repeats)


def lever_row(name, functions, repeats):
    """Time (without the lever, with it, torch) and print the first two as ratios to the third."""
    without_seconds, with_seconds, torch_seconds = alternate(functions, repeats)
    print(f"      {name:<{LEVER_WIDTH}} {without_seconds / torch_seconds:>8.2f} {with_seconds / torch_seconds:>6.2f}")


def adam_steps(adam):
    """One step of ``adam``, of course_lib's Adam and of torch.optim.Adam over the capstone's parameters (with
    random gradients): three functions to time."""
    steps = []
    for optimizer in (adam, optim.Adam):
        ours = [nn.Parameter(torch.randn(shape)) for shape in speed.capstone(speed.CAPSTONE).parameter_shapes]
        for parameter in ours:
            parameter.grad = torch.randn(parameter.shape)
        steps.append(optimizer(ours).step)
    theirs = [torch.nn.Parameter(torch.randn(shape)) for shape in speed.capstone(speed.CAPSTONE).parameter_shapes]
    for parameter in theirs:
        parameter.grad = torch.randn(parameter.shape)
    return (*steps, torch.optim.Adam(theirs).step)


def step_ratio(repeats):
    print(f"\n3. Capstone training step (batch {BATCH_SIZE}, {PATCH_SIZE}x{PATCH_SIZE}), median of {repeats} (ms)")
    torch.manual_seed(0)
    ours_seconds, torch_seconds = alternate(step_functions(make_denoiser()), repeats)
    ratio = ours_seconds / torch_seconds
    print(f"   course_lib {1000 * ours_seconds:.1f}, torch twin {1000 * torch_seconds:.1f}: ratio {ratio:.2f}")
    return ratio


def speed_reports():
    print("\n4. The speed report on the reference solutions (course_lib/speed.py; ms per training step)")
    print(f"   {'exercise':<28} {'course_lib':>10} {'torch':>8} {'ratio':>6}  likely cause")
    ratios = []
    for exercise_id in speed.TIMED:
        report = speed.measure(exercise_id)
        ratios.append(report.ratio)
        cause = "-" if report.cause is None else report.cause[:40]
        print(f"   {exercise_id:<28} {1000 * report.yours:>10.2f} {1000 * report.theirs:>8.2f} "
              f"{report.ratio:>6.2f}  {cause}")
    return max(ratios)


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
    print(f"\n5. PSNR on {schedule.n_test} held-out patches, schedule {name}: {schedule.steps} steps of {BATCH_SIZE} "
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
    print("\n6. Notebooks, executed top to bottom (s)")
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
    lever_effects(args.repeats)
    step = step_ratio(args.repeats)
    worst_exercise = speed_reports()
    ours, theirs, noisy, seconds = psnr_comparison(FULL if args.schedule == "full" else SHORT, args.schedule)
    slowest = None if args.skip_notebooks else notebook_times()

    print("\nGoals")
    goal(f"every convolution <= {GOAL_RATIO}x torch (worst {worst_layer:.2f}x)", worst_layer <= GOAL_RATIO)
    goal(f"training step <= {GOAL_RATIO}x torch ({step:.2f}x)", step <= GOAL_RATIO)
    goal(f"aim: every convolution <= {AIM_RATIO}x torch (worst {worst_layer:.2f}x)", worst_layer <= AIM_RATIO)
    goal(f"aim: training step <= {AIM_RATIO}x torch ({step:.2f}x)", step <= AIM_RATIO)
    goal(f"every exercise of the speed report within {speed.USUAL_RATIO}x torch, as the report tells students "
         f"(worst {worst_exercise:.2f}x)", worst_exercise <= speed.USUAL_RATIO)
    goal(f"PSNR within {GOAL_PSNR_GAP_DB} dB of the twin ({ours - theirs:+.2f} dB)",
         abs(ours - theirs) <= GOAL_PSNR_GAP_DB)
    goal(f"at least +{GOAL_GAIN_DB:g} dB over the noisy input within {GOAL_SECONDS} s "
         f"(+{ours - noisy:.2f} dB in {seconds:.0f} s)", ours - noisy >= GOAL_GAIN_DB and seconds <= GOAL_SECONDS)
    if slowest is not None:
        goal(f"every notebook within 60 s (slowest {slowest:.1f} s)", slowest <= 60)


if __name__ == "__main__":
    main()
