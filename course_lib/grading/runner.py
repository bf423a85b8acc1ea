"""The grader's child process: run one student's course_lib on the cases of a plan.

Started by sandbox.py as ``python -s -B runner.py CONFIG`` from a copy in the child's read-only
``grader/`` folder, never imported by the grader itself. It trusts nothing it runs after ``import
course_lib``: it only turns what the student's code returns into data (``.npy`` without pickles, JSON
statuses) for the grading process, which checks every value. Before the student's package is imported
it lowers its own resource limits, makes the torch shortcuts that would replace the exercises raise
(autograd, forward-mode AD, torch.func, torch.nn, torch.nn.functional, torch.optim, the aten kernels
of the exercises), locks autograd off, drops root to the uid it was given, and loads a seccomp filter
(``syscalls.py``: no new process, no program, no shared memory) that nothing can lift afterwards.

Two phases keep the hidden cases' values out of everything the student can see. First the visible
cases, from the plan folder; what the code prints (``print``, warnings) is captured in memory and
written to ``out/printed.txt`` when the phase ends, and the runner writes ``SEALED`` to its stdout. The
grading process then copies ``out/`` (this phase's results) and only then puts the hidden cases into
the ``hidden`` folder and writes ``go`` to the runner's stdin: whatever the code does with hidden
inputs comes too late to reach what the student sees. What it prints in the hidden phase is dropped.

Written to ``out/``: ``journal.jsonl``, one JSON line per event (``{"id": "import", ...}`` when
course_lib cannot be imported; for each case ``running`` before it runs, then ``ok`` / ``not_done`` /
``forbidden`` / ``rejected`` / ``error``) and ``tensors.bin``, the outputs' ``.npy`` bytes, which an
``ok`` line locates as ``{name: [start, size]}``.
"""

import errno
import importlib.machinery
import importlib.util
import io
import json
import math
import os
import resource
import sys
import traceback
from pathlib import Path

NOT_DONE_MARK = "is not done yet"
MESSAGE_CHARS = 2000
PRINTED_CHARS = 20000
SEALED = b"\ncourse-lib-sealed\n"
ALLOWED_FUNCTIONAL = {"pad"}  # padding is bookkeeping, not the math an exercise asks for
STANDARD_FINDERS = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter,
                    importlib.machinery.PathFinder)
# torch kernels that compute an exercise (or its gradient) in one call, wherever torch exposes them.
EXERCISE_KERNELS = (
    "convolution", "convolution_backward", "_convolution", "_convolution_mode", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv_tbc", "cudnn_convolution",
    "mkldnn_convolution", "_slow_conv2d_forward", "_slow_conv2d_backward", "slow_conv_transpose2d",
    "thnn_conv2d", "im2col", "col2im", "unfold_backward", "linear", "linear_backward", "bilinear",
    "mse_loss", "mse_loss_backward", "threshold_backward", "leaky_relu_backward", "sigmoid_backward",
    "tanh_backward", "upsample_nearest2d", "upsample_nearest2d_backward", "_upsample_nearest_exact2d",
    "_upsample_nearest_exact2d_backward", "_fused_adam_", "_fused_adamw_", "_fused_sgd_",
)


class ForbiddenCall(RuntimeError):
    """A torch shortcut that would do the exercise's work was called."""


class RejectedOutput(Exception):
    """An output that is not a plain tensor the grader can compare."""


def main(config_path):
    config = json.loads(Path(config_path).read_text())
    limit_resources(config["limits"])
    submission = Path(config["submission"]).resolve()

    # Imported before dropping root: without bubblewrap the Python installation may sit in /root.
    import numpy
    import torch

    grader = Path(config["grader"])
    trial = load_module("trusted_trial", grader / config["trial_file"])
    # Built (pyseccomp imported) before dropping root, like torch; loaded after, with nothing left to do as root.
    filter_rules = load_module("trusted_syscalls", grader / "syscalls.py").build_filter() if config["seccomp"] else None
    refuse_graphs(trial, torch)
    forbid_shortcuts(torch)
    # An editable install of the instructor's course_lib adds an import finder that would fill in, from
    # the instructor's tree, any module the submission lacks: only the submission may provide course_lib.
    sys.meta_path[:] = [finder for finder in sys.meta_path if finder in STANDARD_FINDERS]
    if config["uid"] is not None:
        drop_privileges(config["uid"])
    os.umask(0o077)
    if filter_rules is not None:
        filter_rules.load()
    # Printing goes to memory, and stdout and stderr's descriptors to /dev/null: the grading process reads
    # what was printed only through printed.txt, and its pipe (now on another descriptor) only for SEALED.
    control = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    printed = Printed(PRINTED_CHARS, config["limits"]["file_bytes"])
    sys.stdout = sys.stderr = printed
    results = Results(Path(config["out"]), numpy)
    # Made now: a submission that fills out/ with files leaves room for what it printed, not a new file.
    printed_file = open(Path(config["out"]) / "printed.txt", "w", errors="replace")
    try:
        import course_lib

        located = Path(course_lib.__file__ or "").resolve()
        if submission not in located.parents:
            raise ImportError(f"course_lib was found at {located}, not in the submission.")
    except BaseException as error:  # the student's import may raise anything, SystemExit included
        results.record("import", failure(error, submission, config))
        course_lib = None

    if course_lib is not None:
        run_cases(course_lib, trial, Path(config["plan"]), config["visible"], results, submission, config, torch)
    seal(printed, printed_file, control)
    sys.stdout = sys.stderr = Printed(0, math.inf)  # from now on, printing is dropped, at no cost
    if course_lib is not None and config["hidden"] and sys.stdin.readline().strip() == "go":
        run_cases(course_lib, trial, Path(config["hidden_plan"]), config["hidden"], results, submission, config,
                  torch)


def run_cases(course_lib, trial, plan, case_ids, results, submission, config, torch):
    """Run the student's code on the cases ``case_ids`` of the plan in folder ``plan``."""
    import numpy

    cases = {case["id"]: case for case in json.loads((plan / "plan.json").read_text())["cases"]}
    inputs = (plan / "tensors.bin").read_bytes()
    for case_id in case_ids:
        case = cases[case_id]
        results.record(case_id, {"status": "running"})
        try:
            tensors = {name: torch.from_numpy(numpy.load(io.BytesIO(inputs[start:start + size]), allow_pickle=False))
                       for name, (start, size) in case["tensors"].items()}
            outputs = trial.run(course_lib, case["exercise"], case["spec"], tensors)
            status = {"status": "ok", "outputs": results.save_outputs(outputs, torch)}
        except BaseException as error:
            try:
                status = failure(error, submission, config)
            except BaseException:  # a traceback the student's code made unreadable
                status = {"status": "error", "type": "Exception", "message": "(unreadable exception)"}
        results.record(case_id, status)


def seal(printed, printed_file, control):
    """End the visible phase: leave what was printed in out/printed.txt and tell the grading process."""
    with printed_file:
        printed_file.write(printed.text())
    os.write(control, SEALED)
    os.close(control)


class Printed(io.TextIOBase):
    """A stand-in for sys.stdout and sys.stderr keeping the first ``limit`` characters written to it;
    past ``most`` characters in all, writing fails as a full file would."""

    def __init__(self, limit, most):
        self.limit = limit
        self.most = most
        self.parts = []
        self.kept = self.dropped = 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        if self.kept + self.dropped + len(text) > self.most:
            raise OSError(errno.EFBIG, f"printed more than {self.most} characters")
        room = max(self.limit - self.kept, 0)
        self.parts.append(text[:room])
        self.kept += min(len(text), room)
        self.dropped += len(text) - min(len(text), room)
        return len(text)

    def text(self):
        cut = f"\n[... {self.dropped} more characters not shown]" if self.dropped else ""
        return "".join(self.parts) + cut


class Results:
    """``journal.jsonl``, one JSON line per event, and ``tensors.bin``, the .npy bytes the lines point to.

    Two files appended to, each write reaching the kernel at once: a child killed mid-case leaves
    every earlier line, and few files means little time spent on them.
    """

    def __init__(self, out, numpy):
        self.numpy = numpy
        self.journal = open(out / "journal.jsonl", "a", buffering=1)
        self.tensors = open(out / "tensors.bin", "ab")

    def record(self, key, status):
        self.journal.write(json.dumps({"id": key, **status}) + "\n")

    def save_outputs(self, outputs, torch):
        """Append each output tensor's .npy bytes; returns {name: [start, size] or the type it had instead}."""
        if not isinstance(outputs, dict):
            raise RejectedOutput(f"the check returned {type(outputs).__name__}, expected a dict of tensors")
        saved = {}
        for name, value in outputs.items():
            if not isinstance(name, str):
                raise RejectedOutput(f"output name {name!r} is not a string")
            if not isinstance(value, torch.Tensor):
                saved[name] = type(value).__name__
                continue
            buffer = io.BytesIO()
            self.numpy.save(buffer, value.detach().resolve_conj().resolve_neg().cpu().numpy(), allow_pickle=False)
            saved[name] = [self.tensors.tell(), buffer.tell()]
            self.tensors.write(buffer.getvalue())
        self.tensors.flush()
        return saved


def limit_resources(limits):
    for name, value in (("RLIMIT_AS", limits["memory_bytes"]), ("RLIMIT_NPROC", limits["processes"]),
                        ("RLIMIT_FSIZE", limits["file_bytes"]), ("RLIMIT_NOFILE", limits["open_files"]),
                        ("RLIMIT_CORE", 0)):
        resource.setrlimit(getattr(resource, name), (value, value))
    # The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))


def drop_privileges(uid):
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def forbid_shortcuts(torch):
    """Make the torch functions that would do an exercise's work raise ForbiddenCall, with advice, and
    lock autograd off (gradients only flow where grad mode is on, so nothing can turn it on)."""
    import torch.autograd.forward_ad
    import torch.autograd.functional
    import torch.func
    import torch.nn.functional
    import torch.nn.init

    def refuse(owner, name, label, advice):
        def refused(*args, **kwargs):
            raise ForbiddenCall(f"uses {label} (not allowed: {advice})")

        setattr(owner, name, refused)

    tensor_ops = "write it with tensor operations"
    for name in public_functions(torch.nn.functional):
        if name not in ALLOWED_FUNCTIONAL:
            refuse(torch.nn.functional, name, f"torch.nn.functional.{name}", tensor_ops)
    for name in public_functions(torch._C._nn):
        if name not in ALLOWED_FUNCTIONAL:
            refuse(torch._C._nn, name, f"torch._C._nn.{name}", tensor_ops)
    for name in public_functions(torch.nn.init):
        refuse(torch.nn.init, name, f"torch.nn.init.{name}", tensor_ops)
    for owner, label in ((torch, "torch"), (torch.ops.aten, "torch.ops.aten")):
        for name in EXERCISE_KERNELS:
            if hasattr(owner, name):
                refuse(owner, name, f"{label}.{name}", tensor_ops)

    by_hand = "compute the gradient by hand, without autograd"
    for owner, label in ((torch.autograd, "torch.autograd"), (torch, "torch")):
        for name in ("grad", "backward"):
            if hasattr(owner, name):
                refuse(owner, name, f"{label}.{name}", by_hand)
    refuse(torch.Tensor, "backward", "Tensor.backward()", by_hand)
    for owner, label in ((torch.autograd.functional, "torch.autograd.functional"), (torch.func, "torch.func")):
        for name in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp", "grad", "grad_and_value",
                     "jacrev", "jacfwd", "linearize", "functional_call"):
            if hasattr(owner, name):
                refuse(owner, name, f"{label}.{name}", by_hand)
    refuse(torch.autograd.forward_ad, "make_dual", "torch.autograd.forward_ad", by_hand)

    # The C entry points behind autograd, forward-mode AD and torch.func, wherever a torch module keeps
    # a reference to them; and the engine that runs backward passes.
    def grad_mode(enabled, original=torch._C._set_grad_enabled):
        if enabled:
            raise ForbiddenCall(f"turns autograd on (not allowed: {by_hand})")
        original(False)

    torch._C._set_grad_enabled(False)
    replace_everywhere(torch._C._set_grad_enabled, grad_mode)
    for owner, name in ((torch._C, "_enter_dual_level"), (torch._C._functorch, "_grad_increment_nesting"),
                        (torch._C._functorch, "_jvp_increment_nesting")):
        def refused(*args, label=f"torch._C.{name}", **kwargs):
            raise ForbiddenCall(f"uses {label} (not allowed: {by_hand})")

        replace_everywhere(getattr(owner, name), refused)
        setattr(owner, name, refused)
    torch.autograd.Variable._execution_engine = RefusedEngine(by_hand)

    def module_call(self, *args, **kwargs):
        raise ForbiddenCall(f"uses torch.nn.{type(self).__name__} (not allowed: use your own course_lib layer)")

    def optimizer_init(self, *args, **kwargs):
        raise ForbiddenCall(f"uses torch.optim.{type(self).__name__} (not allowed: write the update yourself)")

    torch.nn.Module.__call__ = module_call
    torch.optim.Optimizer.__init__ = optimizer_init


class RefusedEngine:
    """Stands in for autograd's engine (torch.autograd.Variable._execution_engine)."""

    def __init__(self, advice):
        self.advice = advice

    def __getattr__(self, name):
        raise ForbiddenCall(f"uses autograd's engine (not allowed: {self.advice})")


def replace_everywhere(original, replacement):
    """Put ``replacement`` wherever a loaded torch module holds ``original`` as a module-level name."""
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "torch" or module_name.startswith("torch.")):
            continue
        for name, value in list(vars(module).items()):
            if value is original:
                setattr(module, name, replacement)


def public_functions(module):
    return [name for name in dir(module)
            if not name.startswith("_") and callable(getattr(module, name))
            and (getattr(getattr(module, name), "__module__", None) or "torch").startswith("torch")
            and not isinstance(getattr(module, name), type)]


def refuse_graphs(trial, torch):
    """Make the student side's snapshot (its one way of recording a value) refuse a tensor with a graph:
    autograd could have computed it."""
    original = trial.snapshot

    def snapshot(value):
        if isinstance(value, torch.Tensor) and (value.requires_grad or value.grad_fn is not None):
            raise RejectedOutput("a returned tensor carries an autograd graph (requires_grad=True): "
                                 "compute it by hand, without autograd, and return a plain tensor")
        return original(value)

    trial.snapshot = snapshot


def failure(error, submission, config):
    """A case's status for an exception: not done yet, forbidden shortcut, or error with the student's line."""
    try:
        message = without_own_paths(str(error), config)[:MESSAGE_CHARS]
    except BaseException:  # an exception class of the student's whose str() raises
        message = "(the exception's message could not be read)"
    if isinstance(error, OSError) and error.errno == errno.EFBIG:
        message += " (a file or the printed output passed the grader's size limit: too much output?)"
    if isinstance(error, NotImplementedError) and NOT_DONE_MARK in message:
        return {"status": "not_done", "message": message}
    if isinstance(error, ForbiddenCall):
        return {"status": "forbidden", "message": message}
    if isinstance(error, RejectedOutput):
        return {"status": "rejected", "message": message}
    return {"status": "error", "type": type(error).__name__, "message": message,
            "where": student_frame(error, submission)}


def without_own_paths(text, config):
    """The text with this child's folders named alike in every run (their real paths are random)."""
    text = text.replace(str(Path(config["submission"]).resolve()) + "/", "")
    for name in ("grader", "plan", "hidden_plan", "out", "work"):
        text = text.replace(str(Path(config[name]).resolve()), f"<{name}>")
    return text


def student_frame(error, submission):
    """'course_lib/nn/conv.py, line 12, in backward: <source line>' for the deepest frame in the submission."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if frame.filename and submission in Path(frame.filename).resolve().parents]
    if not frames:
        return None
    frame = frames[-1]
    where = f"{Path(frame.filename).resolve().relative_to(submission)}, line {frame.lineno}, in {frame.name}"
    return f"{where}: {frame.line}" if frame.line else where


if __name__ == "__main__":
    main(sys.argv[1])
