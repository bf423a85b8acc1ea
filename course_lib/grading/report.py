"""Each student's feedback, in Markdown and in HTML (a Jinja2 template, every value escaped).

Files are named by the student id where it is a plain file name, else by a readable part of it and a
digest (names.feedback_name), and written atomically.
"""

import functools
import html
from pathlib import Path

import jinja2

from course_lib.grading.gradebook import write_atomically
from course_lib.grading.names import clean, feedback_name

PRINTED_HEADING = "What your code printed"
PRINTED_EXPLAINED = ("While importing course_lib and running the visible cases (the start only). What it prints "
                     "in hidden cases is not shown.")


def write_feedback(folder, graded):
    """``<name>.md`` and ``<name>.html`` in ``folder`` for one GradedSubmission (name: feedback_name)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    blocks = feedback_blocks(graded)
    name = feedback_name(graded.student)
    write_atomically(folder / f"{name}.md", render_markdown(blocks))
    write_atomically(folder / f"{name}.html", template("feedback.html").render(title=f"Feedback for {graded.student}",
                                                                  blocks=blocks))


def feedback_blocks(graded):
    """The feedback as (kind, content) blocks, rendered alike to Markdown and HTML."""
    blocks = [("title", f"Feedback for {graded.student}"),
              ("paragraph", f"Total: {graded.total:g} / {graded.max_points:g} points. Status: {graded.status}.")]
    blocks += notes_blocks(graded) + review_blocks(graded)
    if graded.exercises:
        blocks.append(("paragraph", "An exercise earns its points when every case, visible and hidden, "
                                    "matches PyTorch autograd."))
        blocks.append(("table", [["exercise", "points", "cases passed"]] + [
            [score.exercise, f"{score.points:g} / {score.max_points:g}", f"{score.passed} / {len(score.cases)}"]
            for score in graded.exercises]))
    for score in graded.exercises:
        blocks.append(("heading", f"{score.exercise}: {score.points:g} / {score.max_points:g}"))
        blocks.append(("list", case_items(score.cases)))
    return blocks + printed_blocks(graded)


def notes_blocks(graded):
    return [("list", [[clean(note)] for note in dict.fromkeys(graded.notes)])] if graded.notes else []


def review_blocks(graded):
    if not graded.findings:
        return []
    return [("heading", "Integrity review"),
            ("paragraph", "Your code uses what the course does not allow, or what hides what it uses. Your "
                          "points stand until your instructor has looked at these lines:"),
            ("list", [[str(finding)] for finding in graded.findings])]


def printed_blocks(graded):
    if not graded.printed:
        return []
    return [("heading", PRINTED_HEADING), ("paragraph", PRINTED_EXPLAINED), ("code", clean_printed(graded.printed))]


def case_items(cases):
    """One item per case, or a single one when every case ended alike (say, all "not done yet")."""
    first = cases[0] if cases else None
    if len(cases) > 1 and all(outcome(case) == outcome(first) for case in cases):
        return [case_lines(first, f"all {len(cases)} cases")]
    return [case_lines(case, case.label) for case in cases]


def outcome(case):
    # Cases not done yet all say the same, whatever the message (hidden cases carry none).
    return case.verdict if case.verdict == "not done yet" else (case.verdict, case.message, case.where, case.hint)


def case_lines(case, label):
    """One list item: the verdict line, then optional details (location, hint)."""
    lines = [f"{label}: {case.verdict}" + (f" ({case.message})" if case.message else "")]
    if case.where:
        lines.append(f"at {case.where}")
    if case.hint:
        lines.append(f"hint: {case.hint}")
    return lines


def render_markdown(blocks):
    parts = []
    for kind, content in blocks:
        if kind == "title":
            parts.append(f"# {md(content)}")
        elif kind == "heading":
            parts.append(f"## {md(content)}")
        elif kind == "paragraph":
            parts.append(md(content))
        elif kind == "table":
            header, *rows = content
            lines = [row_markdown(header), row_markdown(["---"] * len(header))] + [row_markdown(row) for row in rows]
            parts.append("\n".join(lines))
        elif kind == "list":
            parts.append("\n".join(
                "- " + md(item[0]) + "".join(f"\n  - {md(detail)}" for detail in item[1:]) for item in content))
        elif kind == "code":
            parts.append("```\n" + content.replace("```", "` ` `") + "\n```")
    return "\n\n".join(parts) + "\n"


def md(text):
    """Text for Markdown: messages come from the student's code, and a renderer would run raw HTML."""
    return html.escape(text, quote=False)


def row_markdown(cells):
    return "| " + " | ".join(md(cell).replace("|", "\\|") for cell in cells) + " |"


def clean_printed(text):
    """Printed text with its line breaks and tabs kept, every other control character escaped."""
    return "\n".join(clean(line).replace("\\x09", "\t") for line in text.splitlines())


@functools.cache
def template(name):
    """The grader's page template ``name`` (templates/): Jinja2, every value escaped."""
    environment = jinja2.Environment(loader=jinja2.PackageLoader("course_lib.grading"), autoescape=True,
                                     trim_blocks=True, lstrip_blocks=True)
    return environment.get_template(name)
