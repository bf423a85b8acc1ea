"""The speed report (course_lib/speed.py): its words for given timings, the causes it finds in slow code
written as students write it (tests/slow_code.py), and `course-lib check --speed`.

No test here depends on how fast anything runs: reports are built from given seconds, or measured with a
clock that counts torch operations instead of seconds.
"""

import torch
from torch.overrides import TorchFunctionMode

import course_lib
from course_lib import cli, speed
from course_lib.denoiser import FULL, SHORT
from course_lib.speed import (DOUBLED, PROBE, OperationCounter, Probe, SpeedReport, likely_cause, measure,
                              predicted_seconds, speed_report)
from slow_code import SLOW_CONV2D_FORWARD
from test_mistakes import copy_with

NOT_DONE = [("nn/conv.py", "        N, _, H, W = input.shape\n        columns = unfold(",
             '        raise NotImplementedError("Exercise conv2d.forward is not done yet")\n        columns = unfold(')]


def timed(yours, theirs, cause=None, estimated=False):
    return SpeedReport("conv2d.backward", "timed", "backward of the 5 Conv2d layers", yours, theirs, estimated, cause,
                       operations=1234)


def test_the_verdict_says_how_much_longer_in_words():
    assert "faster than torch's here: 0.8 times its time" in str(timed(0.008, 0.010))
    assert "takes 1.2 times as long as torch's: as fast as can be expected" in str(timed(0.012, 0.010))
    usual = str(timed(0.030, 0.010))
    assert "takes 3 times as long as torch's, as code written one tensor operation at a time often does" in usual
    assert "much slower" not in usual
    slow = str(timed(1.5, 0.010))
    assert "takes 150 times as long as torch's: much slower than it needs to be" in slow


def test_the_capstone_cost_is_the_time_per_step_times_its_steps():
    text = str(timed(0.5, 0.002))
    assert f"Over the capstone's {SHORT.steps} training steps (notebook 09) this part would take 50 s " \
           "(torch: 0.2 s)" in text
    assert f"over the full schedule's {FULL.steps:,} steps 16 min (torch: 3.8 s)" in " ".join(text.split())
    assert "yours        500 ms per training step\n" in text and "torch          2 ms\n" in text


def test_a_cause_is_given_only_when_the_code_is_slow_and_an_estimate_says_so():
    assert "Likely cause: a loop" in str(timed(0.5, 0.002, cause="a loop"))
    assert "Likely cause" not in str(timed(0.0021, 0.002, cause="a loop"))
    # Without a loop, a few times torch is what tensor-by-tensor code takes: no cause to report.
    assert "Likely cause" not in str(timed(0.006, 0.002))
    no_loop = " ".join(str(timed(0.5, 0.002)).split())
    assert "Likely cause: no Python loop over samples, pixels or channels: your code runs the same 1,234 torch " \
           "operations whatever the size." in no_loop
    assert "estimated from smaller inputs" in str(timed(50.0, 0.002, estimated=True))
    assert "estimated" not in str(timed(0.5, 0.002))


def test_exercises_outside_the_capstone_containers_and_unfinished_ones_say_why_they_are_not_timed(tmp_path):
    assert "does not run it" in str(measure("relu.forward"))
    assert "a container's time is that of the modules inside it" in str(measure("residual.backward"))
    report = measure("conv2d.forward", copy_with(tmp_path, NOT_DONE))
    assert report.status == "not done" and "not done yet" in str(report)


def test_code_that_raises_at_the_capstones_shapes_is_reported_not_raised(tmp_path):
    broken = [("nn/conv.py", "        return output.reshape(self.out_channels, out_h, out_w, N).permute(3, 0, 1, 2)\n",
               "        return output.reshape(N, N, N)\n")]
    report = measure("conv2d.forward", copy_with(tmp_path, broken))
    assert report.status == "error" and "your code raised RuntimeError" in str(report)


def probe(operations, copies=0, seconds=0.001):
    return Probe(operations, copies, seconds)


def test_a_loop_is_named_by_the_sizes_its_operations_grow_with():
    base = probe(100)
    flat = {kind: probe(100) for kind in DOUBLED}
    assert likely_cause("conv2d.forward", base, flat) is None
    samples = likely_cause("conv2d.forward", base, {**flat, "samples": probe(130)})
    assert samples.startswith("a Python loop over the samples of the batch: your code runs 100 torch operations "
                              "on the smallest input, and doubling the batch (1 to 2) adds 30.")
    assert "copies" not in samples and "whole batch" in samples
    nested = likely_cause("conv2d.forward", base, {**flat, "samples": probe(200), "pixels": probe(400)})
    assert "over the samples of the batch and pixels (or patch positions)" in nested
    assert "whole batch" in nested and "Work on whole images" in nested
    copying = likely_cause("conv2d.forward", probe(100, copies=5), {**flat, "samples": probe(130, copies=10)})
    assert "every iteration copies a tensor (torch.cat" in copying
    assert "over elements" in likely_cause("leaky_relu.backward", base, {**flat, "pixels": probe(400)})
    assert "over the elements of each parameter" in likely_cause("adam.step", base, {**flat, "channels": probe(400)})


def test_the_prediction_multiplies_the_growth_of_nested_loops():
    # Operations of k * samples * pixels: doubling the batch doubles them, doubling the side quadruples them.
    base, doubled = probe(100, seconds=0.01), {"samples": probe(200), "pixels": probe(400), "channels": probe(100)}
    growth = (32 / PROBE.batch) * (32 / PROBE.side) ** 2  # the capstone's batch and area over the probe's
    assert abs(predicted_seconds(base, doubled) - 0.01 * growth) < 1e-12
    assert predicted_seconds(base, {kind: probe(100) for kind in DOUBLED}) == 0.01


def test_repeats_stop_after_one_timed_run_once_the_time_budget_is_spent():
    runs = []
    seconds = iter(range(0, 10_000, 10))  # every reading of the clock is 10 s later

    def clock():
        return next(seconds)

    ours, theirs = [speed.Call(lambda: runs.append("ours"))], [speed.Call(lambda: runs.append("torch"))]
    assert speed.alternate(ours, theirs, clock) == (10, 10)
    assert runs == ["ours", "torch"] * (speed.WARMUP + 1)


def test_operations_and_copies_are_counted():
    counter = OperationCounter()
    x = torch.ones(3)
    with counter:
        y = torch.cat([x, x]) + 1
        y.clone()
    assert (counter.operations, counter.copies) == (3, 2)


class OperationClock(TorchFunctionMode):
    """A clock whose seconds are the torch operations called so far, a microsecond each: code is as slow as
    the operations it runs, the same on every machine."""

    def __init__(self):
        super().__init__()
        self.operations = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.operations += 1
        return func(*args, **(kwargs or {}))

    def __call__(self):
        return self.operations * 1e-6


def test_slow_student_code_is_found_slow_with_its_cause_and_the_reference_has_no_loop(tmp_path, monkeypatch):
    with OperationClock() as clock:
        reference = measure("conv2d.forward", course_lib, clock)
        sample_loop = measure("conv2d.forward", copy_with(
            tmp_path / "samples", SLOW_CONV2D_FORWARD["sample loop with cat"]), clock)
        # Predicted from the small inputs, not run at the capstone's size (which takes seconds).
        monkeypatch.setattr(speed, "FULL_SIZE_BUDGET_SECONDS", 0.0)
        pixel_loop = measure("conv2d.forward", copy_with(tmp_path / "pixels", SLOW_CONV2D_FORWARD["pixel loop"]),
                             clock)
    assert reference.status == pixel_loop.status == sample_loop.status == "timed"
    assert reference.cause is None and reference.operations > 0
    assert not sample_loop.estimated and pixel_loop.estimated and "estimated from smaller inputs" in str(pixel_loop)
    assert pixel_loop.ratio > 100 * reference.ratio and sample_loop.ratio > reference.ratio
    assert "a Python loop over the samples of the batch and pixels (or patch positions)" in pixel_loop.cause
    assert "copies" not in pixel_loop.cause
    assert sample_loop.cause.startswith("a Python loop over the samples of the batch: ")
    assert "torch.cat" in sample_loop.cause


def test_check_with_speed_prints_the_check_then_the_speed_report(capsys, monkeypatch):
    asked = []
    monkeypatch.setattr(speed, "speed_report", lambda *ids: asked.append(ids) or "SPEED REPORT")
    assert cli.main(["check", "conv2d.forward", "--speed"]) == 0
    out = capsys.readouterr().out
    assert out.index("conv2d.forward") < out.index("SPEED REPORT") and asked == [("conv2d.forward",)]
    assert cli.main(["check", "--speed"]) == 0
    assert asked[-1] == () and "SPEED REPORT" in capsys.readouterr().out
    assert cli.main(["check", "conv2d.forward"]) == 0
    assert "SPEED REPORT" not in capsys.readouterr().out and len(asked) == 2


def test_speed_report_selects_exercises_by_prefix_and_prints_each(monkeypatch):
    monkeypatch.setattr(speed, "measure", lambda exercise_id, package, clock: SpeedReport(
        exercise_id, "not timed", message="skipped"))
    report = speed_report("conv2d", "adam")
    assert [r.exercise_id for r in report.reports] == ["conv2d.forward", "conv2d.backward", "adam.step"]
    assert str(report) == ("Speed of conv2d.forward: skipped\n\nSpeed of conv2d.backward: skipped\n\n"
                           "Speed of adam.step: skipped")
    assert [r.exercise_id for r in speed_report().reports] == list(speed.TIMED)
