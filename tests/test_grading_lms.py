"""Canvas and Moodle gradebooks from the grader's gradebook: the columns their imports read, students
mapped through a roster, unknown names kept and reported, and the gradebook's CSV hygiene."""

import csv
import io
import re

import pytest
from grading_corpus import MAX_POINTS, POINTS

from course_lib.cli import main
from course_lib.grading.gradebook import Gradebook, RunSettings
from course_lib.grading.lms import export, lms_path

FORMULA = "=HYPERLINK(\"http://x\")"
STUDENTS = {"alice": MAX_POINTS, "bob": 0, "dave": 3, FORMULA: 1}
QUOTED_LINE = re.compile(r'"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*')


@pytest.fixture
def gradebook(tmp_path):
    path = tmp_path / "gradebook.csv"
    book = Gradebook(path, RunSettings(5, tuple(POINTS.items()), "0.1.0+test"), list(STUDENTS))
    for student, total in STUDENTS.items():
        points = [f"{POINTS[exercise] if total == MAX_POINTS else 0:g}" for exercise in POINTS]
        if 0 < total < MAX_POINTS:  # partial marks: the first exercises
            points = [f"{POINTS[exercise]:g}" if index < total else "0" for index, exercise in enumerate(POINTS)]
        book.add([student, *points, f"{total:g}", f"{MAX_POINTS:g}", "ok", ""])
    return path


def write_roster(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows([header, *rows])
    return path


def read_rows(path):
    text = path.read_bytes().decode("utf-8")
    lines = text.split("\r\n")
    assert lines[-1] == "" and all(QUOTED_LINE.fullmatch(line) for line in lines[:-1])  # every cell quoted
    return list(csv.reader(io.StringIO(text, newline="")))


def test_canvas_has_its_import_columns_and_points_possible_and_keeps_unknown_students(gradebook, tmp_path):
    # A Canvas gradebook export, used as it is: the submissions are named by SIS Login ID.
    roster = write_roster(tmp_path / "canvas.csv", ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"], [
        ["    Points Possible", "", "", "", ""],
        ["Lovelace, Alice", "101", "S1", "alice", "Section A"],
        ["Babbage, Bob", "102", "S2", "bob", "Section B"],
        ["Hopper, Grace", "103", "S3", "grace", "Section A"],
    ])
    path, problems = export(gradebook, "canvas", roster, "Backprop by Hand (4242)")
    assert path == tmp_path / "gradebook.canvas.csv"
    rows = read_rows(path)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Backprop by Hand (4242)"]
    assert rows[1] == ["Points Possible", "", "", "", "", f"{MAX_POINTS:g}"]
    by_login = {row[3]: row for row in rows[2:]}
    assert by_login["alice"] == ["Lovelace, Alice", "101", "S1", "alice", "Section A", f"{MAX_POINTS:g}"]
    assert by_login["bob"] == ["Babbage, Bob", "102", "S2", "bob", "Section B", "0"]
    # Unknown: kept, with the name where Canvas looks, and reported; the formula is neutralised.
    assert by_login["dave"] == ["dave", "", "", "dave", "", "3"]
    assert by_login["'" + FORMULA] == ["'" + FORMULA, "", "", "'" + FORMULA, "", "1"]
    assert len(rows) == 2 + len(STUDENTS)
    assert any("2 submission(s) not in the roster" in problem and "'dave'" in problem for problem in problems)
    assert any("1 roster student(s) without a submission" in problem for problem in problems)


def test_moodle_has_an_identifier_column_and_never_a_blank_one(gradebook, tmp_path):
    roster = write_roster(tmp_path / "roster.csv", ["Submission", "Username", "Email address"], [
        ["alice", "alovelace", "alice@example.org"],
        ["bob", "bbabbage", ""],  # no e-mail known: the name stands in, never a blank
    ])
    path, problems = export(gradebook, "moodle", roster)
    rows = read_rows(path)
    assert rows[0] == ["Username", "Email address", "Backprop by Hand"]
    by_user = {row[0]: row for row in rows[1:]}
    assert by_user["alovelace"] == ["alovelace", "alice@example.org", f"{MAX_POINTS:g}"]
    assert by_user["bbabbage"] == ["bbabbage", "bob", "0"]
    assert by_user["dave"] == ["dave", "dave", "3"]
    assert all(all(cell for cell in row) for row in rows)
    assert len(rows) == 1 + len(STUDENTS) and any("not in the roster" in problem for problem in problems)


def test_without_a_roster_the_submission_name_is_the_login(gradebook):
    canvas = read_rows(export(gradebook, "canvas")[0])
    assert [row[3] for row in canvas[2:]] == [f"'{FORMULA}", "alice", "bob", "dave"]
    moodle, problems = export(gradebook, "moodle")
    assert read_rows(moodle)[0] == ["Username", "Backprop by Hand"] and problems == []


def test_a_name_matching_two_roster_rows_is_reported_not_guessed(gradebook, tmp_path):
    roster = write_roster(tmp_path / "roster.csv", ["Username", "ID number"], [["alice", "1"], ["other", "alice"]])
    path, problems = export(gradebook, "moodle", roster)
    assert any("matching several roster rows" in problem and "'alice'" in problem for problem in problems)
    assert ["alice", "alice", f"{MAX_POINTS:g}"] in read_rows(path)


def test_a_roster_without_identifiers_is_refused(gradebook, tmp_path):
    roster = write_roster(tmp_path / "roster.csv", ["Favourite colour"], [["blue"]])
    with pytest.raises(ValueError, match="no column saying who is who"):
        export(gradebook, "canvas", roster)


def test_merge_and_grade_write_the_lms_file_beside_the_gradebook(tmp_path, capsys):
    assert lms_path(tmp_path / "gradebook.csv", "moodle") == tmp_path / "gradebook.moodle.csv"
    assert lms_path(tmp_path / "grades", "canvas") == tmp_path / "grades.canvas.csv"
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "shard.csv"), "--feedback", str(tmp_path / "fb"),
                 "--shard", "0/2", "--format", "canvas"]) == 2
    assert "give it to course-lib merge" in capsys.readouterr().err
