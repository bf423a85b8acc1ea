"""The class report on gradebooks and records written here by hand: counts and ranks, hostile ids, the page in a
browser. (The report of a real graded class is tested in test_grading.py.)"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.grading.class_report import ClassReport
from course_lib.grading.names import csv_cell
from course_lib.grading.records import records_path

EXERCISES = (("relu.backward", 1), ("conv2d.backward", 2))
HOSTILE = ['<script>alert("x")</script>', "=HYPERLINK(\"http://evil\")", 'quote" onmouseover="x', "caf\\xe9-\\xff",
           "line\\x0abreak", "&amp;"]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def case(verdict, *hint_ids, hidden=False):
    return {"label": "hidden 1: (2, 3)" if hidden else "visible: batch 1", "hidden": hidden, "verdict": verdict,
            "hint_ids": list(hint_ids)}


def write_class(folder, students):
    """A gradebook, run.json and records for {student: (status, {exercise: [case, ...]}, review)}."""
    gradebook = folder / "gradebook.csv"
    points = dict(EXERCISES)
    rows, records = [], []
    for student, (status, exercises, review) in students.items():
        earned = {exercise: points[exercise] if all(c["verdict"] == "pass" for c in cases) else 0
                  for exercise, cases in exercises.items()}
        rows.append([student, *(f"{earned.get(exercise, 0):g}" for exercise, _ in EXERCISES), f"{sum(earned.values()):g}",
                     "3", status, ""])
        records.append({"student": student, "status": status, "total": sum(earned.values()), "max": 3,
                        "review": review, "exercises": [{"id": exercise, "points": earned[exercise],
                                                         "max_points": points[exercise], "cases": cases}
                                                        for exercise, cases in exercises.items()]})
    with open(gradebook, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, quoting=csv.QUOTE_ALL)
        writer.writerow(["student", *(exercise for exercise, _ in EXERCISES), "total", "max", "status", "note"])
        writer.writerows([[csv_cell(cell) for cell in row] for row in rows])
    Path(str(gradebook) + ".run.json").write_text(json.dumps(
        {"seed_id": "abc123", "exercises": [list(item) for item in EXERCISES], "course_version": "0.1.0+test"}))
    records_path(gradebook).write_text("".join(json.dumps(record) + "\n" for record in records))
    return gradebook


BIAS, FLIPPED = "conv2d.backward/bias-not-summed", "conv2d.backward/kernel-flipped"
FORGOT = "relu.backward/grad-output-forgotten"


@pytest.fixture
def known_class(tmp_path):
    finding = {"file": "course_lib/nn/conv.py", "line": 7, "construct": "torch.ops", "why": "not allowed"}
    students = {
        "ann": ("ok", {"relu.backward": [case("pass")], "conv2d.backward": [case("wrong", BIAS), case("wrong", BIAS)]}, []),
        "ben": ("ok", {"relu.backward": [case("wrong", FORGOT)], "conv2d.backward": [case("wrong", BIAS, FLIPPED)]}, []),
        "cat": ("partial", {"relu.backward": [case("pass")], "conv2d.backward": [case("timeout")]}, []),
        "dan": ("review", {"relu.backward": [case("pass")], "conv2d.backward": [case("wrong", FLIPPED, hidden=True),
                                                                                case("wrong", BIAS)]}, [finding]),
        "eve": ("invalid", {}, []),
    }
    return write_class(tmp_path, students)


def test_mistakes_are_counted_once_per_student_and_ranked(known_class):
    numbers = ClassReport.read(known_class).numbers
    relu, conv = numbers["exercises"]
    assert [(mistake["id"], mistake["count"], mistake["students"]) for mistake in conv["mistakes"]] == [
        (BIAS, 3, ["ann", "ben", "dan"]), (FLIPPED, 2, ["ben", "dan"])]
    assert [(mistake["id"], mistake["count"]) for mistake in relu["mistakes"]] == [(FORGOT, 1)]
    assert relu["pass_rate"] == pytest.approx(3 / 5) and relu["mean_points"] == pytest.approx(3 / 5)
    assert conv["pass_rate"] == 0 and conv["mean_points"] == 0
    assert conv["statuses"] == {"ok": 2, "timeout": 1, "crashed": 0, "invalid": 1, "review": 1}
    assert numbers["review"] == [{"student": "dan", "notes": ["course_lib/nn/conv.py:7: torch.ops (not allowed)"]}]
    assert (numbers["students"], numbers["seed_id"], numbers["course_version"]) == (5, "abc123", "0.1.0+test")


def test_the_summary_names_the_most_common_mistakes_and_the_weakest_exercise(known_class):
    summary = ClassReport.read(known_class).summary()
    lines = summary.splitlines()
    assert lines[2].startswith(f"  1. 3 of 5: {BIAS}") and lines[3].startswith(f"  2. 2 of 5: {FLIPPED}")
    assert "Weakest exercise: conv2d.backward (0% pass" in summary


def test_hostile_ids_render_as_text(tmp_path):
    students = {student: ("ok", {"relu.backward": [case("wrong", FORGOT)], "conv2d.backward": [case("pass")]}, [])
                for student in HOSTILE}
    report = ClassReport.read(write_class(tmp_path, students))
    page = report.html()
    assert "<script>alert" not in page and 'onmouseover="x' not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page and "&amp;amp;" in page
    assert sorted(report.numbers["exercises"][0]["mistakes"][0]["students"]) == sorted(HOSTILE)


def test_the_command_refuses_a_gradebook_without_its_records(known_class, tmp_path):
    records_path(known_class).write_text("")
    result = subprocess.run([sys.executable, "-m", "course_lib", "report", str(known_class), "--out",
                             str(tmp_path / "page.html")], capture_output=True, text=True)
    assert result.returncode == 2 and "has no record of 5 student(s)" in result.stderr
    assert not (tmp_path / "page.html").exists()


@pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()), reason="needs Debian's chromium and chromium-driver")
def test_the_page_shows_its_plots_and_tables_in_a_browser(known_class, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    page = tmp_path / "class-report.html"
    page.write_text(ClassReport.read(known_class).html())
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1100,1600",
                     f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        browser.get(page.as_uri())
        plots = browser.find_elements(By.TAG_NAME, "img")
        assert len(plots) == 2 and all(browser.execute_script("return arguments[0].naturalWidth", plot) > 300
                                       for plot in plots)
        rows = browser.find_elements(By.CSS_SELECTOR, "#exercises tr")
        assert [row.text.split()[0] for row in rows[1:]] == ["relu.backward", "conv2d.backward"]
        folded = browser.find_elements(By.CSS_SELECTOR, "table.mistakes details")[1]  # conv2d.backward's first
        assert folded.text == "3 students" and not folded.get_attribute("open")  # the students folded away
        folded.click()
        assert "ann, ben, dan" in folded.text
        artifacts = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
        artifacts.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(artifacts / "class-report.png"))
    finally:
        browser.quit()
