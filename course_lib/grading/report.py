"""The gradebook CSV (written row by row, resumable) and each student's feedback in Markdown and HTML."""

import csv
import html
import io
import json
import os
from pathlib import Path

FIXED_COLUMNS = ("student", "total", "max", "status", "note")


class Gradebook:
    """``student, <one column per exercise>, total, max, status, note``; one row per student.

    Rows are appended and flushed as submissions finish, so an interrupted run keeps what it graded;
    ``finish`` rewrites the file sorted by student id, so a resumed run ends with the same file as an
    uninterrupted one. The seed and exercises of a run are kept next to it (``<out>.run.json``): a
    resume with other ones would mix two gradings.
    """

    def __init__(self, path, exercise_ids, seed, restart=False):
        self.path = Path(path)
        self.header = ["student", *exercise_ids, "total", "max", "status", "note"]
        self.run_file = self.path.with_name(self.path.name + ".run.json")
        run = {"seed": seed, "exercises": list(exercise_ids)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if restart or not self.path.exists():
            self.rows = {}
            write_atomically(self.path, csv_text([self.header]))
        else:
            self.rows = self.read_existing(run)
        write_atomically(self.run_file, json.dumps(run))

    def read_existing(self, run):
        stored = json.loads(self.run_file.read_text()) if self.run_file.exists() else None
        if stored != run:
            if stored is None:
                started = f"unknown settings ({self.run_file.name} is missing)"
            elif stored.get("seed") != run["seed"]:
                started = f"--seed {stored.get('seed')}"
            else:
                started = "other exercises (the registry changed since)"
            raise ValueError(f"{self.path} was started with {started}: resume with the same settings, or pass "
                             "--restart to grade everyone again.")
        text = self.path.read_text()
        # A run killed mid-row leaves a last line without its newline: that student is graded again.
        complete = text[: text.rfind("\n") + 1]
        rows = list(csv.reader(io.StringIO(complete)))
        if not rows or rows[0] != self.header:
            raise ValueError(
                f"{self.path} does not have this run's columns (expected {self.header}); pass --restart "
                "to replace it, or choose another --out."
            )
        if complete != text:
            write_atomically(self.path, complete)
        return {row[0]: row for row in rows[1:]}

    def __contains__(self, student):
        return student in self.rows

    def add(self, row):
        """Append one student's row (a list in header order) and flush it to disk."""
        self.rows[row[0]] = [str(value) for value in row]
        with open(self.path, "a", newline="") as file:
            file.write(csv_text([self.rows[row[0]]]))
            file.flush()
            os.fsync(file.fileno())

    def finish(self):
        write_atomically(self.path, csv_text([self.header, *(self.rows[key] for key in sorted(self.rows))]))


def csv_text(rows):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def write_atomically(path, text):
    partial = Path(str(path) + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


# --- feedback ---------------------------------------------------------------------------------------

def write_feedback(folder, graded):
    """``<student>.md`` and ``<student>.html`` in ``folder`` for one GradedSubmission."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    blocks = feedback_blocks(graded)
    write_atomically(folder / f"{graded.student}.md", render_markdown(blocks))
    write_atomically(folder / f"{graded.student}.html", render_html(graded.student, blocks))


def feedback_blocks(graded):
    """The feedback as (kind, content) blocks, rendered alike to Markdown and HTML."""
    blocks = [("title", f"Feedback for {graded.student}"),
              ("paragraph", f"Total: {graded.total:g} / {graded.max_points:g} points. Status: {graded.status}.")]
    if graded.notes:
        blocks.append(("list", [[note] for note in dict.fromkeys(graded.notes)]))
    if graded.exercises:
        blocks.append(("paragraph", "An exercise earns its points when every case, visible and hidden, "
                                    "matches PyTorch autograd."))
        blocks.append(("table", [["exercise", "points", "cases passed"]] + [
            [score.exercise, f"{score.points:g} / {score.max_points:g}", f"{score.passed} / {len(score.cases)}"]
            for score in graded.exercises]))
    for score in graded.exercises:
        blocks.append(("heading", f"{score.exercise}: {score.points:g} / {score.max_points:g}"))
        blocks.append(("list", case_items(score.cases)))
    if graded.output:
        blocks.append(("heading", "What your code printed"))
        blocks.append(("code", graded.output))
    return blocks


def case_items(cases):
    """One item per case, or a single one when every case ended alike (say, all "not done yet")."""
    first = cases[0] if cases else None
    if len(cases) > 1 and all(outcome(case) == outcome(first) for case in cases):
        return [case_lines(first, f"all {len(cases)} cases")]
    return [case_lines(case, case.label) for case in cases]


def outcome(case):
    return case.verdict, case.message, case.where, case.hint


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


def render_html(student, blocks):
    escape = html.escape
    parts = []
    for kind, content in blocks:
        if kind == "title":
            parts.append(f"<h1>{escape(content)}</h1>")
        elif kind == "heading":
            parts.append(f"<h2>{escape(content)}</h2>")
        elif kind == "paragraph":
            parts.append(f"<p>{escape(content)}</p>")
        elif kind == "table":
            header, *rows = content
            head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
            body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        elif kind == "list":
            items = "".join(
                f"<li>{escape(item[0])}"
                + ("<ul>" + "".join(f"<li>{escape(detail)}</li>" for detail in item[1:]) + "</ul>" if item[1:] else "")
                + "</li>" for item in content)
            parts.append(f"<ul>{items}</ul>")
        elif kind == "code":
            parts.append(f"<pre>{escape(content)}</pre>")
    style = "body{font-family:sans-serif;max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 8px}"
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Feedback for {escape(student)}</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
