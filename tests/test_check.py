"""The checker: deliberately wrong modules are caught and their mistake is named; right ones pass.

Each wrong module below makes one classic mistake. It is checked the way a student's code is, through
check_exercise on a package whose class is replaced (or check_module / check_numerically /
check_optimizer), and the test asserts the report fails and names the mistake.
"""

import functools
import html
import importlib.util
import math
import types

import pytest
import torch

import course_lib
from course_lib import nn, optim
from course_lib.check import (CATALOGUE, advice_for, check_exercise, check_module, check_numerically,
                              check_optimizer, compare, hint, make_trial, run_reference, student_side)
from course_lib.check.report import CaseReport, Report, Row
from course_lib.exercises import TorchResidual, get


def package_with(replacements):
    """course_lib with some objects replaced, e.g. {"nn.Tanh": WrongTanh, "nn.init.zeros_": wrong_zeros}."""
    package = types.SimpleNamespace(nn=types.SimpleNamespace(**vars(course_lib.nn)),
                                    optim=types.SimpleNamespace(**vars(course_lib.optim)))
    package.nn.init = types.SimpleNamespace(**vars(course_lib.nn.init))
    for path, value in replacements.items():
        *owners, name = path.split(".")
        setattr(functools.reduce(getattr, owners, package), name, value)
    return package


def check_wrong(exercise_id, path, wrong):
    return check_exercise(exercise_id, package_with({path: wrong}))


def hint_ids(report):
    return {hint.id for hint in report.hints}


def assert_caught(report, hint_id):
    """The report fails, names the mistake ``hint_id`` and shows its name and text, as text and HTML."""
    assert not report.passed
    assert hint_id in hint_ids(report), str(report)
    found = CATALOGUE[hint_id]
    for shown in (str(report), report._repr_html_()):
        assert found.name in html.unescape(shown) and found.cause[:40] in html.unescape(shown)


# --- wrong modules, one mistake each ----------------------------------------------------------------


class NaNReLU(nn.ReLU):
    def forward(self, input):
        return torch.where(input > 0, input, input / 0 * 0)


class ZeroTanh(nn.Tanh):
    def backward(self, grad_output):
        self.saved_for_backward()
        return torch.zeros_like(grad_output)


class MinusTanh(nn.Tanh):
    def backward(self, grad_output):
        return -super().backward(grad_output)


class SigmoidAtOutput(nn.Sigmoid):
    def backward(self, grad_output):
        s = torch.sigmoid(self.saved_for_backward())
        return grad_output * s * (1 - s)


class ReLUWithAttribute(nn.ReLU):
    def forward(self, input):
        self.input = input
        return input.clamp(min=0)

    def backward(self, grad_output):
        return grad_output * (self.input > 0)


class MSEWithoutTwo(nn.MSELoss):
    def backward(self, grad_output=1.0):
        return super().backward(grad_output) / 2


class MSESummedError(nn.MSELoss):
    """Seed 001's derivative: one number, the sum of the per-element gradients, for every element."""

    def backward(self, grad_output=1.0):
        right = super().backward(grad_output)
        return right.sum() * torch.ones_like(right)


class MSESummedErrorOneNumber(nn.MSELoss):
    def backward(self, grad_output=1.0):
        return super().backward(grad_output).sum()


class MSEMeanNotDivided(nn.MSELoss):
    def backward(self, grad_output=1.0):
        return 2 * self.saved_for_backward() * grad_output


class MSEDividedByBatch(nn.MSELoss):
    def backward(self, grad_output=1.0):
        difference = self.saved_for_backward()
        return 2 * difference * grad_output / difference.shape[0]


class LinearWithoutBiasGrad(nn.Linear):
    def backward(self, grad_output):
        input = self.saved_for_backward()
        self.weight.grad += grad_output.reshape(-1, self.out_features).T @ input.reshape(-1, self.in_features)
        return grad_output @ self.weight.data


class LinearOverwritingGrads(nn.Linear):
    def backward(self, grad_output):
        input = self.saved_for_backward()
        self.weight.grad = grad_output.reshape(-1, self.out_features).T @ input.reshape(-1, self.in_features)
        self.bias.grad = grad_output.reshape(-1, self.out_features).sum(dim=0)
        return grad_output @ self.weight.data


class LinearTransposedWeightGrad(nn.Linear):
    def backward(self, grad_output):
        input = self.saved_for_backward()
        self.weight.grad += input.reshape(-1, self.in_features).T @ grad_output.reshape(-1, self.out_features)
        if self.bias is not None:
            self.bias.grad += grad_output.reshape(-1, self.out_features).sum(dim=0)
        return grad_output @ self.weight.data


class LinearPerSampleBiasGrad(nn.Linear):
    def backward(self, grad_output):
        input = self.saved_for_backward()
        self.weight.grad += grad_output.reshape(-1, self.out_features).T @ input.reshape(-1, self.in_features)
        self.bias.grad = self.bias.grad + grad_output
        return grad_output @ self.weight.data


class LinearTransposedGradInput(nn.Linear):
    def backward(self, grad_output):
        return super().backward(grad_output).transpose(0, -1)


class LinearFloat32GradInput(nn.Linear):
    def backward(self, grad_output):
        return super().backward(grad_output).float()


class TanhReturningNothing(nn.Tanh):
    def backward(self, grad_output):
        super().backward(grad_output)


def conv_with_weight(transform):
    class Conv(nn.Conv2d):
        def forward(self, input):
            weight = self.weight.data
            self.weight.data = transform(weight)
            try:
                return super().forward(input)
            finally:
                self.weight.data = weight

    return Conv


class ConvTransposeSwappedChannels(nn.ConvTranspose2d):
    def forward(self, input):
        weight = self.weight.data
        self.weight.data = weight.transpose(0, 1)
        try:
            return super().forward(input)
        finally:
            self.weight.data = weight


class ConvPaddedOnOneSide(nn.Conv2d):
    """Pads 2 * padding on the top and left only: the output is the right size, one pixel off."""

    def forward(self, input):
        (ph, pw), self.padding = self.padding, (0, 0)
        try:
            padded = input.new_zeros(*input.shape[:2], input.shape[2] + 2 * ph, input.shape[3] + 2 * pw)
            padded[:, :, 2 * ph:, 2 * pw:] = input
            return super().forward(padded)
        finally:
            self.padding = (ph, pw)


class SGDIgnoringNesterov(optim.SGD):
    def step(self):
        nesterov, self.nesterov = self.nesterov, False
        super().step()
        self.nesterov = nesterov


class SGDWeightDecayWrongSign(optim.SGD):
    def step(self):
        for parameter in self.params:
            parameter.data -= self.lr * (parameter.grad - self.weight_decay * parameter.data)


# --- each fingerprint is caught and named ----------------------------------------------------------


@pytest.mark.parametrize("exercise_id, path, wrong, hint_id", [
    ("relu.forward", "nn.ReLU", NaNReLU, "any/nan"),
    ("tanh.backward", "nn.Tanh", ZeroTanh, "any/all-zeros"),
    ("tanh.backward", "nn.Tanh", MinusTanh, "any/sign-flipped"),
    ("sigmoid.backward", "nn.Sigmoid", SigmoidAtOutput, "sigmoid.backward/derivative-at-output"),
    ("relu.backward", "nn.ReLU", ReLUWithAttribute, "any/input-in-attribute"),
    ("mse_loss.backward", "nn.MSELoss", MSEWithoutTwo, "mse_loss.backward/two-forgotten"),
    ("mse_loss.backward", "nn.MSELoss", MSESummedError, "mse_loss.backward/summed-over-elements"),
    ("mse_loss.backward", "nn.MSELoss", MSESummedErrorOneNumber, "mse_loss.backward/summed-over-elements"),
    ("linear.backward", "nn.Linear", LinearWithoutBiasGrad, "any/bias-grad-missing"),
    ("linear.backward", "nn.Linear", LinearOverwritingGrads, "any/grad-overwritten"),
    ("linear.backward", "nn.Linear", LinearTransposedWeightGrad, "any/transposed"),
    ("linear.backward", "nn.Linear", LinearTransposedGradInput, "any/shape-transposed"),
    ("linear.backward", "nn.Linear", LinearPerSampleBiasGrad, "linear.backward/bias-not-summed"),
    ("linear.backward", "nn.Linear", LinearFloat32GradInput, "any/wrong-dtype"),
    ("tanh.backward", "nn.Tanh", TanhReturningNothing, "any/nothing-returned"),
    ("conv2d.forward", "nn.Conv2d", conv_with_weight(lambda w: w.flip(-2, -1)), "conv2d.forward/kernel-flipped"),
    ("conv_transpose2d.forward", "nn.ConvTranspose2d", ConvTransposeSwappedChannels,
     "conv_transpose2d.forward/weight-channel-order"),
    ("conv2d.forward", "nn.Conv2d", ConvPaddedOnOneSide, "any/shifted"),
    ("sgd.step", "optim.SGD", SGDIgnoringNesterov, "sgd.step/nesterov-ignored"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_a_wrong_module_is_caught_and_its_mistake_named(exercise_id, path, wrong, hint_id):
    assert_caught(check_wrong(exercise_id, path, wrong), hint_id)


@pytest.mark.parametrize("wrong, hint_id", [
    (MSEWithoutTwo, "mse_loss.backward/two-forgotten"),
    (MSEMeanNotDivided, "mse_loss.backward/not-divided"),
    (MSEDividedByBatch, "mse_loss.backward/divided-by-batch"),
], ids=["forgot the 2", "mean not divided", "divided by N"])
def test_each_constant_factor_of_the_mse_gradient_has_its_own_hint(wrong, hint_id):
    report = check_wrong("mse_loss.backward", "nn.MSELoss", wrong)
    first_case = report.cases[0]  # "mean" on (4, 3): N = 4, numel = 12, so the three factors differ
    assert {hint.id for hint in first_case.hints} == {hint_id}, str(report)


class LinearBiasGradAveraged(nn.Linear):
    def backward(self, grad_output):
        grad_input = super().backward(grad_output)
        if self.bias is not None:
            rows = grad_output.reshape(-1, self.out_features)
            self.bias.grad -= rows.sum(dim=0) - rows.mean(dim=0)
        return grad_input


def test_a_generic_constant_factor_names_the_batch_size():
    report = check_wrong("linear.backward", "nn.Linear", LinearBiasGradAveraged)
    first_case = report.cases[0]  # (4, 3) input: N = 4
    assert {(hint.id, hint.detail) for hint in first_case.hints} == {("any/constant-factor", "factor 0.25 = 1/N (1/4)")}


def test_the_worst_element_and_the_errors_are_reported():
    report = check_wrong("tanh.backward", "nn.Tanh", MinusTanh)
    row = next(row for row in report.cases[0].rows if row.name == "grad input")
    trial = make_trial(get("tanh.backward"), get("tanh.backward").cases[0])
    expected = run_reference(get("tanh.backward"), trial).expected["grad_input"]
    assert row.max_abs_error == pytest.approx(2 * expected.abs().max().item())
    assert row.relative_error == pytest.approx(2.0)
    assert expected.abs()[row.worst_index] == expected.abs().max()


def test_a_shifted_output_names_the_shift():
    report = check_wrong("conv2d.forward", "nn.Conv2d", ConvPaddedOnOneSide)
    case = next(case for case in report.cases if case.label == "3x3, padding 1, batch 3")
    assert case.hints[0].detail.startswith("by -1 row(s) and -1 column(s)")


# --- inits ------------------------------------------------------------------------------------------


def kaiming_uniform_with_bound(factor):
    def init(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
        fan_in = tensor.shape[1] * math.prod(tensor.shape[2:])
        fan = fan_in if mode == "fan_in" else tensor.shape[0] * math.prod(tensor.shape[2:])
        bound = factor(nn.init.calculate_gain(nonlinearity, a)) * math.sqrt(3 / fan)
        return tensor.uniform_(-bound, bound)

    return init


@pytest.mark.parametrize("wrong, hint_id", [
    (kaiming_uniform_with_bound(lambda gain: gain / math.sqrt(3)), "init/std-as-bound"),
    (kaiming_uniform_with_bound(lambda gain: 1.0), "init.kaiming_uniform_/gain-missing"),
    (kaiming_uniform_with_bound(lambda gain: gain * 1.3), "init/spread-off"),
], ids=["std as bound", "no gain", "unknown factor"])
def test_a_uniform_init_with_a_wrong_bound_is_named_by_its_factor(wrong, hint_id):
    report = check_wrong("init.kaiming_uniform_", "nn.init.kaiming_uniform_", wrong)
    assert_caught(report, hint_id)


def test_an_init_not_in_place_or_not_returning_its_argument_is_caught():
    def new_tensor(tensor, gain=1.0):
        return torch.empty_like(tensor).uniform_(-0.1, 0.1)

    def returns_nothing(tensor):
        tensor.zero_()

    assert_caught(check_wrong("init.xavier_uniform_", "nn.init.xavier_uniform_", new_tensor), "init/not-in-place")
    assert_caught(check_wrong("init.zeros_", "nn.init.zeros_", returns_nothing), "init/argument-not-returned")


def test_a_normal_draw_for_a_uniform_init_is_named():
    def normal_instead(tensor, gain=1.0):
        fan_in_plus_fan_out = (tensor.shape[0] + tensor.shape[1]) * math.prod(tensor.shape[2:])
        return tensor.normal_(0, gain * math.sqrt(2 / fan_in_plus_fan_out))

    assert_caught(check_wrong("init.xavier_uniform_", "nn.init.xavier_uniform_", normal_instead),
                  "init/normal-not-uniform")


# --- not done, errors ---------------------------------------------------------------------------------


class TanhStub(nn.Tanh):
    def backward(self, grad_output):
        raise NotImplementedError("Exercise tanh.backward is not done yet: implement Tanh.backward in "
                                  "course_lib/nn/activation.py — see notebooks/01_activations.ipynb, "
                                  "section 'Tanh backward'.")


def test_a_stub_gives_a_not_done_report_naming_the_function_and_file():
    report = check_wrong("tanh", "nn.Tanh", TanhStub)
    assert report.status == "not done" and not report.passed
    backward_cases = [case for case in report.cases if case.title == "tanh.backward"]
    assert len(backward_cases) == 1 and backward_cases[0].status == "not done"  # one line, not one per case
    assert all(case.passed for case in report.cases if case.title == "tanh.forward")
    text = str(report)
    assert "not done yet" in text and "Tanh.backward" in text and "course_lib/nn/activation.py" in text
    assert "Traceback" not in text


class BrokenSigmoid(nn.Sigmoid):
    def backward(self, grad_output):
        output = self.saved_for_backward()
        return grad_output * output * (1 - output) @ torch.ones(3, 3, dtype=output.dtype)


def test_an_exception_gives_a_short_report_with_the_students_line():
    report = check_wrong("sigmoid.backward", "nn.Sigmoid", BrokenSigmoid)
    case = report.cases[0]
    assert case.status == "error" and report.status == "error"
    assert case.message.startswith("RuntimeError: ")
    assert case.where.startswith("test_check.py:") or "tests/test_check.py:" in case.where
    assert "in backward: return grad_output * output" in case.where
    text = str(report)
    assert "Traceback" not in text and len(text.splitlines()) < 20


# --- check_module, check_numerically, check_optimizer ---------------------------------------------------


def encoder_decoder(library, residual, middle_conv=None):
    """A small encoder-decoder with a skip connection around its middle, in course_lib or torch."""
    return library.Sequential(
        library.Conv2d(2, 4, 3, stride=2, padding=1), library.ReLU(),
        residual(library.Sequential((middle_conv or library.Conv2d)(4, 4, 3, padding=1), library.Tanh())),
        library.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1), library.Sigmoid())


def test_check_module_passes_a_right_model_and_leaves_it_unchanged():
    model = encoder_decoder(nn, nn.Residual)
    weights = model.state_dict()
    report = check_module(model, encoder_decoder(torch.nn, TorchResidual), (2, 2, 6, 6))
    assert report.passed, str(report)
    names = [row.name for row in report.cases[0].rows]
    assert "0.weight.grad" in names and "used twice: 2.module.0.bias.grad (accumulated)" in names
    assert all(torch.equal(weights[name], value) for name, value in model.state_dict().items())
    assert model[0].weight.dtype == torch.float32


def test_check_module_catches_a_wrong_layer_inside_a_model():
    model = nn.Sequential(nn.Linear(3, 4), MinusTanh(), nn.Linear(4, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    report = check_module(model, twin, (5, 3))
    assert not report.passed
    failed = {row.name for row in report.cases[0].rows if not row.passed}
    assert "grad input" in failed and "0.weight.grad" in failed and "2.weight.grad" not in failed
    # The second case checks the modules one by one and names the first wrong one, with its hint.
    assert len(report.cases) == 2 and report.cases[1].title == "1, on its own: MinusTanh against Tanh"
    assert report.cases[1].label == "input (5, 4)" and report.cases[1].hints[0].id == "any/sign-flipped"


def test_check_module_finds_a_wrong_layer_deep_inside_residuals():
    class DoubledConv(nn.Conv2d):
        def backward(self, grad_output):
            return 2 * super().backward(grad_output)

    model = encoder_decoder(nn, nn.Residual, middle_conv=DoubledConv)
    report = check_module(model, encoder_decoder(torch.nn, TorchResidual), (2, 2, 6, 6))
    assert [case.status for case in report.cases] == ["fail", "fail"]
    assert report.cases[1].title == "2.module.0, on its own: DoubledConv against Conv2d"
    assert report.cases[1].label == "input (2, 4, 3, 3)"
    assert [hint.id for hint in report.cases[1].hints] == ["any/constant-factor"]


def test_check_module_names_a_wrong_container_when_its_layers_are_right():
    class ResidualWithoutSkip(nn.Residual):
        def backward(self, grad_output):
            return self.module.backward(grad_output)  # forgets the gradient of the identity path

    model = nn.Sequential(nn.Linear(3, 3), ResidualWithoutSkip(nn.Sequential(nn.Linear(3, 3), nn.Tanh())))
    twin = torch.nn.Sequential(torch.nn.Linear(3, 3), TorchResidual(torch.nn.Sequential(torch.nn.Linear(3, 3),
                                                                                        torch.nn.Tanh())))
    report = check_module(model, twin, (4, 3))
    assert [case.title for case in report.cases[1:]] == ["1, on its own: ResidualWithoutSkip against TorchResidual"]


def test_check_module_reports_models_with_different_parameter_names():
    report = check_module(nn.Sequential(nn.Linear(3, 4)), torch.nn.Linear(3, 4), (2, 3))
    assert report.status == "error" and "'0.weight'" in report.cases[0].message


def test_check_module_rejects_an_input_shape_the_model_cannot_take():
    with pytest.raises(ValueError, match=r"cannot run on an input of shape \(2, 5\)"):
        check_module(nn.Linear(3, 4), torch.nn.Linear(3, 4), (2, 5))


class Softplus(nn.Module):
    """log(1 + exp(x)), a layer torch has but course_lib does not: checked by finite differences."""

    def __init__(self, sign=1):
        self.sign = sign

    def forward(self, input):
        self.save_for_backward(input)
        return torch.log1p(torch.exp(input))

    def backward(self, grad_output):
        return self.sign * grad_output * torch.sigmoid(self.saved_for_backward())


def test_check_numerically_passes_a_right_module_and_catches_a_wrong_one():
    assert check_numerically(nn.Sequential(nn.Linear(3, 2), Softplus()), (2, 3)).passed
    report = check_numerically(Softplus(sign=-1), (2, 3))
    assert_caught(report, "any/sign-flipped")


def test_check_optimizer_passes_sgd_and_catches_weight_decay_with_the_wrong_sign():
    hyper = dict(lr=0.1, momentum=0.9, weight_decay=0.1)
    assert check_optimizer(optim.SGD, torch.optim.SGD, **hyper).passed
    report = check_optimizer(SGDWeightDecayWrongSign, torch.optim.SGD, steps=10, **hyper)
    assert not report.passed
    rows = report.cases[0].rows
    assert rows[0].worst_index[0] < 10 and "first wrong after step 1" in rows[0].note


def test_check_optimizer_matches_adam():
    assert check_optimizer(optim.Adam, torch.optim.Adam, lr=0.05, betas=(0.8, 0.99), weight_decay=0.01).passed


# --- the split steps and the reports ----------------------------------------------------------------


def test_the_four_steps_run_apart_give_the_same_verdict():
    exercise = get("conv2d.backward")
    trial = make_trial(exercise, exercise.cases[1], seed=3)
    reference = run_reference(exercise, trial)
    outputs = student_side.run(course_lib, exercise.id, trial.spec, trial.tensors)
    assert set(outputs) == set(reference.expected)
    assert compare(trial, outputs, reference).passed
    outputs["weight.grad"] = outputs["weight.grad"] * 2
    assert not compare(trial, outputs, reference).passed


def test_the_student_side_stands_alone():
    """It imports torch only and runs when loaded from its file, as the grader's child loads it."""
    source = student_side.__file__
    spec = importlib.util.spec_from_file_location("standalone_student_side", source)
    standalone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(standalone)
    imported = {line.split()[1] for line in open(source) if line.startswith(("import ", "from "))}
    assert imported == {"torch"}
    exercise = get("residual.backward")
    trial = make_trial(exercise, exercise.cases[2])
    assert compare(trial, standalone.run(course_lib, exercise.id, trial.spec, trial.tensors),
                   run_reference(exercise, trial)).passed


def test_checking_leaves_torchs_random_state_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_exercise("init.kaiming_normal_")
    check_exercise("conv2d.forward")
    assert torch.equal(torch.rand(3), expected)


def test_reports_render_as_aligned_text_and_coloured_html():
    report = check_wrong("linear.backward", "nn.Linear", LinearWithoutBiasGrad)
    lines = str(report).splitlines()
    header = next(index for index, line in enumerate(lines) if "max abs error" in line)
    result_column = lines[header].index("result")
    rows = lines[header + 1:header + 1 + len(report.cases[0].rows)]
    assert [line[result_column:result_column + 4] for line in rows[:4]] == ["pass", "pass", "pass", "FAIL"]
    assert "hint: bias gradient missing: backward never adds" in str(report)
    html = report._repr_html_()
    assert "<table" in html and "#a50e0e" in html and "#137333" in html
    assert "backward never adds d loss / d bias to bias.grad" in html


def test_a_report_is_true_only_when_every_case_passes():
    passing = CaseReport("x", "a", "pass", [Row("output", True, 0.0, 0.0)])
    failing = CaseReport("x", "b", "fail", [Row("output", False, 1.0, 1.0)])
    assert Report("x", [passing]).passed and bool(Report("x", [passing]))
    assert not Report("x", [passing, failing]).passed
    assert not Report("x", []).passed


class TanhPoppingTwice(nn.Tanh):
    def backward(self, grad_output):
        self.saved_for_backward()
        return super().backward(grad_output)


def test_an_error_raised_by_the_given_code_points_at_the_students_call():
    case = check_wrong("tanh.backward", "nn.Tanh", TanhPoppingTwice).cases[0]
    assert case.status == "error" and "without a matching forward" in case.message
    assert case.where.startswith("course_lib/nn/activation.py:")  # the caller, not nn/module.py
    assert case.where.endswith("in backward: output = self.saved_for_backward()")


def test_checking_leaves_torchs_thread_count_alone():
    threads = torch.get_num_threads()
    check_exercise("linear.backward")
    assert torch.get_num_threads() == threads


# --- advice for exceptions, and a forward of the wrong shape ---------------------------------------------


@pytest.mark.parametrize("exercise_id, error_type, message, line, hint_id", [
    ("conv2d.backward", "RuntimeError", "output with shape [3] doesn't match the broadcast shape [3, 36]",
     "self.bias.grad += grad_rows.sum(dim=0)", "conv2d.backward/bias-not-summed"),
    ("conv2d.backward", "RuntimeError", "shape '[2, 3, 6, 6]' is invalid for input of size 1944",
     "return grad_columns.reshape(N, C, H, W)", "conv2d.backward/reshape-not-fold"),
    ("linear.forward", "RuntimeError", "mat1 and mat2 shapes cannot be multiplied (4x3 and 5x3)",
     "output = input @ self.weight.data", "linear.forward/weight-not-transposed"),
    ("linear.forward", "RuntimeError", "self must be a matrix", "output = torch.mm(input, w.t())",
     "linear.forward/two-d-only"),
    ("sequential.backward", "ValueError", "Affine.backward expects grad_output of the shape its forward "
     "returned, (2, 5); got (2, 3).", "grad = module.backward(grad)", "sequential.backward/forward-order"),
    ("sequential.backward", "ValueError", "Tanh.backward expects grad_output of the shape its forward "
     "returned, (2, 5); got (2, 3).", "g = module.backward(grad_output)", "sequential.backward/outputs-not-chained"),
], ids=lambda value: value if isinstance(value, str) and "/" in value else "")
def test_advice_for_turns_an_exception_at_the_students_line_into_the_exercises_hint(
        exercise_id, error_type, message, line, hint_id):
    # The grader calls it with what its child reported: plain strings.
    advice = advice_for(exercise_id, error_type, message, line)
    assert advice.id == hint_id
    assert (advice.name, advice.cause) == (CATALOGUE[hint_id].name, CATALOGUE[hint_id].cause)


def test_advice_for_stays_silent_when_it_knows_nothing():
    assert advice_for("relu.backward", "RuntimeError", "mat1 and mat2 shapes cannot be multiplied (4x3 and 5x3)",
                      "x @ y") is None  # ReLU has no matrix product
    assert advice_for("conv2d.backward", "TypeError", "unsupported operand", "self.bias.grad += 1") is None
    assert advice_for("not an exercise", "RuntimeError", "self must be a matrix", "") is None


class LinearBiasGradPerSample(nn.Linear):
    def backward(self, grad_output):
        input = self.saved_for_backward()
        self.weight.grad += grad_output.reshape(-1, self.out_features).T @ input.reshape(-1, self.in_features)
        if self.bias is not None:
            self.bias.grad += grad_output.sum(dim=0)
        return grad_output @ self.weight.data


def test_an_error_report_gives_the_advice_above_torchs_message():
    report = check_wrong("linear.backward", "nn.Linear", LinearBiasGradPerSample)
    case = next(case for case in report.cases if case.status == "error")
    assert case.hint.id == "linear.backward/bias-not-summed"
    lines = str(report).splitlines()
    advice = next(index for index, line in enumerate(lines) if "hint: bias gradient not summed" in line)
    assert lines[advice + 1].strip().startswith("RuntimeError: output with shape [3]")
    assert lines[advice + 2].strip().endswith("in backward: self.bias.grad += grad_output.sum(dim=0)")
    page = html.unescape(report._repr_html_())
    assert page.index("bias gradient not summed") < page.index("RuntimeError: output with shape [3]")


class ConvForgettingTheReshape(nn.Conv2d):
    def forward(self, input):
        output = super().forward(input)
        return output.flatten(2)


def test_a_forward_of_the_wrong_shape_fails_the_backward_rows_without_an_error():
    report = check_wrong("conv2d.backward", "nn.Conv2d", ConvForgettingTheReshape)
    case = report.cases[0]
    assert case.status == "fail" and case.where == ""
    rows = {row.name: row for row in case.rows}
    assert rows["output"].note == "shape (3, 3, 36), expected (3, 3, 6, 6)"
    assert rows["grad input"].note == "not run: forward returned shape (3, 3, 36), expected (3, 3, 6, 6)"
    assert rows["grad input"].hint.id == "any/forward-wrong-shape"
    assert "checked_backward" not in str(report)


def test_hints_carry_their_catalogue_id_and_read_as_text():
    found = hint("mse_loss.backward/two-forgotten", "factor 0.5")
    assert (found.id, found.name, found.detail) == ("mse_loss.backward/two-forgotten",
                                                     "the 2 of the square's derivative missing", "factor 0.5")
    assert str(found) == f"the 2 of the square's derivative missing (factor 0.5): {found.cause}"
    with pytest.raises(KeyError):
        hint("mse_loss.backward/no-such-mistake")
