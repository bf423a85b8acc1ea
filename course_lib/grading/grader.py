"""Grading a class: one sandboxed child per submission, comparison and scoring in this process."""

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from course_lib.grading import cases as case_tools
from course_lib.grading.report import Gradebook, write_feedback
from course_lib.grading.results import describe_error, read_journal, read_tensors
from course_lib.grading.sandbox import Limits, Sandbox, child_layout, make_readable
from course_lib.grading.submissions import InvalidSubmission, copy_package, find_submissions, unpack

NOTE_CHARS = 300
MAX_DEATHS = 3  # children a submission may lose (to a time limit or a crash) before the rest gets 0


@dataclass
class ExerciseScore:
    exercise: str
    max_points: float
    cases: list

    @property
    def passed(self):
        return sum(case.passed for case in self.cases)

    @property
    def points(self):
        # All or nothing: right on the visible cases but wrong on a hidden one is still wrong.
        return self.max_points if self.cases and self.passed == len(self.cases) else 0


@dataclass
class GradedSubmission:
    student: str
    status: str
    max_points: float
    exercises: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    output: str = ""

    @property
    def total(self):
        return sum(score.points for score in self.exercises)

    @property
    def note(self):
        text = "; ".join(dict.fromkeys(self.notes))
        return text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 3] + "..."

    def row(self, exercise_ids):
        points = {score.exercise: score.points for score in self.exercises}
        return [self.student, *(f"{points.get(exercise, 0):g}" for exercise in exercise_ids),
                f"{self.total:g}", f"{self.max_points:g}", self.status, self.note]


def grade(submissions, out, feedback, jobs=2, timeout=60.0, seed=0, restart=False, use_bwrap=True,
          progress=True):
    """Grade every submission in ``submissions`` not yet in ``out``; returns the run summary as text."""
    everyone = find_submissions(submissions)
    if Path(feedback).exists() and not Path(feedback).is_dir():
        raise ValueError(f"{feedback} is a file: give a folder for the feedback (created if missing).")
    suite = case_tools.build_suite(seed)
    gradebook = Gradebook(out, suite.exercise_ids, seed, restart=restart)
    sandbox = Sandbox(Limits(wall_seconds=timeout), use_bwrap=use_bwrap)
    pending = [submission for submission in everyone if submission.student not in gradebook]
    statuses = {}
    with tempfile.TemporaryDirectory(prefix="course-lib-grade-") as scratch:
        os.chmod(scratch, 0o711)  # children under other uids pass through to their folder, unable to list
        plan_dir = Path(scratch, "plan")
        case_tools.write_plan(suite, plan_dir)
        make_readable(plan_dir)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
                tqdm(total=len(pending), desc="grading", unit="submission", disable=not progress) as bar:
            futures = [pool.submit(grade_one, submission, suite, sandbox, plan_dir, Path(scratch))
                       for submission in pending]
            try:
                for future in as_completed(futures):
                    graded = future.result()
                    gradebook.add(graded.row(suite.exercise_ids))
                    write_feedback(feedback, graded)
                    statuses[graded.status] = statuses.get(graded.status, 0) + 1
                    bar.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                sandbox.kill_all()
                raise
    gradebook.finish()
    counts = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())) or "nothing new"
    return (f"graded {len(pending)} submission(s) ({counts}); {len(gradebook.rows) - len(pending)} already "
            f"in {out} were kept.\nisolation: {sandbox.describe()}\ngradebook: {out}\nfeedback: {feedback}/")


def grade_one(submission, suite, sandbox, plan_dir, scratch):
    """Grade one submission; never raises for anything the submission does."""
    graded = GradedSubmission(submission.student, "ok", suite.max_points)
    work = Path(tempfile.mkdtemp(prefix="submission-", dir=scratch))
    os.chmod(work, 0o711)  # a child under another uid passes through, unable to list
    try:
        folders = child_layout(work / "child")
        try:
            copy_package(unpack(submission, work / "unpacked"), folders["submission"])
        except InvalidSubmission as problem:
            graded.status = "invalid"
            graded.notes.append(str(problem))
            return graded
        shutil.copy(suite.trial_file, folders["grader"] / case_tools.TRIAL_NAME)
        results = run_children(suite, sandbox, work / "child", plan_dir, graded)
        graded.exercises = [ExerciseScore(exercise.id, exercise.points,
                                          [results[case.id] for case in suite.cases_of(exercise.id)])
                            for exercise in suite.exercises]
        graded.notes.extend(result.note for score in graded.exercises for result in score.cases if result.note)
        return graded
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_children(suite, sandbox, child_dir, plan_dir, graded):
    """Results for every case, starting a new child after each death for the cases still without one.

    A child that dies is charged to the exercise of the case it was running, which then gets no more
    tries; if it was running none (import, or between cases), every case still pending is charged.
    After MAX_DEATHS deaths every case still pending is charged, so one submission costs at most
    MAX_DEATHS time limits.
    """
    results = {}
    answered_by_child = 0
    deaths = []
    pending = [case.id for case in suite.cases]
    while pending:
        run = sandbox.run(child_dir, plan_dir, {"trial_file": case_tools.TRIAL_NAME, "pending": pending})
        graded.output = graded.output or (run.stdout + run.stderr).strip()
        journal = read_journal(run.out / "journal.jsonl", sandbox.limits.file_bytes)
        blob = read_tensors(run.out / "tensors.bin", sandbox.limits.file_bytes)
        import_failure = journal.get("import")
        if import_failure:
            graded.status = "crashed"
            graded.notes.insert(0, "importing course_lib failed: " + describe_error(import_failure))
        statuses = {case_id: import_failure or journal.get(case_id) for case_id in pending}
        running = {case_id for case_id, status in statuses.items() if status and status["status"] == "running"}
        for case_id, status in statuses.items():
            if status and case_id not in running:
                results[case_id] = suite.judge(suite.case(case_id), status, blob)
                answered_by_child += not import_failure
        missing = [case_id for case_id in pending if case_id not in results]
        if missing:
            answered_now = len(pending) - len(missing)
            outcome, detail = (run.outcome, run.detail) if run.outcome != "finished" else (
                "crashed", "stopped before its last case (os._exit in your code?)")
            deaths.append(outcome)
            offenders = sorted({suite.case(case_id).exercise for case_id in running})
            charged = [case_id for case_id in missing if not offenders or suite.case(case_id).exercise in offenders]
            for case_id in charged:
                results[case_id] = case_tools.lost(suite.case(case_id), outcome, f"the process {detail}")
            where = (f" in {', '.join(offenders)}" if offenders else
                     " between two cases" if answered_now else " before any case ran")
            graded.notes.insert(0, f"{outcome}{where}: the process {detail}")
            if len(deaths) == MAX_DEATHS and len(charged) < len(missing):
                for case_id in set(missing) - set(charged):
                    results[case_id] = case_tools.lost(suite.case(case_id), "not run",
                                                       f"not run: {MAX_DEATHS} processes died before")
                graded.notes.insert(0, f"stopped after {MAX_DEATHS} time limits or crashes: the exercises not "
                                       "graded by then get 0")
        pending = [case_id for case_id in pending if case_id not in results]
    if deaths:
        graded.status = "partial" if answered_by_child else deaths[0]
    return results
