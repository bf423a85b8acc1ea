"""Advice for exceptions: the torch errors students' code usually raises, turned into a hint for the exercise.

``advice_for(exercise_id, error_type, message, line)`` looks at the exception's type name, its message
and the line of the student's code that raised it (plain strings, so the grader can call it with what
its child process reported) and returns the catalogue's Hint for that mistake in that exercise, with
what the message measured as its detail, or None. The report keeps torch's own message below it.
"""

import re
from dataclasses import dataclass

from course_lib.check.hints import hint, pick


@dataclass(frozen=True)
class Rule:
    """An exception that means a known mistake.

    error_type: the exception's class name; message, line: regular expressions searched in its message
    and in the student's line ("" matches anything); slugs(match): the mistakes' slugs to try, in order,
    for the exercise (the first one the catalogue has a text for wins); detail(match): the hint's detail.
    ``match`` holds the named groups of both expressions.
    """

    error_type: str
    message: str
    line: str
    slugs: object
    detail: object = None


def grad_slug(found):
    return ["bias-not-summed"] if found["parameter"] == "bias" else ["weight-grad-not-summed", "two-d-only"]


def grad_detail(found):
    if found.get("want"):
        return f"{found['parameter']}.grad has shape ({found['want']}), the tensor added to it ({found['got']})"
    return f"{found['parameter']}.grad and the tensor added to it differ in size: {found['a']} and {found['b']}"


def chained_slug(found):
    if found.get("target") and found["target"] != found["argument"]:
        return ["outputs-not-chained"]
    return ["forward-order"]


RULES = (
    # p.grad += something of another shape: a sum over the batch (and positions) is missing.
    Rule("RuntimeError", r"output with shape \[(?P<want>[^\]]*)\] doesn't match the broadcast shape "
                         r"\[(?P<got>[^\]]*)\]|"
                         r"The size of tensor a \((?P<a>\d+)\) must match the size of tensor b \((?P<b>\d+)\)",
         r"\b(?P<parameter>weight|bias)\.grad\s*(\+=|=)", grad_slug, grad_detail),
    # A parameter's gradient reshaped before it was summed over the batch.
    Rule("RuntimeError", r"shape '\[(?P<want>[^\]]*)\]' is invalid for input of size (?P<size>\d+)",
         r"\b(?P<parameter>weight|bias)\.grad\s*(\+=|=)", grad_slug,
         lambda found: f"{found['size']} values cannot be reshaped to {found['parameter']}'s ({found['want']})"),
    # Columns reshaped to an image: only fold adds up a pixel's share from each patch.
    Rule("RuntimeError", r"shape '\[(?P<shape>[^\]]*)\]' is invalid for input of size (?P<size>\d+)",
         r"\.(reshape|view)\(", lambda found: ["reshape-not-fold"],
         lambda found: f"{found['size']} values cannot be reshaped to ({found['shape']})"),
    # fold got fewer columns than the output has kernel positions (output_padding >= stride).
    Rule("ValueError", r"holds (?P<positions>\d+ x \d+ = \d+) patch positions", "",
         lambda found: ["grid-not-padded"], lambda found: f"fold expects {found['positions']} columns"),
    # torch.mm, .t(), .T on more than 2 dimensions.
    Rule("RuntimeError", r"self must be a matrix|t\(\) expects a tensor with <= 2 dimensions|"
                         r"Expected size for first two dimensions of batch2 tensor", "",
         lambda found: ["two-d-only"]),
    # A matrix product whose inner sizes differ.
    Rule("RuntimeError", r"mat1 and mat2 shapes cannot be multiplied \((?P<a>\d+)x(?P<b>\d+) and "
                         r"(?P<c>\d+)x(?P<d>\d+)\)", "",
         lambda found: ["weight-not-transposed", "grad-input-weight-transposed", "outputs-not-chained"],
         lambda found: f"({found['a']}, {found['b']}) @ ({found['c']}, {found['d']}): the inner sizes "
                       f"{found['b']} and {found['c']} differ"),
    # self.bias used in a layer built with bias=False.
    Rule("AttributeError", r"'NoneType' object has no attribute '(data|grad)'", r"\bself\.bias\.(data|grad)\b",
         lambda found: ["bias-none"]),
    # A module's backward given a gradient of another shape than its forward returned.
    Rule("ValueError", r"expects grad_output of the shape its forward returned",
         r"(?:(?P<target>\w+)\s*=\s*)?[\w.\[\]]+\.backward\((?P<argument>\w+)\)", chained_slug),
)


def advice_for(exercise_id, error_type, message, line=""):
    """The catalogue Hint for an exception raised by the student's code in ``exercise_id``, or None.

    error_type: the exception's class name ("RuntimeError"); message: str(exception); line: the
    student's source line where it was raised (the deepest frame of their code), or "".
    """
    for rule in RULES:
        if rule.error_type != error_type:
            continue
        in_message = re.search(rule.message, message or "")
        in_line = re.search(rule.line, line or "") if rule.line else None
        if not in_message or (rule.line and not in_line):
            continue
        found = {**in_message.groupdict(), **(in_line.groupdict() if in_line else {})}
        for slug in rule.slugs(found):
            hint_id = pick(exercise_id, slug)
            if hint_id is not None:
                return hint(hint_id, rule.detail(found) if rule.detail else "")
    return None
