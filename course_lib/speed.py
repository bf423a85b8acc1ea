"""Speed reports: how long your exercise takes at the capstone's shapes, beside torch's own, said in words.

    from course_lib.speed import speed_report
    speed_report("conv2d.backward")      # in a notebook; an id prefix ("conv2d") reports each stage
    speed_report()                       # every exercise the capstone's training step runs

    course-lib check conv2d.backward --speed      # the check's report, then this one

A report times one capstone training step's worth of calls of the exercise (notebook 09: the layers of the
denoiser in course_lib/denoiser.py, batch 32 of 32x32 patches), yours and torch's own twin of it, alternately
so that both see the same load. It says how much longer yours takes, what that costs over the capstone's
100 steps and the full schedule's 1,875, and, when yours is slow, the likely cause. The cause is found by
counting the torch operations your code runs on small inputs: a count that grows with the batch, the
image or the channels is a Python loop over them, and a growing number of torch.cat / .clone() calls a
copy inside such a loop. Reports never fail a check: correctness is the checker's business.

A run whose small inputs predict more than ``FULL_SIZE_BUDGET_SECONDS`` at the capstone's size is not run
there: the report gives the prediction, marked as estimated. Everything takes a clock (default
time.perf_counter), so tests can measure in counted operations instead of seconds.

Infrastructure: exercise code never imports this module.
"""

import html
import math
import statistics
import textwrap
import time
from dataclasses import dataclass, field
from functools import partial

import torch
from torch.overrides import TorchFunctionMode

from course_lib import exercises as registry
from course_lib.denoiser import BATCH_SIZE, FULL, NEGATIVE_SLOPE, PATCH_SIZE, SHORT, TORCH_LAYERS, WIDTH, build

# Times torch's time: as close as code written one tensor operation at a time gets; and the most the
# course's own solutions take for any exercise at the capstone's shapes (benchmarks/run.py measures both).
CLOSE_RATIO = 1.5
USUAL_RATIO = 4
FULL_SIZE_BUDGET_SECONDS = 5.0
REPEATS = 5
WARMUP = 1
TIMING_BUDGET_SECONDS = 3.0  # stop repeating once a measurement has taken this long
WRAP = 100  # characters per line of a report
# Operations that copy a whole tensor: called inside a loop, each iteration copies again.
COPYING = {torch.cat, torch.concat, torch.concatenate, torch.stack, torch.hstack, torch.vstack, torch.Tensor.clone,
           torch.clone, torch.Tensor.contiguous, torch.Tensor.repeat, torch.Tensor.copy_}


@dataclass(frozen=True)
class Scale:
    """The size of the capstone's network and batch: ``batch`` patches of ``side`` x ``side`` pixels, ``width``
    channels at full resolution (twice as many at a quarter). ``side`` must be a multiple of 4."""

    batch: int
    side: int
    width: int

    def describe(self):
        return f"batch {self.batch} of {self.side}x{self.side} patches"


CAPSTONE = Scale(BATCH_SIZE, PATCH_SIZE, WIDTH)
# The small inputs that reveal loops: the smallest network, then each of its sizes doubled.
PROBE = Scale(1, 8, 4)
DOUBLED = {"samples": Scale(2, 8, 4), "pixels": Scale(1, 16, 4), "channels": Scale(1, 8, 8)}
# How many times each doubled size multiplies what a loop over it runs: samples, pixels (the area) and
# channels.
DOUBLING = {"samples": 2, "pixels": 4, "channels": 2}


def to_capstone(kind):
    """How many times the capstone's size of ``kind`` is the probe's."""
    return {"samples": CAPSTONE.batch / PROBE.batch, "pixels": (CAPSTONE.side / PROBE.side) ** 2,
            "channels": CAPSTONE.width / PROBE.width}[kind]


# --- the capstone's calls of each exercise --------------------------------------------------------------

@dataclass
class Capstone:
    """What one training step of the capstone's network runs, at one Scale, recorded from a forward pass
    of its torch twin (course_lib/denoiser.py, built from torch.nn).

    layers: (torch layer, input shape, output shape) for every Conv2d, ConvTranspose2d and LeakyReLU,
        in the order forward calls them
    output_shape: the network's output, (batch, 3, side, side), which the loss compares
    parameter_shapes: the shape of every parameter, in the model's order
    """

    layers: list
    output_shape: tuple
    parameter_shapes: list

    def of(self, kind):
        return [(layer, input_shape, output_shape) for layer, input_shape, output_shape in self.layers
                if isinstance(layer, kind)]


def capstone(scale):
    """The Capstone at ``scale``: the twin runs once on zeros and hooks record every layer's shapes."""
    twin = build(TORCH_LAYERS, scale.width, NEGATIVE_SLOPE)
    layers = []

    def record(layer, inputs, output):
        layers.append((layer, tuple(inputs[0].shape), tuple(output.shape)))

    hooks = [layer.register_forward_hook(record) for layer in twin.modules()
             if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.LeakyReLU))]
    with torch.no_grad():
        output = twin(torch.zeros(scale.batch, 3, scale.side, scale.side))
    for hook in hooks:
        hook.remove()
    return Capstone(layers, tuple(output.shape), [tuple(p.shape) for p in twin.parameters()])


def course_layer(package, torch_layer):
    """The course_lib twin of a torch Conv2d or ConvTranspose2d from ``package``, with the same weights."""
    layer = getattr(package.nn, type(torch_layer).__name__)(
        torch_layer.in_channels, torch_layer.out_channels, torch_layer.kernel_size, stride=torch_layer.stride,
        padding=torch_layer.padding)
    layer.load_state_dict(torch_layer.state_dict())
    return layer


@dataclass
class Call:
    """One call to time: ``prepare()`` (not timed: a forward pass a backward needs), then ``run()``."""

    run: object
    prepare: object = None


@dataclass
class Workload:
    """Every call of one exercise in one capstone step: ``ours`` (the student's code) and ``theirs`` (torch's
    own), and ``what`` it covers, in words ("the 5 Conv2d layers")."""

    ours: list
    theirs: list
    what: str


def layer_calls(package, capstone_at, kind, stage):
    """The forward or backward calls of every ``kind`` layer (torch.nn.Conv2d, ...) of the capstone."""
    ours, theirs = [], []
    for torch_layer, input_shape, output_shape in capstone_at.of(kind):
        layer = course_layer(package, torch_layer) if kind is not torch.nn.LeakyReLU \
            else package.nn.LeakyReLU(torch_layer.negative_slope)
        x, grad_output = torch.randn(input_shape), torch.randn(output_shape)
        if stage == "forward":
            # Each forward saves what its backward would need: forget it, as a backward would.
            ours.append(Call(partial(layer, x), prepare=layer.clear_saved))
            theirs.append(Call(partial(torch_layer, x)))
        else:
            ours.append(Call(partial(layer.backward, grad_output), prepare=partial(layer, x)))
            theirs.append(torch_backward(torch_layer, x, grad_output))
    return ours, theirs


def torch_backward(torch_module, x, grad_output, *more_inputs):
    """A Call of autograd's backward through ``torch_module(x, *more_inputs)``, forward in prepare."""
    graph = {}
    x = x.clone().requires_grad_()  # course_lib always returns the input's gradient: so does torch here

    def forward():
        graph["output"] = torch_module(x, *more_inputs)

    return Call(lambda: graph["output"].backward(grad_output), prepare=forward)


def function_calls(package, capstone_at, name):
    """unfold or fold, once per convolution of the capstone, where the course's layers call them: unfold on
    a Conv2d's input and a ConvTranspose2d's output gradient, fold back to those sizes."""
    ours, theirs = [], []
    for torch_layer, input_shape, output_shape in capstone_at.of((torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        geometry = dict(kernel_size=torch_layer.kernel_size, dilation=torch_layer.dilation,
                        padding=torch_layer.padding, stride=torch_layer.stride)
        image_shape = input_shape if isinstance(torch_layer, torch.nn.Conv2d) else output_shape
        image = torch.randn(image_shape)
        if name == "unfold":
            arguments = (image,)
        else:
            arguments = (torch.randn(torch.nn.functional.unfold(image, **geometry).shape), image_shape[2:])
        ours.append(Call(partial(getattr(package.nn, name), *arguments, **geometry)))
        theirs.append(Call(partial(getattr(torch.nn.functional, name), *arguments, **geometry)))
    return ours, theirs


def loss_calls(package, capstone_at, stage):
    """MSELoss on the network's output, as the capstone's training step computes it."""
    loss, torch_loss = package.nn.MSELoss(), torch.nn.MSELoss()
    output, target = torch.randn(capstone_at.output_shape), torch.randn(capstone_at.output_shape)
    if stage == "forward":
        return [Call(partial(loss, output, target), prepare=loss.clear_saved)], \
            [Call(partial(torch_loss, output, target))]
    return [Call(loss.backward, prepare=partial(loss, output, target))], \
        [torch_backward(torch_loss, output, torch.tensor(1.0), target)]


def adam_calls(package, capstone_at):
    """One Adam step over the capstone's parameters, each with a random gradient."""
    values = [torch.randn(shape) for shape in capstone_at.parameter_shapes]
    parameters = [package.nn.Parameter(value.clone()) for value in values]
    torch_parameters = [torch.nn.Parameter(value.clone()) for value in values]
    for parameter, torch_parameter in zip(parameters, torch_parameters):
        parameter.grad = torch.randn(parameter.shape)
        torch_parameter.grad = parameter.grad.clone()
    return [Call(package.optim.Adam(parameters).step)], [Call(torch.optim.Adam(torch_parameters).step)]


def workload(exercise_id, package, scale):
    """The Workload of ``exercise_id`` (one of TIMED) at ``scale``."""
    capstone_at = capstone(scale)
    name, _, stage = exercise_id.partition(".")
    kinds = {"conv2d": (torch.nn.Conv2d, "Conv2d layers"),
             "conv_transpose2d": (torch.nn.ConvTranspose2d, "ConvTranspose2d layers"),
             "leaky_relu": (torch.nn.LeakyReLU, "LeakyReLUs")}
    if name in kinds:
        kind, what = kinds[name]
        ours, theirs = layer_calls(package, capstone_at, kind, stage)
        return Workload(ours, theirs, f"{stage} of the {len(ours)} {what}")
    if name in ("unfold", "fold"):
        ours, theirs = function_calls(package, capstone_at, name)
        return Workload(ours, theirs, f"{name} at the geometry of each of the {len(ours)} convolutions")
    if name == "mse_loss":
        return Workload(*loss_calls(package, capstone_at, stage), f"{stage} of the loss on the network's output")
    if name == "adam":
        return Workload(*adam_calls(package, capstone_at), "one step over the network's parameters")
    raise ValueError(f"{exercise_id} is not an exercise the capstone's training step runs: {', '.join(TIMED)}.")


TIMED = ("unfold", "fold", "conv2d.forward", "conv2d.backward", "conv_transpose2d.forward",
         "conv_transpose2d.backward", "leaky_relu.forward", "leaky_relu.backward", "mse_loss.forward",
         "mse_loss.backward", "adam.step")
# The containers run the layers inside them: their own time is a loop over a handful of modules.
CONTAINERS = ("sequential.forward", "sequential.backward", "residual.forward", "residual.backward")


# --- measuring -------------------------------------------------------------------------------------------

class OperationCounter(TorchFunctionMode):
    """Counts the torch functions and tensor methods called while active, and those of them that copy."""

    def __init__(self):
        super().__init__()
        self.operations = 0
        self.copies = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.operations += 1
        self.copies += func in COPYING
        return func(*args, **(kwargs or {}))


def run_calls(calls, clock=time.perf_counter, counter=None):
    """Seconds the ``run`` parts of ``calls`` take in all (each ``prepare`` first, untimed), counting the
    torch operations of the runs into ``counter`` when one is given."""
    total = 0.0
    for call in calls:
        if call.prepare is not None:
            call.prepare()
        started = clock()
        if counter is None:
            call.run()
        else:
            with counter:
                call.run()
        total += clock() - started
    return total


def alternate(ours, theirs, clock=time.perf_counter, repeats=REPEATS):
    """Median seconds of ``ours`` and ``theirs`` (lists of Calls), run alternately after WARMUP runs each;
    repeats stop early, after one at least, once everything (warm-up and untimed forward passes included)
    has taken TIMING_BUDGET_SECONDS."""
    times = ([], [])
    started = clock()
    for run in range(WARMUP + repeats):
        for calls, kept in zip((ours, theirs), times):
            seconds = run_calls(calls, clock)
            if run >= WARMUP:
                kept.append(seconds)
        if run >= WARMUP and clock() - started > TIMING_BUDGET_SECONDS:
            break
    return statistics.median(times[0]), statistics.median(times[1])


@dataclass
class Probe:
    """The student's code on one small Scale: the torch operations it runs, how many of them copy a whole
    tensor, and its seconds (the median of ``repeats`` runs)."""

    operations: int
    copies: int
    seconds: float


def probe(exercise_id, package, scale, clock=time.perf_counter, repeats=3):
    """A Probe of the student's calls of ``exercise_id`` at ``scale``."""
    calls = workload(exercise_id, package, scale).ours
    counter = OperationCounter()
    run_calls(calls, clock, counter)
    seconds = statistics.median(run_calls(calls, clock) for _ in range(repeats))
    return Probe(counter.operations, counter.copies, seconds)


def probes(exercise_id, package, clock=time.perf_counter):
    """(the Probe at PROBE, {size: the Probe with that size doubled} for each size of DOUBLED)."""
    return (probe(exercise_id, package, PROBE, clock),
            {kind: probe(exercise_id, package, scale, clock) for kind, scale in DOUBLED.items()})


def predicted_seconds(base, doubled):
    """The seconds the capstone's size would take, from the probes: the operations grow with each size as
    they did from the probe to its double (a power law, so nested loops multiply), at the probe's time per
    operation. Meant for loops, whose time follows their operations; it underestimates vectorised code."""
    if base.operations == 0:
        return base.seconds
    operations = base.operations
    for kind, grown in doubled.items():
        exponent = math.log(max(grown.operations, base.operations) / base.operations) / math.log(DOUBLING[kind])
        operations *= to_capstone(kind) ** exponent
    return base.seconds * operations / base.operations


# What a loop runs over, for each size that grows, by exercise (default: DEFAULT_LOOPS); and what to do.
DEFAULT_LOOPS = {"samples": "the samples of the batch", "pixels": "pixels (or patch positions)",
                 "channels": "channels"}
ELEMENTWISE_LOOPS = {"samples": "elements", "pixels": "elements", "channels": "elements"}
LOOPS = {"leaky_relu": ELEMENTWISE_LOOPS, "mse_loss": ELEMENTWISE_LOOPS,
         "adam": {"channels": "the elements of each parameter"}}
SIZE_CHANGES = {"samples": f"doubling the batch ({PROBE.batch} to {DOUBLED['samples'].batch})",
                "pixels": f"doubling the image side ({PROBE.side} to {DOUBLED['pixels'].side} pixels)",
                "channels": f"doubling the channels ({PROBE.width} to {DOUBLED['channels'].width} at full "
                            "resolution)"}
ADVICE = {
    "samples": "Let each tensor operation work on the whole batch at once: the batch is just the first "
               "dimension, and matrix products (@) and broadcasting handle it.",
    "pixels": "Work on whole images: cut all patches with slices or one strided view (unfold), then one "
              "matrix product; a loop over the kernel's kh * kw offsets is fine, one over pixels is not.",
    "channels": "Let the matrix product handle the channels: reshape the weights to a matrix instead of "
                "looping over them.",
    "elements": "Write it as operations on whole tensors (elementwise arithmetic, comparisons, clamp): "
                "torch runs them over every element at once.",
}
COPY_ADVICE = ("Inside it, every iteration copies a tensor (torch.cat, torch.stack, .clone(), .contiguous(), "
               "copy_ or .repeat()); growing a result by torch.cat copies everything gathered so far each time. ")
NO_LOOP = ("no Python loop over samples, pixels or channels: your code runs the same {operations} torch "
           "operations whatever the size. The time goes into those operations: look for large temporary "
           "tensors and copies (.contiguous(), .clone(), torch.cat) that the notebook's method does without.")


def likely_cause(exercise_id, base, doubled):
    """The loops that likely slow the student's code down, in words, from the probes (the sizes their
    operations grow with); None when the number of operations does not grow."""
    loops = LOOPS.get(exercise_id.split(".")[0], DEFAULT_LOOPS)
    growing = [kind for kind, grown in doubled.items() if grown.operations > base.operations and kind in loops]
    if not growing:
        return None
    over = " and ".join(dict.fromkeys(loops[kind] for kind in growing))
    changes = "; ".join(f"{SIZE_CHANGES[kind]} adds {doubled[kind].operations - base.operations:,}"
                        for kind in growing)
    text = (f"a Python loop over {over}: your code runs {base.operations:,} torch operations on the smallest "
            f"input, and {changes}. ")
    if any(doubled[kind].copies > base.copies for kind in growing):
        text += COPY_ADVICE
    advice = dict.fromkeys(ADVICE["elements"] if "elements" in loops[kind] else ADVICE[kind] for kind in growing)
    return text + " ".join(advice)


# --- the report --------------------------------------------------------------------------------------------

@dataclass
class SpeedReport:
    """How one exercise's code compares with torch at the capstone's shapes (``str()`` says it in words).

    yours, theirs: seconds per capstone training step (yours estimated from small inputs when ``estimated``)
    cause: the loops that likely slow it down, in words, or None; operations: the torch operations it runs
    on the smallest input; status: "timed", "not done", "error" (then ``message`` says what was raised) or
    "not timed" (``message`` says why)
    """

    exercise_id: str
    status: str
    what: str = ""
    yours: float = None
    theirs: float = None
    estimated: bool = False
    cause: str = None
    operations: int = 0
    message: str = ""

    @property
    def ratio(self):
        return self.yours / self.theirs

    def verdict(self):
        """How much slower, in words."""
        ratio = self.ratio
        if ratio < 1:
            return f"Yours is faster than torch's here: {ratio:.2g} times its time."
        times = f"{ratio:.2g}" if ratio < 10 else f"{ratio:,.0f}"
        if ratio <= CLOSE_RATIO:
            return f"Yours takes {times} times as long as torch's: as fast as can be expected."
        if ratio <= USUAL_RATIO:
            return (f"Yours takes {times} times as long as torch's, as code written one tensor operation at a "
                    f"time often does (torch does some steps in one pass); the course's own solutions take up to "
                    f"about {USUAL_RATIO:g} times torch's time.")
        return (f"Yours takes {times} times as long as torch's: much slower than it needs to be (the course's "
                f"own solutions take at most about {USUAL_RATIO:g} times torch's time).")

    def capstone_cost(self):
        """What the exercise costs over the capstone's schedules, yours and torch's."""
        return (f"Over the capstone's {SHORT.steps} training steps (notebook 09) this part would take "
                f"{duration(self.yours * SHORT.steps)} (torch: {duration(self.theirs * SHORT.steps)}); over the "
                f"full schedule's {FULL.steps:,} steps {duration(self.yours * FULL.steps)} "
                f"(torch: {duration(self.theirs * FULL.steps)}).")

    def paragraphs(self):
        title = f"Speed of {self.exercise_id}"
        if self.status != "timed":
            return [f"{title}: {self.message}"]
        how = ", estimated from smaller inputs: too slow to run at full size" if self.estimated else ""
        paragraphs = [f"{title} at the capstone's shapes: {self.what}, {CAPSTONE.describe()}.",
                      f"  yours {milliseconds(self.yours)} per training step{how}",
                      f"  torch {milliseconds(self.theirs)}",
                      self.verdict(), self.capstone_cost()]
        if self.cause is not None and self.ratio > CLOSE_RATIO:
            paragraphs.append(f"Likely cause: {self.cause}")
        elif self.cause is None and self.ratio > USUAL_RATIO:
            paragraphs.append(f"Likely cause: {NO_LOOP.format(operations=f'{self.operations:,}')}")
        return paragraphs

    def __str__(self):
        first, *rest = self.paragraphs()
        return "\n".join([first] + [paragraph if paragraph.startswith("  ") else
                                     textwrap.fill(paragraph, WRAP, initial_indent="  ", subsequent_indent="  ")
                                     for paragraph in rest])

    def _repr_html_(self):
        return f"<pre>{html.escape(str(self))}</pre>"

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


@dataclass
class SpeedReports:
    """Several SpeedReports, printed one after the other."""

    reports: list = field(default_factory=list)

    def __str__(self):
        return "\n\n".join(str(report) for report in self.reports)

    def _repr_html_(self):
        return f"<pre>{html.escape(str(self))}</pre>"

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def milliseconds(seconds):
    """Right-aligned, with three significant digits below 100 ms: "   0.0523 ms", "  14.2 ms", "1,203 ms"."""
    value = 1000 * seconds
    return f"{value:10,.0f} ms" if value >= 100 else f"{value:10.3g} ms"


def duration(seconds):
    """A duration in words: "0.4 s", "25 s", "3 min", "2.5 h"."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def measure(exercise_id, package=None, clock=time.perf_counter):
    """The SpeedReport of one exercise (an exact id) of ``package`` (default: the course_lib imported)."""
    package = package or default_package()
    if exercise_id in CONTAINERS:
        return SpeedReport(exercise_id, "not timed", message="a container's time is that of the modules inside "
                                                             "it; see their reports.")
    if exercise_id not in TIMED:
        return SpeedReport(exercise_id, "not timed", message="the capstone's training step does not run it, so "
                                                             "there is no capstone shape to time it at.")
    try:
        base, doubled = probes(exercise_id, package, clock)
        predicted = predicted_seconds(base, doubled)
        full = workload(exercise_id, package, CAPSTONE)
        if predicted > FULL_SIZE_BUDGET_SECONDS:
            yours, theirs = predicted, statistics.median(run_calls(full.theirs, clock) for _ in range(3))
        else:
            yours, theirs = alternate(full.ours, full.theirs, clock)
    except NotImplementedError as error:
        return SpeedReport(exercise_id, "not done", message="not done yet, so there is nothing to time.")
    except Exception as error:  # the student's code is reported on, never allowed to stop the report
        return SpeedReport(exercise_id, "error", message=f"your code raised {type(error).__name__}: {error} "
                                                         "(run course-lib check for the details).")
    return SpeedReport(exercise_id, "timed", full.what, yours, theirs, estimated=predicted > FULL_SIZE_BUDGET_SECONDS,
                       cause=likely_cause(exercise_id, base, doubled), operations=base.operations)


def default_package():
    import course_lib

    return course_lib


def speed_report(*exercise_ids, package=None, clock=time.perf_counter):
    """SpeedReports for the exercises named (ids or prefixes, as course-lib check takes them), or, with
    none, for every exercise a capstone training step runs. Prints as text.

    Sets the C allocator as every course notebook sets it (course_lib.notebook.keep_freed_memory), so that
    a terminal's report times what the capstone's notebook runs.
    """
    from course_lib.notebook import keep_freed_memory

    keep_freed_memory()
    selected = [exercise.id for prefix in exercise_ids for exercise in registry.select(prefix)] \
        if exercise_ids else list(TIMED)
    return SpeedReports([measure(exercise_id, package, clock) for exercise_id in selected])
