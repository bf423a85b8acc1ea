"""The checks students and notebooks call: each runs the four steps in this process and returns a Report.

- ``check_exercise("conv2d.backward")`` (or an id prefix: "relu" checks relu.forward and relu.backward)
- ``check_module(model, torch_twin, input_shape)`` for any model built with course_lib
- ``check_optimizer(MySGD, torch.optim.SGD, lr=0.1, momentum=0.9)``
- ``check_numerically(module, input_shape)``: finite differences, for modules with no torch twin
- ``progress()``: every exercise's status and points

The student's code never stops a check: NotImplementedError from an exercise stub gives a "not done
yet" report, any other exception a short report with the student's line. Torch's global random state
is the same after a check as before it, so checking never changes what a notebook draws next.
"""

import copy
import functools
import sys
import traceback
from pathlib import Path

import torch

from course_lib import exercises as registry
from course_lib.check import student_side
from course_lib.check.advice import advice_for
from course_lib.check.compare import compare, tensor_row
from course_lib.check.reference import module_reference, optimizer_reference, run_reference
from course_lib.check.report import CaseReport, Progress, Report
from course_lib.check.trials import (DTYPE, Trial, away_from_zero, derived_seed, make_trial, module_tensors,
                                     normal, optimizer_tensors)
from course_lib.nn.module import no_grad

NOT_DONE_MARK = "is not done yet"
MESSAGE_CHARS = 600
COURSE_LIB = Path(__file__).resolve().parents[1]
# The checker, and the base class, whose errors (check_input, saved_for_backward) are about the line
# of the student's code that called it.
GIVEN_CODE = (Path(__file__).resolve().parent, COURSE_LIB / "nn" / "module.py")
PYTHON_INSTALLATION = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}


def on_one_thread(check):
    """Run ``check`` with torch on one thread, then restore torch's setting: trial tensors are tiny,
    and a thread pool only adds overhead (twice the CPU time on a busy machine)."""

    @functools.wraps(check)
    def run_on_one_thread(*args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return check(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return run_on_one_thread


def default_package():
    import course_lib

    return course_lib


@on_one_thread
def check_exercise(exercise_id, package=None, seed=0, hidden=0):
    """Check one exercise, or every exercise whose id starts with ``exercise_id`` and a dot.

    package: the course_lib package to check (default: the one imported)
    seed: the seed of the trial data; hidden: also check this many hidden cases of each exercise
    returns a Report with one case report per case (an exercise that is not done yet: just one)
    """
    package = package or default_package()
    selected = registry.select(exercise_id)
    cases = [case for exercise in selected for case in check_cases(exercise, package, seed, hidden)]
    only = selected[0]
    title = f"{only.id} ({only.function} in {only.file})" if len(selected) == 1 else exercise_id
    return Report(title, cases)


def check_cases(exercise, package, seed=0, hidden=0, stop_at_failure=False):
    """The CaseReports of an exercise's visible (and ``hidden``) cases; a "not done" case ends the list."""
    reports = []
    for case in (*exercise.cases, *exercise.hidden_cases(seed, hidden)):
        trial = make_trial(exercise, case, seed)
        reference = run_reference(exercise, trial)
        report = run_student(exercise.id, trial, reference, lambda: student_side.run(
            package, exercise.id, trial.spec, trial.tensors))
        reports.append(report)
        if report.status == "not done" or (stop_at_failure and not report.passed):
            break
    return reports


def run_student(title, trial, reference, run):
    """Run the student's side (``run()`` returns its outputs) and compare; exceptions become reports."""
    with torch.random.fork_rng(devices=[]):
        try:
            outputs = run()
        except Exception as error:  # anything the student's code raises is reported, never re-raised
            return failure_report(title, trial.label, error)
    return compare(trial, outputs, reference, title)


def failure_report(title, label, error):
    """A "not done" report for an exercise stub's NotImplementedError, else a short "error" report with
    the student's line and, for an exception that means a known mistake of exercise ``title``, its hint
    (``advice_for``)."""
    message = str(error)
    if isinstance(error, NotImplementedError) and NOT_DONE_MARK in message:
        return CaseReport(title, label, "not done", message=message)
    text = f"{type(error).__name__}: {message}"
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS] + " [...]"
    frame = student_frame(error)
    advice = advice_for(title, type(error).__name__, message, frame.line if frame else "")
    return CaseReport(title, label, "error", message=text, where=describe_frame(frame), hint=advice)


def student_frame(error):
    """The deepest traceback frame of the student's own code (else the deepest frame), or None."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if is_students(frame.filename)]
    return (own or frames)[-1] if (own or frames) else None


def describe_frame(frame):
    """"course_lib/nn/conv.py:42 in backward: <line>"."""
    if frame is None:
        return ""
    where = f"{short_path(frame.filename)}:{frame.lineno} in {frame.name}"
    return f"{where}: {frame.line}" if frame.line else where


def is_students(filename):
    """course_lib (but not the given code) and the student's own files (a notebook, a script); not
    torch, Python's library or other installed packages."""
    path = Path(filename).resolve()
    if any(path == given or given in path.parents for given in GIVEN_CODE) or is_given(path):
        return False
    return COURSE_LIB in path.parents or not PYTHON_INSTALLATION & set(path.parents)


def is_given(path):
    """The base class and the checker of any copy of course_lib (a student edition, a submission)."""
    parts = path.parts
    return parts[-3:] == ("course_lib", "nn", "module.py") or parts[-3:-1] == ("course_lib", "check")


def short_path(filename):
    """The file's path relative to the closest folder on sys.path ("course_lib/nn/conv.py")."""
    path = Path(filename).resolve()
    relative = [path.relative_to(root).as_posix() for root in {Path(entry).resolve() for entry in sys.path}
                if root in path.parents]
    return min(relative, key=len, default=filename)


@on_one_thread
def check_module(student_module, torch_module, input_shape, seed=0, twice=True, title=None):
    """Compare any course_lib model with its torch twin: output, grad input and every parameter's grad.

    student_module: a course_lib Module (it is copied, so the model itself is not changed)
    torch_module: a torch.nn.Module whose parameters have the same names (its state dict is replaced
        by the student's weights)
    input_shape: the shape of the input, e.g. (2, 3, 16, 16)
    twice: also run the repeated-use pass (the model used twice in one graph, backward in reverse order)
    Both run in float64 on the same random input. Returns a Report. When a model made of several modules
    fails, the report has a second case: the first of its modules to fail the same comparison on its own.
    """
    title = title or f"{type(student_module).__name__} against {type(torch_module).__name__}"
    label = f"input {tuple(input_shape)}"
    student = copy.deepcopy(student_module)
    twin = copy.deepcopy(torch_module).to(DTYPE)
    weights = {name: value.to(DTYPE) for name, value in student.state_dict().items()}
    if set(weights) != set(twin.state_dict()):
        message = (f"the two models' parameters have different names: the course_lib model has "
                   f"{sorted(weights)}, the torch model {sorted(twin.state_dict())}. Build both the same "
                   "way (torch names parameters by attribute: 'encoder.0.weight').")
        return Report(title, [CaseReport(title, label, "error", message=message)])
    twin.load_state_dict(weights)
    generator = torch.Generator().manual_seed(derived_seed("check_module", seed))
    try:
        tensors = module_tensors(twin, input_shape, generator, parameters=weights, twice=twice)
    except Exception as error:
        raise ValueError(f"check_module: the torch model cannot run on an input of shape {tuple(input_shape)} "
                         f"({type(error).__name__}: {error}). Pass the input_shape the model expects.") from error
    trial = Trial(title, label, {"kind": "module", "shape": list(input_shape)}, tensors)
    reference = module_reference(twin, tensors, "backward")
    clones = {name: value.clone() for name, value in tensors.items()}
    report = Report(title, [run_student(title, trial, reference,
                                        lambda: student_side.run_module(student, clones, "backward"))])
    if not report.passed and any(student_module.children()):
        part = first_part_that_differs(student_module, torch_module, input_shape, seed)
        report.cases.extend(part.cases if part is not None else [])
    return report


def first_part_that_differs(student_module, torch_module, input_shape, seed):
    """The report of the first module inside a failing model that fails check_module on its own, or None.

    Runs a copy of the model forward once to see which modules it calls, with which input shape; then checks
    each one that has a torch counterpart of the same name, in the order their forward calls finished, so
    a layer comes before the containers around it.
    """
    twins = dict(torch_module.named_modules())
    model = copy.deepcopy(student_module).to(DTYPE)
    parts = dict(named_parts(student_module))
    finished = []
    for name, module in named_parts(model):
        if name in twins:
            module.forward = recording_forward(module.forward, name, finished)
    try:
        with no_grad():
            model(torch.zeros(input_shape, dtype=DTYPE))
    except Exception:  # whatever ran before the error is still worth checking
        pass
    for name, shape in dict(finished).items():
        part_title = f"{name}, on its own: {type(parts[name]).__name__} against {type(twins[name]).__name__}"
        try:
            report = check_module(parts[name], twins[name], shape, seed, twice=False, title=part_title)
        except ValueError:  # the torch module cannot run on what the student's model gave it
            return None
        if not report.passed:
            return report
    return None


def named_parts(module, prefix=""):
    """(name, module) for every module inside ``module``, named as torch names them ("module.2.0")."""
    for name, child in module.named_children():
        yield from named_parts(child, f"{prefix}{name}.")
        yield f"{prefix}{name}", child


def recording_forward(forward, name, finished):
    """``forward``, appending (name, input shape) to ``finished`` each time it returns."""
    def recorded(input, *args):
        output = forward(input, *args)
        finished.append((name, tuple(input.shape)))
        return output
    return recorded


@on_one_thread
def check_optimizer(student_optimizer_class, torch_optimizer_class, steps=25, shapes=((3, 4), (4,)), seed=0,
                    **hyper):
    """Compare an optimizer with torch's over ``steps`` steps: the parameters after every step.

    student_optimizer_class: a course_lib optimizer class, e.g. SGD
    torch_optimizer_class: its torch.optim twin, e.g. torch.optim.SGD
    shapes: the parameters' shapes; hyper: the hyper-parameters for both (lr=0.1, momentum=0.9, ...)
    Both get the same start values and the same random gradient at each step. Returns a Report.
    """
    from course_lib.nn import Parameter

    settings = ", ".join(f"{name}={value}" for name, value in hyper.items())
    title = f"{student_optimizer_class.__name__}({settings})"
    generator = torch.Generator().manual_seed(derived_seed("check_optimizer", seed))
    tensors = optimizer_tensors(shapes, steps, generator)
    trial = Trial(title, f"{steps} steps, parameters {[tuple(shape) for shape in shapes]}",
                  {"kind": "optimizer", "shape": [list(shape) for shape in shapes]}, tensors)
    reference = optimizer_reference(torch_optimizer_class, hyper, tensors, steps, scope=title)
    return Report(title, [run_student(title, trial, reference, lambda: student_side.run_optimizer(
        student_optimizer_class, Parameter, hyper, tensors, steps))])


@on_one_thread
def check_numerically(module, input_shape, seed=0, eps=1e-6, rtol=1e-6, title=None):
    """Compare a module's backward with central finite differences, for modules with no torch twin.

    module: a course_lib Module (copied and converted to float64; the original is not changed)
    input_shape: the input's shape; keep it small: every input and parameter element costs two forwards
    eps: the finite-difference step; rtol: the relative tolerance (finite differences are less exact
        than autograd)
    Checks grad input and every parameter's grad for loss = sum(output * g), g random. Returns a Report.
    """
    title = title or f"{type(module).__name__} against finite differences"
    label = f"input {tuple(input_shape)}, eps {eps:g}"
    generator = torch.Generator().manual_seed(derived_seed("check_numerically", seed))
    input = away_from_zero(input_shape, generator)
    with torch.random.fork_rng(devices=[]):
        try:
            model = copy.deepcopy(module).to(DTYPE)
            model.zero_grad()
            grad_output = normal(model(input.clone()).shape, generator)
            grad_input = model.backward(grad_output.clone())
            analytic = {name: parameter.grad.clone() for name, parameter in model.named_parameters()}

            def loss():
                value = (model(input) * grad_output).sum()
                model.clear_saved()
                return value

            rows = [tensor_row("grad_input", grad_input, finite_differences(loss, input, eps),
                               input_shape=input_shape, rtol=rtol)]
            rows += [tensor_row(f"{name}.grad", analytic[name], finite_differences(loss, parameter.data, eps),
                                input_shape=input_shape, rtol=rtol)
                     for name, parameter in model.named_parameters()]
        except Exception as error:
            return Report(title, [failure_report(title, label, error)])
    status = "pass" if all(row.passed for row in rows) else "fail"
    return Report(title, [CaseReport(title, label, status, rows)])


def finite_differences(loss, tensor, eps):
    """d loss / d tensor by central differences, changing ``tensor`` in place one element at a time.

    loss: a function of no argument returning a 0-d tensor; tensor: any shape; returns: its shape
    """
    flat = tensor.view(-1)
    grad = torch.zeros_like(flat)
    for index in range(flat.numel()):
        original = flat[index].item()
        flat[index] = original + eps
        above = loss().item()
        flat[index] = original - eps
        below = loss().item()
        flat[index] = original
        grad[index] = (above - below) / (2 * eps)
    return grad.view_as(tensor)


@on_one_thread
def progress(package=None):
    """Every exercise with its status ("pass", "fail" or "not started") and points: a Progress, which
    prints as a table grouped by notebook and shows as HTML in Jupyter."""
    package = package or default_package()
    entries = []
    for exercise in registry.EXERCISES:
        statuses = [case.status for case in check_cases(exercise, package, stop_at_failure=True)]
        if "not done" in statuses:
            entries.append((exercise, "not started"))
        else:
            entries.append((exercise, "pass" if all(status == "pass" for status in statuses) else "fail"))
    return Progress(entries)
