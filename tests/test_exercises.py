"""The registry is consistent with the code and the course, and every exercise passes in this
(instructor) edition, on its visible cases and on hidden cases drawn from seeds."""

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import course_lib
from course_lib import cli, exercises
from course_lib.check import check_exercise, make_trial, run_reference, student_side
from course_lib.check.student_side import find

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

# The course as its brief fixes it: notebook -> exercise ids.
COURSE = {
    "01_activations": ["relu.forward", "relu.backward", "leaky_relu.forward", "leaky_relu.backward",
                       "sigmoid.forward", "sigmoid.backward", "tanh.forward", "tanh.backward"],
    "02_unfold_convolution": ["unfold", "fold", "conv2d.forward", "conv2d.backward"],
    "03_transpose_convolution": ["conv_transpose2d.forward", "conv_transpose2d.backward", "upsample.forward",
                                 "upsample.backward"],
    "04_mse_loss": ["linear.forward", "linear.backward", "mse_loss.forward", "mse_loss.backward"],
    "05_sgd": ["sgd.step", "adam.step"],
    "06_sequential": ["sequential.forward", "sequential.backward", "init.xavier_uniform_", "init.xavier_normal_",
                      "init.kaiming_uniform_", "init.kaiming_normal_", "init.zeros_"],
    "07_skip_layers": ["residual.forward", "residual.backward"],
}
IDS = [exercise.id for exercise in exercises.EXERCISES]


def live_function(exercise):
    module = importlib.import_module(exercise.file.removesuffix(".py").replace("/", "."))
    return find(module, exercise.function)


def marker_lines(text, marker):
    return [line for line in text.splitlines() if line.strip() == marker]


# --- the registry -------------------------------------------------------------------------------------


def test_every_exercise_of_the_course_is_registered_in_its_notebook():
    assert {exercise.id: exercise.notebook for exercise in exercises.EXERCISES} == {
        exercise_id: notebook for notebook, ids in COURSE.items() for exercise_id in ids}
    assert len(IDS) == len(set(IDS))
    assert exercises.NOTEBOOKS == tuple(COURSE)


def test_points_are_one_each_and_two_for_the_convolution_backwards():
    points = {exercise.id: exercise.points for exercise in exercises.EXERCISES}
    assert {exercise_id for exercise_id, value in points.items() if value == 2} == {
        "conv2d.backward", "conv_transpose2d.backward"}
    assert all(value in (1, 2) for value in points.values())


@pytest.mark.parametrize("exercise", exercises.EXERCISES, ids=IDS)
def test_the_registered_function_exists_and_holds_exactly_one_marked_region(exercise):
    assert (ROOT / exercise.file).is_file()
    source = inspect.getsource(live_function(exercise))
    assert len(marker_lines(source, BEGIN)) == 1 and len(marker_lines(source, END)) == 1
    assert exercises.by_location(exercise.file, exercise.function) is exercise
    # What the student side builds is the class or function the exercise is in.
    assert exercise.function.split(".")[0] == exercise.target.split(".")[-1]
    assert find(course_lib, exercise.target) is not None
    if exercise.stage:
        assert exercise.function.endswith(f".{exercise.stage}")


def test_every_marked_region_belongs_to_an_exercise():
    files = sorted((ROOT / "course_lib").rglob("*.py"))
    regions = sum(len(marker_lines(path.read_text(), BEGIN)) for path in files)
    assert regions == len(exercises.EXERCISES)
    assert exercises.by_location("course_lib/nn/conv.py", "Conv2d.__init__") is None


def test_looking_exercises_up():
    assert [exercise.id for exercise in exercises.select("relu")] == ["relu.forward", "relu.backward"]
    assert len(exercises.select("init")) == 5
    assert [exercise.id for exercise in exercises.select("conv2d")] == ["conv2d.forward", "conv2d.backward"]
    assert [exercise.id for exercise in exercises.by_notebook("05_sgd")] == ["sgd.step", "adam.step"]
    with pytest.raises(KeyError, match="Did you mean relu.backward"):
        exercises.get("relu.backwrd")
    with pytest.raises(KeyError, match="Did you mean"):
        exercises.select("sigmod")
    with pytest.raises(KeyError, match="01_activations"):
        exercises.by_notebook("01_activation")


@pytest.mark.parametrize("exercise", exercises.EXERCISES, ids=IDS)
def test_cases_are_plain_data_with_distinct_labels(exercise):
    labels = [case.label for case in exercise.cases]
    assert len(labels) == len(set(labels)) >= 2
    for case in exercise.cases:
        assert json.loads(json.dumps({"shape": case.shape, "kwargs": case.kwargs}))


# --- every exercise passes in this edition ------------------------------------------------------------


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_instructor_solution_passes(exercise_id):
    report = check_exercise(exercise_id)
    assert report.passed, str(report)


def test_the_check_command_shows_every_exercise_passing():
    result = subprocess.run([sys.executable, "-m", "course_lib", "check"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    total = sum(exercise.points for exercise in exercises.EXERCISES)
    assert f"Total: {total:g} / {total:g} points ({len(IDS)} pass, 0 fail, 0 not started)" in result.stdout
    lines = result.stdout.splitlines()
    for exercise_id in IDS:
        assert any(line.split()[:1] == [exercise_id] and line.endswith("pass") for line in lines), exercise_id
    for notebook in COURSE:
        assert any(line.startswith(notebook) for line in lines)


def test_the_check_command_prints_one_exercises_report_or_says_the_id_is_unknown(capsys):
    assert cli.main(["check", "conv2d.backward"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("conv2d.backward (Conv2d.backward in course_lib/nn/conv.py): pass")
    assert "stride > kernel" in printed
    assert cli.main(["check", "conv2d.backwards"]) == 2
    assert "Did you mean conv2d.backward" in capsys.readouterr().err


# --- hidden cases and trials ----------------------------------------------------------------------------


@pytest.mark.parametrize("exercise", exercises.EXERCISES, ids=IDS)
def test_hidden_cases_are_deterministic_by_seed_and_valid(exercise):
    drawn = exercise.hidden_cases(seed=11, count=4)
    assert drawn == exercise.hidden_cases(seed=11, count=4)
    assert drawn != exercise.hidden_cases(seed=12, count=4)
    assert [case.label.split(":")[0] for case in drawn] == ["hidden 1", "hidden 2", "hidden 3", "hidden 4"]
    for case in drawn:
        assert json.loads(json.dumps({"shape": case.shape, "kwargs": case.kwargs}))
    report = check_exercise(exercise.id, seed=11, hidden=4)
    assert report.passed and len(report.cases) == len(exercise.cases) + 4, str(report)


def test_trials_are_deterministic_by_seed_and_inputs_stay_away_from_zero():
    exercise = exercises.get("relu.backward")
    case = exercise.cases[1]
    first, again, other = (make_trial(exercise, case, seed) for seed in (5, 5, 6))
    assert first.spec == again.spec == json.loads(json.dumps(first.spec))
    assert all(torch.equal(first.tensors[name], again.tensors[name]) for name in first.tensors)
    assert not torch.equal(first.tensors["input"], other.tensors["input"])
    for name in ("input", "input_1", "input_2"):
        assert first.tensors[name].dtype == torch.float64 and first.tensors[name].abs().min() >= 0.1


def test_output_names_are_plain_names_the_grader_accepts():
    for exercise in exercises.EXERCISES:
        trial = make_trial(exercise, exercise.cases[0])
        outputs = student_side.run(course_lib, exercise.id, trial.spec, trial.tensors)
        assert set(outputs) == set(run_reference(exercise, trial).expected)
        assert all(name.replace("_", "").replace(".", "").isalnum() for name in outputs), exercise.id


GRADER_CHILD = """
import torch, course_lib
from course_lib import cli, exercises
from course_lib.check import compare, make_trial, run_reference, student_side
from course_lib.grading.runner import forbid_shortcuts

trials = [(exercise, make_trial(exercise, exercise.cases[0])) for exercise in exercises.EXERCISES]
references = [run_reference(exercise, trial) for exercise, trial in trials]
forbid_shortcuts(torch)
for (exercise, trial), reference in zip(trials, references):
    outputs = student_side.run(course_lib, exercise.id, trial.spec, trial.tensors)
    if not compare(trial, outputs, reference).passed:
        print("FAILED", exercise.id, trial.label)
print("done")
"""


def test_the_student_side_runs_with_the_graders_torch_shortcuts_forbidden():
    """In the grader's child, torch.nn, autograd and torch.optim raise: the student side needs none."""
    result = subprocess.run([sys.executable, "-c", GRADER_CHILD], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done", result.stdout


MODULE_EXERCISES = [exercise for exercise in exercises.EXERCISES if exercise.kind in ("module", "loss", "function")]


@pytest.mark.parametrize("exercise", MODULE_EXERCISES, ids=[exercise.id for exercise in MODULE_EXERCISES])
def test_every_input_of_two_or_more_nonzero_values_holds_both_signs(exercise):
    # A one-signed input checks one piece of a piecewise activation only (relu.backward's "batch 1" once was).
    for case in (*exercise.cases, *exercise.hidden_cases(seed=3, count=5)):
        tensors = make_trial(exercise, case).tensors
        for name in ("input", "input_1", "input_2"):
            values = tensors.get(name)
            if values is not None and int((values != 0).sum()) >= 2:  # besides the exact zeros of a kink case
                assert (values > 0).any() and (values < 0).any(), (case.label, name)


@pytest.mark.parametrize("exercise_id", ["relu.forward", "relu.backward", "leaky_relu.forward", "leaky_relu.backward"])
def test_relu_and_leaky_relu_are_checked_at_the_kink(exercise_id):
    exercise = exercises.get(exercise_id)
    kink = [case for case in exercise.cases if case.exact_zeros]
    assert len(kink) == 1
    tensors = make_trial(exercise, kink[0]).tensors
    for name in ("input", "input_1", "input_2"):
        zeros = int((tensors[name] == 0).sum())
        assert zeros == tensors[name].numel() // 3
        assert (tensors[name][tensors[name] != 0].abs() >= 0.1).all()


def test_convolution_cases_tell_one_over_n_from_one_half():
    # A gradient divided by the batch size N only differs from one off by a factor 2 when N is not 2.
    for exercise_id in ("conv2d.backward", "conv_transpose2d.backward", "upsample.backward"):
        assert any(case.shape[0] > 2 for case in exercises.get(exercise_id).cases), exercise_id
