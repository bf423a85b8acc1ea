"""Gradebooks an LMS imports: Canvas and Moodle, made from the grader's own gradebook.

    course-lib grade SUBMISSIONS --out gradebook.csv --feedback DIR --format canvas [--roster ROSTER.csv]
    course-lib merge shard-*.csv --out gradebook.csv --format moodle [--roster ROSTER.csv]

The grader's gradebook stays as it is (runs resume from it); the LMS's file is written beside it,
``gradebook.canvas.csv`` or ``gradebook.moodle.csv``, with the course's total as one assignment
(``--assignment``, default "Backprop by Hand"; for Canvas, "Name (12345)" updates the existing
assignment 12345 rather than creating one).

- Canvas ("Import" in the Gradebook): ``Student, ID, SIS User ID, SIS Login ID, Section``, then the
  assignment; the second row is ``Points Possible`` with the total's maximum. Canvas matches a row to
  a student by ID, SIS User ID or SIS Login ID.
- Moodle ("Import > CSV file"): the identifier columns the roster gives among ``User ID``, ``Username``,
  ``ID number``, ``Email address`` (without a roster: ``Username``), then the assignment. On import, map
  one of them to Moodle's user id, username, ID number or email address.

Submissions are named by the student id. ``--roster`` maps these names to the LMS's students: a CSV
with a header row and any of the columns Submission, Student (or Name), ID, SIS User ID, SIS Login ID,
Section, User ID, Username, ID number, Email (or Email address); a Canvas gradebook export works as it
is. A name matches the roster row whose Submission is that name or, without a Submission column, the
one row with that name in any identifier column. Without a roster, the name is the student's login
(Canvas's SIS Login ID, Moodle's username).

Nobody is dropped: a submission the roster does not know keeps its row, with its name in every
identifier column (never a blank one, which Moodle would credit to the row before), so that the LMS
names it on import; the command lists it too. The CSV keeps the gradebook's hygiene (every cell quoted,
control characters escaped, formula starts neutralised: gradebook.write_csv).
"""

import csv
import re
from pathlib import Path

from course_lib.grading.gradebook import read_csv, write_csv

FORMATS = ("canvas", "moodle")
DEFAULT_ASSIGNMENT = "Backprop by Hand"
SHOWN_NAMES = 10

# Roster headers (lower case, single spaces) and what they hold.
ROSTER_HEADERS = {
    "submission": "submission", "student": "name", "name": "name", "student name": "name", "id": "canvas_id",
    "sis user id": "sis_user_id", "sis login id": "sis_login_id", "section": "section", "user id": "user_id",
    "userid": "user_id", "username": "username", "id number": "id_number", "idnumber": "id_number",
    "email": "email", "email address": "email",
}
IDENTIFIERS = ("sis_login_id", "sis_user_id", "canvas_id", "user_id", "username", "id_number", "email")
CANVAS_COLUMNS = (("Student", "name"), ("ID", "canvas_id"), ("SIS User ID", "sis_user_id"),
                  ("SIS Login ID", "sis_login_id"), ("Section", "section"))
MOODLE_IDENTIFIERS = (("User ID", "user_id"), ("Username", "username"), ("ID number", "id_number"),
                      ("Email address", "email"))


def lms_path(out, lms):
    """Where the ``lms`` file of the gradebook ``out`` goes: ``gradebook.canvas.csv`` beside ``gradebook.csv``."""
    out = Path(out)
    stem = out.name[:-len(".csv")] if out.name.lower().endswith(".csv") else out.name
    return out.with_name(f"{stem}.{lms}.csv")


def read_roster(path):
    """The roster's rows as {what: value} (keys of ROSTER_HEADERS' values); ValueError if it has none of them."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"cannot read the roster {path}: {error}") from None
    if not rows:
        raise ValueError(f"the roster {path} is empty: it needs a header row, then one row per student.")
    keys = [ROSTER_HEADERS.get(re.sub(r"[\s_]+", " ", header.strip().lower())) for header in rows[0]]
    if not any(key in IDENTIFIERS or key == "submission" for key in keys):
        raise ValueError(f"the roster {path} has no column saying who is who: expected Submission or an identifier "
                         "(ID, SIS User ID, SIS Login ID, User ID, Username, ID number, Email).")
    students = [{key: value.strip() for key, value in zip(keys, row) if key and value.strip()} for row in rows[1:]]
    # Rows that name nobody (blank lines, the Points Possible row of a Canvas export) are no student.
    return [student for student in students if any(key in student for key in (*IDENTIFIERS, "submission"))]


def match_students(students, roster):
    """({student: roster row, or None when unknown}, [problems, for the instructor])."""
    by_submission = any("submission" in row for row in roster)
    matches, unknown, ambiguous = {}, [], []
    for student in students:
        if by_submission:
            found = [row for row in roster if row.get("submission") == student]
        else:
            found = [row for row in roster if any(row.get(key) == student for key in IDENTIFIERS)]
        if len(found) == 1:
            matches[student] = found[0]
        else:
            matches[student] = None
            (ambiguous if found else unknown).append(student)
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} submission(s) not in the roster: {listed(unknown)}")
    if ambiguous:
        problems.append(f"{len(ambiguous)} submission(s) matching several roster rows: {listed(ambiguous)}")
    claimed = {}
    for student, row in matches.items():
        if row is not None:
            claimed.setdefault(id(row), []).append(student)
    shared = [names for names in claimed.values() if len(names) > 1]
    if shared:
        problems.append("submissions matching the same roster student: "
                        + "; ".join(listed(names) for names in shared))
    missing = sum(1 for row in roster if id(row) not in claimed)
    if missing:
        problems.append(f"{missing} roster student(s) without a submission have no row (their grade is left as it is)")
    if unknown or ambiguous:
        problems.append("their rows carry the submission name as identifier, so that the LMS reports them on "
                        "import: add them to the roster (or rename their submission) and export again")
    return matches, problems


def listed(names):
    shown = ", ".join(repr(name) for name in names[:SHOWN_NAMES])
    return shown + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


def canvas_rows(grades, matches, assignment, most):
    rows = [[header for header, _ in CANVAS_COLUMNS] + [assignment],
            ["Points Possible"] + [""] * (len(CANVAS_COLUMNS) - 1) + [most]]
    for student, total in grades:
        known = matches.get(student)
        if known is None:
            identity = {"name": student, "sis_login_id": student}
        else:
            identity = known | {"name": known.get("name", student)}
        rows.append([identity.get(key, "") for _, key in CANVAS_COLUMNS] + [total])
    return rows


def moodle_rows(grades, matches, assignment, roster):
    columns = [(header, key) for header, key in MOODLE_IDENTIFIERS if any(key in row for row in roster)]
    columns = columns or [("Username", "username")]
    rows = [[header for header, _ in columns] + [assignment]]
    for student, total in grades:
        known = matches.get(student)
        # Never a blank identifier: Moodle gives a row without one to the student of the row before.
        rows.append([(known.get(key) if known else None) or student for _, key in columns] + [total])
    return rows


def export(gradebook, lms, roster=None, assignment=DEFAULT_ASSIGNMENT):
    """Write the ``lms`` file of the grader's gradebook ``gradebook``; returns (its path, problems found)."""
    if lms not in FORMATS:
        raise ValueError(f"unknown LMS format {lms!r}: expected one of {', '.join(FORMATS)}")
    rows = read_csv(gradebook)
    if not rows or rows[0][:1] != ["student"] or not {"total", "max"} <= set(rows[0]):
        raise ValueError(f"{gradebook} is not a course-lib gradebook (student, ..., total, max, status, note).")
    header = rows[0]
    grades = [(row[0], row[header.index("total")]) for row in rows[1:] if len(row) == len(header)]
    most = rows[1][header.index("max")] if len(rows) > 1 else ""
    roster_rows = read_roster(roster) if roster else []
    if roster:
        matches, problems = match_students([student for student, _ in grades], roster_rows)
    else:
        matches, problems = {}, []
    if lms == "canvas":
        table = canvas_rows(grades, matches, assignment, most)
    else:
        table = moodle_rows(grades, matches, assignment, roster_rows)
    path = lms_path(gradebook, lms)
    write_csv(path, table)
    return path, problems
