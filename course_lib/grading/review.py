"""The integrity review: the course's rules checked on a submission's source, before it runs.

The rule of the course: no autograd, no torch.nn, no torch.nn.functional (but ``pad``), no torch.ops,
no torch._C or other private torch module, no torch.func. The review reads every Python file of the
submitted package that differs from the grader's own file at the same place (so the course's given
code, and the instructor edition, are never flagged) and finds

- those names, however they are reached: ``import torch.nn.functional as F`` then ``F.conv2d``,
  ``from torch import autograd``, ``t = torch`` then ``t.ops``, ``getattr(torch, "ops")``;
- the escapes that would hide a name or leave the sandbox: exec/eval/compile, ``__import__``,
  importlib, getattr/setattr/delattr with a computed name, ctypes, subprocess, os.system/exec*/spawn*/
  fork/popen, multiprocessing, sys.modules and other interpreter internals, ``__main__``, gc, frames
  and function internals (``__globals__``, ``f_back``, ...), pickle and marshal.

A finding does not change a grade: the submission gets the status ``review`` and keeps its points,
and the note and feedback give file:line and the construct, for the instructor to decide. The runner's
torch guards and the comparison with autograd in the grading process stay the real defence.

Files that cannot be reviewed are refused (``InvalidSubmission``): compiled bytecode without source,
native extension modules, Python files too large to be a student's.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

from course_lib.grading.submissions import PACKAGE, InvalidSubmission

MAX_SOURCE_BYTES = 2**20
NOT_SOURCE = (".pyc", ".pyo", ".so", ".pyd", ".dylib", ".dll")
COURSE_RULE = "not allowed (no autograd, torch.nn, torch.nn.functional, torch.ops or torch._C in this course)"

FORBIDDEN_TORCH = {
    "torch.autograd": "autograd", "torch.nn": "torch.nn", "torch.func": "torch.func (autograd transforms)",
    "torch.ops": "torch.ops (torch's kernels)", "torch.library": "torch.library (torch's kernels)",
    "torch.enable_grad": "autograd", "torch.set_grad_enabled": "autograd",
    "torch.vmap": "torch.func (autograd transforms)", "torch.Tensor.backward": "autograd",
    "torch.Tensor.register_hook": "autograd", "torch.Tensor.grad_fn": "autograd",
    "torch.convolution": "torch's convolution kernel", "torch.conv2d": "torch's convolution kernel",
    "torch.conv_transpose2d": "torch's convolution kernel", "torch.conv1d": "torch's convolution kernel",
    "torch.conv3d": "torch's convolution kernel", "torch.conv_tbc": "torch's convolution kernel",
}
ALLOWED_TORCH = {"torch.nn.functional.pad"}
ESCAPE_MODULES = {
    "importlib": "importlib (imports by computed name)", "ctypes": "ctypes (native code)",
    "_ctypes": "ctypes (native code)", "cffi": "cffi (native code)", "subprocess": "subprocess (runs programs)",
    "multiprocessing": "multiprocessing (new processes)", "pty": "pty (new processes)",
    "gc": "gc (reaches every object of the grader)", "inspect": "inspect (reaches the grader's frames)",
    "marshal": "marshal (code from bytes)", "pickle": "pickle (code from bytes)",
    "builtins": "builtins (replaces Python's own functions)", "runpy": "runpy (runs code by name)",
    "code": "code (runs code from text)", "codeop": "codeop (compiles text)", "__main__": "__main__ (the grader)",
    "socket": "socket (the network)", "signal": "signal (the process's signals)", "zipimport": "zipimport",
}
ESCAPE_CALLS = {
    "exec": "exec (code from text)", "eval": "eval (code from text)", "compile": "compile (code from text)",
    "__import__": "__import__ (imports by computed name)", "breakpoint": "breakpoint",
}
ESCAPE_ATTRIBUTES = {
    "os.system": "runs programs", "os.popen": "runs programs", "os.fork": "new processes",
    "os.forkpty": "new processes", "os.posix_spawn": "runs programs", "os.posix_spawnp": "runs programs",
    "os.kill": "signals processes", "os.killpg": "signals processes", "os.dup2": "rewires the grader's files",
    "sys.modules": "the interpreter's modules", "sys.meta_path": "the import system", "sys.path_hooks": "the import system",
    "sys.path": "the import system", "sys._getframe": "the grader's frames", "sys.settrace": "the grader's frames",
    "sys.setprofile": "the grader's frames", "sys.addaudithook": "the interpreter's hooks",
}
ESCAPE_PREFIXES = ("os.exec", "os.spawn")
INTERNALS = {"__globals__", "__builtins__", "__subclasses__", "__code__", "__closure__", "__import__",
             "__loader__", "__spec__", "f_back", "f_globals", "f_locals", "f_builtins", "gi_frame", "cr_frame",
             "tb_frame", "tb_next", "co_code", "__reduce__", "__reduce_ex__", "__getattribute__"}
NAME_FUNCTIONS = {"getattr", "setattr", "delattr", "hasattr"}


@dataclass(frozen=True)
class Finding:
    """One construct the review flags: where (path inside the submission, line) and what."""

    file: str
    line: int
    construct: str
    why: str

    def __str__(self):
        return f"{self.file}:{self.line}: {self.construct} ({self.why})"


def review(submission, own_package):
    """Findings for the package ``submission/course_lib``; files equal to ``own_package``'s are trusted.

    Raises InvalidSubmission for files that cannot be reviewed (bytecode, native code, huge sources).
    """
    root = Path(submission) / PACKAGE
    findings = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(root)
        shown = f"{PACKAGE}/{relative.as_posix()}"
        if path.suffix.lower() in NOT_SOURCE:
            raise InvalidSubmission(f"{shown} is compiled or native code, which the grader cannot review: "
                                    "submit your .py files only.")
        if path.suffix != ".py":
            continue
        source = path.read_bytes()
        own = Path(own_package, relative)
        if own.is_file() and own.read_bytes() == source:
            continue
        if len(source) > MAX_SOURCE_BYTES:
            raise InvalidSubmission(f"{shown} is larger than {MAX_SOURCE_BYTES // 1024} kB: submit your own "
                                    "source files only.")
        findings += review_source(source, shown)
    return findings


def review_source(source, shown):
    """Findings in one file's source (bytes); ``shown``: its name in notes."""
    try:
        tree = ast.parse(source, filename=shown)
    except SyntaxError:
        return []  # Python will refuse to import it too: the child reports the error
    except (ValueError, RecursionError, MemoryError) as error:
        return [Finding(shown, 1, "the file", f"could not be reviewed: {type(error).__name__}")]
    reviewer = Reviewer(shown)
    try:
        reviewer.visit(tree)
    except RecursionError:
        reviewer.flag(tree, "the file", "could not be reviewed: nested too deeply")
    return sorted(set(reviewer.findings), key=lambda finding: (finding.line, finding.construct))


class Reviewer(ast.NodeVisitor):
    """Walks one module, resolving the names bound to modules (imports, assignments) to dotted paths."""

    def __init__(self, shown):
        self.shown = shown
        self.findings = []
        self.aliases = {}

    def flag(self, node, construct, why):
        self.findings.append(Finding(self.shown, getattr(node, "lineno", 1), construct, why))

    # --- names bound to modules -------------------------------------------------------------------

    def visit_Module(self, node):
        # Aliases first, wherever they are made, so a use above its import (in a function) resolves too.
        for child in ast.walk(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.aliases[top] = top
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                for alias in child.names:
                    if alias.name != "*":
                        self.aliases[alias.asname or alias.name] = f"{child.module}.{alias.name}"
        for _ in range(3):  # t = torch; u = t.nn: a few rounds settle chains of assignments
            for child in ast.walk(node):
                if isinstance(child, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and child.value is not None:
                    dotted = self.dotted(child.value)
                    targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                    for target in targets:
                        if dotted and isinstance(target, ast.Name):
                            self.aliases[target.id] = dotted
        self.generic_visit(node)

    def dotted(self, node):
        """The dotted path an expression names ("torch.nn.functional.conv2d"), or None."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str):
            base = self.dotted(node.args[0])
            return f"{base}.{node.args[1].value}" if base else None
        return None

    # --- what is flagged --------------------------------------------------------------------------

    def check_path(self, node, dotted):
        if dotted is None:
            return
        if any(dotted == allowed or dotted.startswith(allowed + ".") for allowed in ALLOWED_TORCH):
            return
        parts = dotted.split(".")
        if parts[0] == "torch":
            for prefix, what in FORBIDDEN_TORCH.items():
                if dotted == prefix or dotted.startswith(prefix + "."):
                    self.flag(node, dotted, f"{what}: {COURSE_RULE}")
                    return
            if len(parts) > 1 and parts[1].startswith("_") and not parts[1].startswith("__"):
                self.flag(node, dotted, f"torch's private modules: {COURSE_RULE}")
            return
        if parts[0] in ESCAPE_MODULES:
            if isinstance(node, (ast.Import, ast.ImportFrom)):  # its import is the finding, not each use
                self.flag(node, dotted, f"{ESCAPE_MODULES[parts[0]]}: not allowed in a submission")
            return
        for prefix, why in ESCAPE_ATTRIBUTES.items():
            if dotted == prefix or dotted.startswith(prefix + "."):
                self.flag(node, dotted, f"{why}: not allowed in a submission")
                return
        if dotted.startswith(ESCAPE_PREFIXES):
            self.flag(node, dotted, "runs programs: not allowed in a submission")

    def visit_Import(self, node):
        # A torch module's import is no finding of its own (``import torch.nn.functional as F`` for F.pad);
        # every use of a name in it is checked where it is made.
        for alias in node.names:
            if alias.name.split(".")[0] != "torch":
                self.check_path(node, alias.name)

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return  # relative imports stay inside the submission
        for alias in node.names:
            if alias.name == "*":
                self.check_path(node, node.module)
                if node.module.split(".")[0] in ("torch", "os", "sys"):
                    self.flag(node, f"from {node.module} import *", "hides which names are used: import them "
                                                                      "by name")
            else:
                self.check_path(node, f"{node.module}.{alias.name}")

    def visit_Attribute(self, node):
        if node.attr in INTERNALS:
            self.flag(node, f".{node.attr}", "interpreter internals: not allowed in a submission")
        dotted = self.dotted(node)
        if dotted:
            self.check_path(node, dotted)
            return  # the shorter paths inside it are parts of this one
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in INTERNALS:
            self.flag(node, node.id, "interpreter internals: not allowed in a submission")
        elif node.id in ESCAPE_CALLS:
            self.flag(node, node.id, f"{ESCAPE_CALLS[node.id]}: not allowed in a submission")

    def visit_Call(self, node):
        function = node.func
        self.check_path(node, self.dotted(node))  # getattr(torch, "ops")
        if isinstance(function, ast.Name) and function.id in NAME_FUNCTIONS and len(node.args) >= 2:
            name = node.args[1]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.flag(node, f"{function.id}(..., <computed name>)", "an attribute chosen at run time hides "
                                                                        "what is used: name it")
            elif name.value in INTERNALS:
                self.flag(node, f"{function.id}(..., {name.value!r})", "interpreter internals: not allowed in a "
                                                                       "submission")
        if isinstance(function, ast.Name) and (function.id == "globals" or function.id == "vars" and (
                not node.args or self.dotted(node.args[0]))):
            self.flag(node, f"{function.id}()", "reaches a module's names without naming them: not allowed in a "
                                                "submission")
        self.generic_visit(node)

    def visit_Subscript(self, node):
        container = self.dotted(node.value)
        if isinstance(node.value, ast.Attribute) and node.value.attr == "__dict__" and container:
            self.flag(node, f"{container}[...]", "reaches a module's names by computed key: name them")
        self.generic_visit(node)
