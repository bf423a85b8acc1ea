"""Reports: what a check found, as aligned text in a terminal and as an HTML table in Jupyter.

A ``Report`` (what every check returns) holds one ``CaseReport`` per case; a case report holds one
``Row`` per tensor compared (or statistic, for an init). ``report.passed`` is True when every case
passed. A case is "pass", "fail", "not done" (the exercise still raises NotImplementedError) or
"error" (the student's code raised; the row-less report gives the exception and the student's line).
"""

import html
from dataclasses import dataclass, field

STATUS_COLOURS = {  # (text, background)
    "pass": ("#137333", "#e6f4ea"),
    "fail": ("#a50e0e", "#fce8e6"),
    "error": ("#a50e0e", "#fce8e6"),
    "not done": ("#7a4f01", "#fef7e0"),
    "not started": ("#5f6368", "#f1f3f4"),
}
STATUS_WORDS = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "not done": "not done yet",
                "not started": "not started"}


@dataclass
class Row:
    """One tensor (or statistic) compared.

    name: what was compared ("grad input", "weight.grad", "used twice: grad input, 1st use")
    max_abs_error: max |actual - expected| (None when it cannot be computed, e.g. a wrong shape)
    relative_error: max_abs_error / max |expected|
    worst_index: the index of the element with the largest error
    hint: a fingerprints.Hint naming the likely mistake, or None
    note: anything else to say ("shape (3, 4), expected (4, 3)", "first wrong after step 2")
    """

    name: str
    passed: bool
    max_abs_error: float = None
    relative_error: float = None
    worst_index: tuple = None
    hint: object = None
    note: str = ""


@dataclass
class CaseReport:
    """One case of one check. status: "pass", "fail", "not done" or "error"; message and where
    (file:line of the student's code) explain "not done" and "error"; hint: for an "error", the
    mistake the exception usually means (check.advice_for), or None."""

    title: str
    label: str
    status: str
    rows: list = field(default_factory=list)
    message: str = ""
    where: str = ""
    hint: object = None

    @property
    def passed(self):
        return self.status == "pass"

    @property
    def hints(self):
        """Every hint of the case: the error's, then each row's."""
        return ([self.hint] if self.hint else []) + [row.hint for row in self.rows if row.hint]

    @property
    def summary(self):
        """One line: the case, its status, and the first problem."""
        text = f"{self.title} [{self.label}]: {STATUS_WORDS[self.status]}"
        failed = [row for row in self.rows if not row.passed]
        if self.message:
            text += f": {self.message}"
        elif failed:
            text += f": {failed[0].name} differs" + (f" ({failed[0].hint.name})" if failed[0].hint else "")
        return text


def combined_status(statuses):
    """Of several cases: "not done" or "error" if any is, else "fail" if any fails, else "pass"."""
    for status in ("not done", "error", "fail"):
        if status in statuses:
            return status
    return "pass"


@dataclass
class Report:
    """What a check returns: ``cases`` (CaseReports), ``passed``, ``status``; prints as text, shows as
    HTML in Jupyter."""

    title: str
    cases: list

    @property
    def passed(self):
        return bool(self.cases) and all(case.passed for case in self.cases)

    @property
    def status(self):
        return combined_status([case.status for case in self.cases])

    @property
    def hints(self):
        return [hint for case in self.cases for hint in case.hints]

    def __bool__(self):
        return self.passed

    def __str__(self):
        passed = sum(case.passed for case in self.cases)
        lines = [f"{self.title}: {STATUS_WORDS[self.status]} ({passed} of {len(self.cases)} cases pass)"]
        for case in self.cases:
            lines.extend(case_text(case, self.case_name(case)))
        return "\n".join(lines)

    def case_name(self, case):
        """The case's label, led by its exercise when the report covers several."""
        several = len({other.title for other in self.cases}) > 1
        return f"{case.title}: {case.label}" if several else case.label

    def _repr_html_(self):
        passed = sum(case.passed for case in self.cases)
        parts = [f'<div style="font-family: sans-serif; margin: 0.5em 0">',
                 f'<div style="font-size: 1.1em; margin-bottom: 0.3em"><b>{escape(self.title)}</b> '
                 f'{badge(self.status)} <span style="color: #5f6368">{passed} of {len(self.cases)} cases '
                 f'pass</span></div>']
        parts.extend(case_html(case, self.case_name(case)) for case in self.cases)
        parts.append("</div>")
        return "".join(parts)


# --- text -------------------------------------------------------------------------------------------

COLUMNS = ("checked", "max abs error", "rel. error", "worst at", "result", "hint")


def number(value):
    if value is None:
        return "-"
    return "0" if value == 0 else f"{value:.2e}"


def hint_text(hint):
    """A hint's name and, if any, its detail: "off by a constant factor (factor 0.5 = 1/2)"."""
    return f"{hint.name} ({hint.detail})" if hint.detail else hint.name


def row_cells(row):
    worst = "-" if row.passed or row.worst_index is None else str(tuple(row.worst_index))
    hint = hint_text(row.hint) if row.hint else ""
    remark = "; ".join(filter(None, (row.note, hint)))
    return [row.name, number(row.max_abs_error), number(row.relative_error), worst,
            "pass" if row.passed else "FAIL", remark]


def causes(case):
    """Each distinct hint's (name, cause), once per case, in order."""
    return list(dict.fromkeys((hint.name, hint.cause) for hint in case.hints))


def case_text(case, name):
    mark = "✓" if case.passed else "✗"
    head = f"  {mark} {name}: {STATUS_WORDS[case.status]}"
    if case.status == "pass":
        return [f"{head} ({len(case.rows)} checked)"]
    if case.status in ("not done", "error"):
        advice = [f"      hint: {hint_text(case.hint)}: {case.hint.cause}"] if case.hint else []
        lines = [head, *advice, f"      {case.message}"]
        return lines + ([f"      at {case.where}"] if case.where else [])
    table = [list(COLUMNS)] + [row_cells(row) for row in case.rows]
    widths = [max(len(cells[column]) for cells in table) for column in range(len(COLUMNS))]
    lines = [head]
    lines += ["      " + "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
              for cells in table]
    lines += [f"      hint: {hint_name}: {cause}" for hint_name, cause in causes(case)]
    return lines


# --- HTML -------------------------------------------------------------------------------------------


def escape(text):
    return html.escape(str(text))


def badge(status):
    colour, background = STATUS_COLOURS[status]
    return (f'<span style="color: {colour}; background: {background}; padding: 0.1em 0.5em; '
            f'border-radius: 0.6em; font-weight: bold">{escape(STATUS_WORDS[status])}</span>')


def case_html(case, name):
    head = f'{badge(case.status)} {escape(name)}'
    if case.status in ("not done", "error"):
        where = f'<div style="color: #5f6368">at <code>{escape(case.where)}</code></div>' if case.where else ""
        advice = (f'<div style="margin-bottom: 0.2em"><b>{escape(hint_text(case.hint))}</b>: '
                  f'{escape(case.hint.cause)}</div>') if case.hint else ""
        return (f'<div style="margin: 0.3em 0">{head}<div style="margin: 0.2em 0 0 1em">{advice}'
                f'<code>{escape(case.message)}</code>{where}</div></div>') if advice else \
            (f'<div style="margin: 0.3em 0">{head}<div style="margin: 0.2em 0 0 1em">'
             f'{escape(case.message)}{where}</div></div>')
    cell = 'style="padding: 0.15em 0.6em; text-align: left; border-bottom: 1px solid #e0e0e0"'
    header = "".join(f"<th {cell}>{escape(column)}</th>" for column in COLUMNS)
    body = []
    for row in case.rows:
        colour, background = STATUS_COLOURS["pass" if row.passed else "fail"]
        cells = [f"<td {cell}>{escape(text)}</td>" for text in row_cells(row)]
        cells[4] = f'<td {cell}><b style="color: {colour}">{"pass" if row.passed else "FAIL"}</b></td>'
        body.append(f'<tr style="background: {background}">{"".join(cells)}</tr>')
    table = (f'<table style="border-collapse: collapse; margin: 0.2em 0 0.4em 1em; font-size: 0.9em">'
             f'<tr>{header}</tr>{"".join(body)}</table>')
    if case.passed:
        return (f'<details style="margin: 0.3em 0"><summary>{head} '
                f'<span style="color: #5f6368">({len(case.rows)} checked)</span></summary>{table}</details>')
    explained = "".join(f'<li><b>{escape(hint_name)}</b>: {escape(cause)}</li>'
                        for hint_name, cause in causes(case))
    hints = f'<ul style="margin: 0 0 0.4em 1em">{explained}</ul>' if explained else ""
    return f'<div style="margin: 0.3em 0">{head}{table}{hints}</div>'


@dataclass
class Progress:
    """Every exercise's status: ``entries`` is a list of (exercise, "pass" | "fail" | "not started")."""

    entries: list

    @property
    def points(self):
        return sum(exercise.points for exercise, status in self.entries if status == "pass")

    @property
    def max_points(self):
        return sum(exercise.points for exercise, _ in self.entries)

    def counts(self):
        statuses = [status for _, status in self.entries]
        return ", ".join(f"{statuses.count(status)} {status}" for status in ("pass", "fail", "not started"))

    def by_notebook(self):
        notebooks = {}
        for exercise, status in self.entries:
            notebooks.setdefault(exercise.notebook, []).append((exercise, status))
        return notebooks

    def total_line(self):
        return f"Total: {self.points:g} / {self.max_points:g} points ({self.counts()})"

    def __str__(self):
        id_width = max(len(exercise.id) for exercise, _ in self.entries)
        title_width = max(len(exercise.title) for exercise, _ in self.entries)
        lines = []
        for notebook, entries in self.by_notebook().items():
            earned = sum(exercise.points for exercise, status in entries if status == "pass")
            possible = sum(exercise.points for exercise, _ in entries)
            lines.append(f"{notebook}  ({earned:g} / {possible:g} points)")
            for exercise, status in entries:
                points = f"{exercise.points:g} pt{'s' if exercise.points != 1 else ' '}"
                lines.append(f"  {exercise.id.ljust(id_width)}  {exercise.title.ljust(title_width)}  {points}  "
                             f"{STATUS_WORDS[status]}")
            lines.append("")
        lines.append(self.total_line())
        return "\n".join(lines)

    def _repr_html_(self):
        cell = 'style="padding: 0.15em 0.6em; text-align: left"'
        rows = []
        for notebook, entries in self.by_notebook().items():
            rows.append(f'<tr><th colspan="4" {cell}>{escape(notebook)}</th></tr>')
            rows.extend(f"<tr><td {cell}><code>{escape(exercise.id)}</code></td>"
                        f"<td {cell}>{escape(exercise.title)}</td><td {cell}>{exercise.points:g}</td>"
                        f"<td {cell}>{badge(status)}</td></tr>" for exercise, status in entries)
        return (f'<div style="font-family: sans-serif"><table style="border-collapse: collapse">'
                f'<tr><th {cell}>exercise</th><th {cell}></th><th {cell}>points</th><th {cell}>status</th></tr>'
                f'{"".join(rows)}</table><p><b>{escape(self.total_line())}</b></p></div>')
