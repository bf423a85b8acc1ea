"""The notebook helper: every course notebook loads it in its first code cell.

    %load_ext course_lib.notebook

It turns on ``%autoreload 2`` (a saved edit to course_lib is used by the next cell you run, without
restarting the kernel), seeds torch, numpy and random with 0, sets matplotlib defaults for small
inline figures, lets the C allocator keep freed memory for reuse (``keep_freed_memory``), and adds
the cell magic ``%%needs``::

    %%needs conv2d.forward conv2d.backward
    layer = nn.Conv2d(3, 8, 3)
    ...

The body runs as a normal cell if every named exercise is done. If one is not done yet, the cell
prints a line per missing exercise instead and does not run the body, without an error, so "Run All"
goes on. An exercise is "not done yet" while its function still holds the stub that
``course-lib release`` wrote; the decision reads the function's source and never runs student code.
An unknown exercise id is an error, so a typo in a notebook fails in CI.

``exercise_done(id)`` and ``missing_exercises(*ids)`` make the same decision from Python.
"""

import ast
import ctypes
import ctypes.util
import importlib
import inspect
import json
import random
import re

import matplotlib
import numpy
import torch
from IPython import get_ipython
from IPython.core.error import UsageError
from IPython.core.magic import output_can_be_silenced

SEED = 0
SMALL_FIGURES = {"figure.figsize": (4.5, 3.0), "figure.dpi": 100, "font.size": 9, "axes.grid": False}
# glibc's mallopt parameters (malloc.h), and the block size below which freed memory is kept for reuse.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_FREED_BELOW = 1 << 30

# The stub `course-lib release` puts in place of each solution; %%needs recognises it by this start.
STUB_START = 'raise NotImplementedError("Exercise {id} is not done yet'
STUB_PATTERN = re.compile(r'^(?P<indent>[ \t]*)raise NotImplementedError\("Exercise (?P<id>\S+) is not done yet')


def stub_line(exercise):
    """The one line (without indentation) that replaces the solution of ``exercise`` in the student edition."""
    message = (f"Exercise {exercise.id} is not done yet: implement {exercise.function} in {exercise.file} "
               f"— see notebooks/{exercise.notebook}.ipynb, section '{exercise.section}'.")
    # A JSON string is also a valid Python string literal, with quotes and backslashes escaped.
    return f"raise NotImplementedError({json.dumps(message, ensure_ascii=False)})"


def registry():
    """Exercises by id, from course_lib/exercises/ (looked up at each call, so tests can replace it)."""
    return {exercise.id: exercise for exercise in importlib.import_module("course_lib.exercises").EXERCISES}


def exercise_function(exercise):
    """The live function of ``exercise``: ``Conv2d.backward`` of course_lib.nn.conv, for instance."""
    module = importlib.import_module(exercise.file.removesuffix(".py").replace("/", "."))
    function = module
    for name in exercise.function.split("."):
        function = getattr(function, name)
    return inspect.unwrap(function)


def exercise_done(exercise_id):
    """True once the stub is gone from the exercise's function (whatever replaced it)."""
    return not missing_exercises(exercise_id)


def missing_exercises(*exercise_ids):
    """The exercises among ``exercise_ids`` that are not done yet, in the order given.

    Raises ValueError for an id the registry does not know.
    """
    exercises = registry()
    unknown = [exercise_id for exercise_id in exercise_ids if exercise_id not in exercises]
    if unknown:
        raise ValueError(f"Unknown exercise id(s): {', '.join(unknown)}. "
                         f"Known ids (course_lib/exercises/): {', '.join(exercises)}.")
    return [exercises[exercise_id] for exercise_id in exercise_ids if still_stubbed(exercises[exercise_id])]


def still_stubbed(exercise):
    # getsource reads the file as it is now; autoreload has already reloaded the module for this cell.
    return STUB_START.format(id=exercise.id) in inspect.getsource(exercise_function(exercise))


def not_done_message(exercise):
    return (f"This cell needs exercise {exercise.id}, not done yet: implement {exercise.function} in "
            f"{exercise.file} — see {exercise.notebook}, section '{exercise.section}'.")


def needs(line, cell):
    """%%needs ID [ID ...]: run the cell only if every named exercise is done (see the module docstring)."""
    __tracebackhide__ = True  # errors in the body show the body's lines, not this function's
    exercise_ids = line.split()
    if not exercise_ids:
        raise UsageError("%%needs expects exercise ids on its line, e.g. %%needs conv2d.forward conv2d.backward")
    try:
        missing = missing_exercises(*exercise_ids)
    except ValueError as error:
        raise UsageError(f"%%needs: {error}") from None
    if missing:
        print("\n".join(not_done_message(exercise) for exercise in missing))
        return None
    return run_as_cell(get_ipython(), cell)


def run_as_cell(shell, source):
    """Run ``source`` as IPython runs a cell, returning the value of a final expression.

    Unlike a nested run_cell, an exception propagates, so the cell fails as it would without %%needs.
    """
    __tracebackhide__ = True
    code = shell.transform_cell(source)
    tree = shell.transform_ast(ast.parse(code))
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    # Registered like a cell's code, so tracebacks quote the body's lines.
    filename = shell.compile.cache(code, shell.execution_count, raw_code=source)
    namespace = shell.user_ns
    exec(compile(tree, filename, "exec"), namespace)
    if last is not None:
        return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
    return None


def seed_everything(seed=SEED):
    random.seed(seed)
    numpy.random.seed(seed)
    torch.manual_seed(seed)


def keep_freed_memory():
    """Let glibc's malloc keep freed blocks below 1 GiB for reuse; returns whether it could (False on other
    C libraries, where nothing changes).

    By default glibc gives every freed block of more than a few MB back to the operating system, and the
    next allocation of that size makes the kernel map and zero its pages again. unfold and fold allocate
    column tensors of tens of MB in every forward and backward pass, so this costs about a third of a
    capstone training step; torch's own convolutions allocate little and hardly notice. The price: the
    process keeps its largest footprint instead of shrinking after a peak.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_FREED_BELOW) and mallopt(M_TRIM_THRESHOLD, KEEP_FREED_BELOW))


def load_ipython_extension(shell):
    shell.run_line_magic("load_ext", "autoreload")
    shell.run_line_magic("autoreload", "2")
    seed_everything()
    keep_freed_memory()
    if getattr(shell, "kernel", None) is not None:
        # Activate the inline backend now, so its own defaults do not override ours later.
        shell.run_line_magic("matplotlib", "inline")
    matplotlib.rcParams.update(SMALL_FIGURES)
    # A body ending in ";" hides its last value, as in a plain cell.
    shell.register_magic_function(output_can_be_silenced(needs), magic_kind="cell")
