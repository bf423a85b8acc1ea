"""Grading a class: one sandboxed child per submission, comparison and scoring in this process."""

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

import course_lib
from course_lib.grading import cases as case_tools
from course_lib.grading import isolation
from course_lib.grading.gradebook import Gradebook, RunSettings, seed_for
from course_lib.grading.names import clean
from course_lib.grading.records import Records
from course_lib.grading.report import write_feedback
from course_lib.grading.results import describe_error, parse_journal
from course_lib.grading.review import review
from course_lib.grading.sandbox import Limits, Sandbox, child_layout, make_readable
from course_lib.grading.submissions import InvalidSubmission, copy_package, find_submissions, unpack

NOTE_CHARS = 300
SHOWN_FINDINGS = 3
MAX_DEATHS = 3  # children a submission may lose (to a time limit or a crash) before the rest gets 0
OWN_PACKAGE = Path(course_lib.__file__).resolve().parent


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
    findings: list = field(default_factory=list)
    printed: str = None  # what the code printed while importing and on the visible cases

    @property
    def total(self):
        return sum(score.points for score in self.exercises)

    @property
    def note(self):
        return clean("; ".join(dict.fromkeys(self.notes)), NOTE_CHARS)

    def row(self, exercise_ids):
        points = {score.exercise: score.points for score in self.exercises}
        return [self.student, *(f"{points.get(exercise, 0):g}" for exercise in exercise_ids),
                f"{self.total:g}", f"{self.max_points:g}", self.status, self.note]


def grade(submissions, out, feedback, jobs=2, timeout=60.0, seed=None, restart=False, use_bwrap=True,
          progress=True, require_isolation=False, switched_off=(), seed_file=None, shard=None, on_graded=None):
    """Grade every submission in ``submissions`` not yet in ``out``; returns the run summary as text.

    seed: the hidden cases' seed (default: the one kept in ``seed_file``, by default ``<out>.seed``,
    made at random on first use)
    require_isolation: refuse (ValueError) unless every kernel-enforced protection works here
    use_bwrap, switched_off: protections not to use (tests, debugging; see isolation.py)
    shard: grade only this part of the class (a shards.Shard), recorded in ``<out>.run.json``
    on_graded: called with each GradedSubmission once its row is written (Gradescope's results)
    """
    everyone = find_submissions(submissions)
    shard_settings = None
    if shard is not None:
        shard_settings = shard.settings(everyone)
        everyone = shard.select(everyone)
    if Path(feedback).exists() and not Path(feedback).is_dir():
        raise ValueError(f"{feedback} is a file: give a folder for the feedback (created if missing).")
    protections = isolation.probe(use_bwrap, switched_off)
    if require_isolation:
        protections.require()
    seed_kept_in = seed_file or f"{out}.seed"
    seed = seed_for(out, seed, seed_file)
    suite = case_tools.build_suite(seed)
    settings = RunSettings(seed, tuple((exercise.id, exercise.points) for exercise in suite.exercises),
                           course_version(), shard_settings)
    gradebook = Gradebook(out, settings, [submission.student for submission in everyone], restart=restart)
    records = Records(out, set(gradebook.rows), restart=restart)
    sandbox = Sandbox(Limits(wall_seconds=timeout), protections)
    pending = [submission for submission in everyone if submission.student not in gradebook]
    statuses = {}
    with stopped_by_signals(), tempfile.TemporaryDirectory(prefix="course-lib-grade-") as scratch:
        os.chmod(scratch, 0o711)  # children under other uids pass through to their folder, unable to list
        plans = case_tools.write_plan(suite, Path(scratch, "plan"))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
                tqdm(total=len(pending), desc="grading", unit="submission", disable=not progress) as bar:
            futures = [pool.submit(grade_one, submission, suite, sandbox, plans, Path(scratch))
                       for submission in pending]
            try:
                for future in as_completed(futures):
                    graded = future.result()
                    gradebook.add(graded.row(suite.exercise_ids))
                    records.add(graded)
                    write_feedback(feedback, graded)
                    if on_graded is not None:
                        on_graded(graded)
                    statuses[graded.status] = statuses.get(graded.status, 0) + 1
                    bar.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                sandbox.kill_all()
                raise
    counts = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())) or "nothing new"
    kept = len(gradebook.rows) - len(pending)
    dropped = (f"; {gradebook.dropped} row(s) of {out} were not the grader's and their students were graded "
               "again" if gradebook.dropped else "")
    part = f"shard {shard}: " if shard is not None else ""
    return (f"{part}graded {len(pending)} submission(s) ({counts}); {kept} already in {out} were kept{dropped}.\n"
            f"hidden cases: seed {settings.seed_id} (kept in {seed_kept_in} unless --seed was given)\n"
            f"isolation: {sandbox.describe()}\ngradebook: {out} (records for course-lib report: "
            f"{records.path.name})\nfeedback: {feedback}/")


def course_version():
    """The installed course's version, and a digest of what it grades (exercises, cases, points)."""
    try:
        version = metadata.version("backprop-by-hand")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"{version}+{case_tools.registry_digest()}"


@contextlib.contextmanager
def stopped_by_signals():
    """SIGTERM and SIGHUP interrupt grading like Ctrl-C (SIGINT) does, so that every child is killed and
    the scratch folder, with its copies of the submissions and the plan, is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(number, frame):
        raise KeyboardInterrupt(f"stopped by {signal.Signals(number).name}")

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def grade_one(submission, suite, sandbox, plans, scratch):
    """Grade one submission; never raises for anything the submission holds or does."""
    graded = GradedSubmission(submission.student, "ok", suite.max_points)
    work = Path(tempfile.mkdtemp(prefix="submission-", dir=scratch))
    os.chmod(work, 0o711)  # a child under another uid passes through, unable to list
    try:
        folders = child_layout(work / "child")
        try:
            copy_package(unpack(submission, work / "unpacked"), folders["submission"])
            graded.findings = review(folders["submission"], OWN_PACKAGE)
        except InvalidSubmission as problem:
            graded.status = "invalid"
            graded.notes.append(str(problem))
            return graded
        shutil.copy(suite.trial_file, folders["grader"] / case_tools.TRIAL_NAME)
        make_readable(folders["grader"])
        results = run_children(suite, sandbox, work / "child", plans, graded)
        graded.exercises = [ExerciseScore(exercise.id, exercise.points,
                                          [replace(results[case.id], hidden=case.hidden)
                                           for case in suite.cases_of(exercise.id)])
                            for exercise in suite.exercises]
        graded.notes.extend(result.note for score in graded.exercises for result in score.cases if result.note)
        if graded.findings:
            shown = "; ".join(map(str, graded.findings[:SHOWN_FINDINGS]))
            more = len(graded.findings) - SHOWN_FINDINGS
            graded.notes.insert(0, "review: " + shown + (f"; and {more} more (see the feedback)" if more > 0 else ""))
            graded.status = "review"
        return graded
    except Exception as error:  # the grader's own failure on this entry: a row that says so; the run goes on
        if sandbox.stopped:
            raise
        return GradedSubmission(submission.student, "invalid", suite.max_points, notes=[
            f"the grader could not grade this entry ({type(error).__name__}: {clean(error, 200)}); please report it"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_children(suite, sandbox, child_dir, plans, graded):
    """Results for every case, starting a new child after each death for the cases still without one.

    A child that dies is charged to the exercise of the case it was running, which then gets no more
    tries; if it was running none (import, or between cases), every case still pending is charged.
    After MAX_DEATHS deaths every case still pending is charged, so one submission costs at most
    MAX_DEATHS time limits.

    What a child wrote about visible cases, and what it printed, is read as ``out/`` was when it sealed
    its visible phase (or when it died, if it never did): before it was given any hidden input.
    """
    results = {}
    answered_by_child = 0
    deaths = []
    pending = [case.id for case in suite.cases if not case.hidden] + [case.id for case in suite.cases if case.hidden]
    while pending:
        visible = [case_id for case_id in pending if not suite.case(case_id).hidden]
        hidden = [case_id for case_id in pending if suite.case(case_id).hidden]
        run = sandbox.run(child_dir, plans, {"trial_file": case_tools.TRIAL_NAME, "visible": visible,
                                             "hidden": hidden})
        before_hidden = run.sealed or run.final
        if graded.printed is None:
            graded.printed = before_hidden.printed
        journal = parse_journal(before_hidden.journal)
        import_failure = journal.get("import")
        if import_failure:
            graded.status = "crashed"
            graded.notes.insert(0, "importing course_lib failed: " + clean(describe_error(import_failure)))
        statuses = {case_id: (import_failure or journal.get(case_id), before_hidden.tensors) for case_id in visible}
        after = parse_journal(run.final.journal) if run.sealed else {}
        statuses.update({case_id: (import_failure or after.get(case_id), run.final.tensors) for case_id in hidden})
        running = {case_id for case_id, (status, _) in statuses.items() if status and status["status"] == "running"}
        for case_id, (status, blob) in statuses.items():
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
