"""Grading a class in shards: merge's refusals on gradebooks made here, and a real Slurm job array.

The Slurm tests start Debian's munged, slurmctld and slurmd (packages munge, slurm-wlm) for one node
on loopback, each with its own files in a temporary folder and free ports, run the shipped job-array
script with sbatch, and stop the daemons after. They are skipped, saying why, where those programs
are missing.
"""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from grading_corpus import MAX_POINTS, POINTS, make_editions, read_gradebook, submit

from course_lib.cli import main
from course_lib.grading import grade
from course_lib.grading.gradebook import Gradebook, RunSettings, kept_seed
from course_lib.grading.records import read_records, records_path
from course_lib.grading.shards import MergeRefused, Shard, merge
from course_lib.grading.slurm import SCRIPT
from course_lib.grading.submissions import Submission

EXERCISES = tuple(POINTS.items())
CLASS = [Submission(student, None) for student in ("ada", "ben", "cy", "dee", "eve")]


def write_shard(path, shard, seed=5, version="0.1.0+test", rows_of=None):
    """The gradebook a shard of CLASS would write (every student full marks), optionally some rows only."""
    settings = RunSettings(seed, EXERCISES, version, shard.settings(CLASS))
    students = [submission.student for submission in shard.select(CLASS)]
    book = Gradebook(path, settings, students)
    for student in students if rows_of is None else rows_of:
        book.add(full_marks_row(student))
    return path


def full_marks_row(student):
    return [student, *(f"{points:g}" for points in POINTS.values()), f"{MAX_POINTS:g}", f"{MAX_POINTS:g}", "ok", ""]


def test_shards_cover_the_class_once_in_sorted_order():
    parts = [Shard(index, 3).select(CLASS) for index in range(3)]
    assert [[submission.student for submission in part] for part in parts] == [["ada", "dee"], ["ben", "eve"], ["cy"]]
    for text in ("3/3", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="I/N"):
            Shard.parse(text)
    assert Shard.parse(" 2/3 ") == Shard(2, 3)


def test_merged_shards_equal_a_one_machine_gradebook(tmp_path):
    shards = [write_shard(tmp_path / f"shard-{index}.csv", Shard(index, 2)) for index in range(2)]
    one_machine = Gradebook(tmp_path / "one.csv", RunSettings(5, EXERCISES, "0.1.0+test"), [s.student for s in CLASS])
    for submission in CLASS:
        one_machine.add(full_marks_row(submission.student))
    merge(shards[::-1], tmp_path / "merged.csv")
    assert (tmp_path / "merged.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert (tmp_path / "merged.csv.run.json").read_text() == (tmp_path / "one.csv.run.json").read_text()


@pytest.mark.parametrize("make, refusal", [
    (lambda base: [write_shard(base / "s0.csv", Shard(0, 3)), write_shard(base / "s2.csv", Shard(2, 3))],
     r"shard\(s\) 1/3 missing"),
    (lambda base: [write_shard(base / "s0.csv", Shard(0, 2)), write_shard(base / "again.csv", Shard(0, 2)),
                   write_shard(base / "s1.csv", Shard(1, 2))], "both shard 0/2"),
    (lambda base: [write_shard(base / "s0.csv", Shard(0, 2)), write_shard(base / "s1.csv", Shard(1, 2), seed=6)],
     "different seed id"),
    (lambda base: [write_shard(base / "s0.csv", Shard(0, 2)),
                   write_shard(base / "s1.csv", Shard(1, 2), version="0.2.0+other")], "different course version"),
    (lambda base: [write_shard(base / "s0.csv", Shard(0, 2)), write_shard(base / "s1.csv", Shard(1, 3))],
     "different classes or shard counts"),
    (lambda base: [write_shard(base / "s0.csv", Shard(0, 2)),
                   write_shard(base / "s1.csv", Shard(1, 2), rows_of=["ben"])], "has 1 of its 2 students"),
    (lambda base: [write_shard(base / "s0.csv", Shard(0, 2)),
                   write_shard(base / "s1.csv", Shard(1, 2), rows_of=["ben", "ada"])], "graded in two shards"),
    (lambda base: [write_shard(base / "s0.csv", Shard(0, 2)), base / "nowhere.csv"], "does not exist"),
])
def test_merge_refuses_shards_that_are_not_one_finished_class_and_writes_nothing(tmp_path, make, refusal):
    with pytest.raises(MergeRefused, match=refusal):
        merge(make(tmp_path), tmp_path / "merged.csv")
    assert not (tmp_path / "merged.csv").exists() and not (tmp_path / "merged.csv.run.json").exists()


def test_a_one_machine_gradebook_is_not_a_shard(tmp_path):
    Gradebook(tmp_path / "one.csv", RunSettings(5, EXERCISES, "0.1.0+test"), ["ada"])
    assert main(["merge", str(tmp_path / "one.csv"), "--out", str(tmp_path / "merged.csv")]) == 2
    assert not (tmp_path / "merged.csv").exists()


def test_shards_starting_together_share_one_secret_seed(tmp_path):
    path = tmp_path / "class.seed"
    start = threading.Barrier(8)
    seeds = []

    def read_seed():
        start.wait()
        seeds.append(kept_seed(path))

    threads = [threading.Thread(target=read_seed) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seeds) == 8 and len(set(seeds)) == 1 and int(path.read_text()) == seeds[0]
    assert (path.stat().st_mode & 0o777) == 0o600 and sorted(os.listdir(tmp_path)) == ["class.seed"]


def test_a_shard_resumed_with_another_shard_is_refused(tmp_path):
    write_shard(tmp_path / "s0.csv", Shard(0, 2))
    with pytest.raises(ValueError, match="another shard"):
        Gradebook(tmp_path / "s0.csv", RunSettings(5, EXERCISES, "0.1.0+test", Shard(1, 2).settings(CLASS)), ["ben"])


# --- a real Slurm cluster of one node ----------------------------------------------------------------

SLURM_PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")
# The daemons live in sbin, which a non-login shell's PATH may lack; course-lib beside this Python.
SLURM_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin"),
                              "/usr/sbin", "/sbin"])
missing_programs = [name for name in SLURM_PROGRAMS if shutil.which(name, path=SLURM_PATH) is None]
needs_slurm = pytest.mark.skipif(bool(missing_programs) or os.geteuid() != 0,
                                 reason=f"a one-node Slurm needs root and {', '.join(missing_programs)} "
                                        "(Debian: apt-get install slurm-wlm munge)")
DAEMON_START_SECONDS = 60
JOB_SECONDS = 600


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_conf(folder):
    return f"""ClusterName=coursetest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge.socket
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
# No cgroup plugins: this machine's cgroups are v1, and slurmd needs none to track a job's processes.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=coursenode NodeAddr=127.0.0.1 NodeHostname=localhost CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=grading Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node Slurm on loopback: {"env": the environment for its commands, "folder": its files}."""
    folder = tmp_path_factory.mktemp("slurm")
    for name in ("state", "spool"):
        (folder / name).mkdir()
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    (folder / "slurm.conf").write_text(slurm_conf(folder))
    env = dict(os.environ, SLURM_CONF=str(folder / "slurm.conf"), PATH=SLURM_PATH)
    commands = [
        ["munged", "--foreground", "--force", f"--socket={folder}/munge.socket", f"--key-file={key}",
         f"--pid-file={folder}/munged.pid", f"--log-file={folder}/munged.log", f"--seed-file={folder}/munged.seed"],
        ["slurmctld", "-D", "-f", str(folder / "slurm.conf")],
        ["slurmd", "-D", "-f", str(folder / "slurm.conf"), "-N", "coursenode"],
    ]
    daemons = []
    try:
        for command in commands:
            with open(folder / f"{command[0]}.err", "w") as errors:
                daemons.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors))
            if command[0] == "munged":
                wait_for(lambda: (folder / "munge.socket").exists(), "munged's socket")
        wait_for(lambda: run(["sinfo", "-h", "-o", "%T"], env).stdout.strip() == "idle", "the node to be idle")
        yield {"env": env, "folder": folder}
    finally:
        for daemon in reversed(daemons):
            daemon.terminate()
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def run(command, env, check=False, timeout=60):
    return subprocess.run(command, env=env, capture_output=True, text=True, check=check, timeout=timeout)


def wait_for(condition, what, seconds=DAEMON_START_SECONDS):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Slurm test cluster: no {what} after {seconds} s")
        time.sleep(0.5)


def sbatch(slurm, shards, tasks, submissions, results, *options):
    """``sbatch --array=TASKS`` of the shipped script, one CPU per task; returns sbatch's stdout."""
    command = ["sbatch", "--parsable", f"--array={tasks}", "--cpus-per-task=1", f"--chdir={results.parent}",
               f"--output={results}/slurm-%a.out", *options, str(SCRIPT), str(shards), str(submissions),
               str(results), "--jobs", "1"]
    return run(command, slurm["env"], check=True, timeout=JOB_SECONDS).stdout.strip()


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """A class of two, one per shard: full marks, and the student edition's stubs (each shard's grading
    costs its start, a few seconds, and each submission of the instructor edition a few more)."""
    base = tmp_path_factory.mktemp("class")
    editions = make_editions(base / "editions")
    submissions = base / "submissions"
    submit(submissions / "ada", editions / "instructor")
    submit(submissions / "ben", editions / "student")
    return {"base": base, "submissions": submissions}


@pytest.fixture(scope="module")
def array_run(slurm, graded_class):
    """Two shards on Slurm, which make the class's seed, then one machine grading with that seed."""
    base = graded_class["base"]
    results = base / "array"
    results.mkdir()
    sbatch(slurm, 2, "0-1", graded_class["submissions"], results, "--wait")
    assert main(["merge", str(results / "shard-0.csv"), str(results / "shard-1.csv"), "--out",
                 str(results / "gradebook.csv"), "--format", "canvas"]) == 0
    one_machine = base / "one-machine"
    assert main(["grade", str(graded_class["submissions"]), "--out", str(one_machine / "gradebook.csv"),
                 "--feedback", str(one_machine / "feedback"), "--seed-file", str(results / "class.seed"),
                 "--format", "canvas"]) == 0
    return {"results": results, "one_machine": one_machine}


@needs_slurm
def test_a_slurm_array_merges_to_the_one_machine_gradebook(array_run):
    results, one_machine = array_run["results"], array_run["one_machine"]
    rows = read_gradebook(results / "gradebook.csv")
    assert float(rows["ada"]["total"]) == MAX_POINTS and float(rows["ben"]["total"]) == 0
    for name in ("gradebook.csv", "gradebook.csv.run.json", "gradebook.canvas.csv"):
        assert (results / name).read_bytes() == (one_machine / name).read_bytes()
    records = read_records(records_path(results / "gradebook.csv"))
    assert sorted(records) == ["ada", "ben"] and records == read_records(records_path(one_machine / "gradebook.csv"))
    assert sorted(path.name for path in (results / "feedback").glob("*.md")) == ["ada.md", "ben.md"]
    assert (results / "class.seed").stat().st_mode & 0o777 == 0o600


@needs_slurm
def test_a_cancelled_shard_run_again_alone_completes_the_class(slurm, graded_class, array_run):
    results = graded_class["base"] / "cancelled"
    results.mkdir()
    shutil.copy(array_run["results"] / "class.seed", results / "class.seed")
    job = sbatch(slurm, 2, "0-1", graded_class["submissions"], results, "--hold")
    run(["scancel", f"{job}_1"], slurm["env"], check=True)
    run(["scontrol", "release", job], slurm["env"], check=True)
    wait_for(lambda: not run(["squeue", "-h", "-j", job], slurm["env"]).stdout.strip(), "end of the array",
             JOB_SECONDS)
    shards = [str(results / f"shard-{index}.csv") for index in range(2)]
    assert Path(shards[0]).exists() and not Path(shards[1]).exists()
    with pytest.raises(MergeRefused, match=r"shard\(s\) 1/2 missing"):
        merge(shards[:1], results / "gradebook.csv")

    sbatch(slurm, 2, "1", graded_class["submissions"], results, "--wait")
    merge(shards, results / "gradebook.csv")
    assert (results / "gradebook.csv").read_bytes() == (array_run["results"] / "gradebook.csv").read_bytes()


def test_the_script_explains_itself_outside_an_array(tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "SLURM_ARRAY_TASK_ID"}
    result = run(["bash", str(SCRIPT), "2", str(tmp_path), str(tmp_path / "results")], env)
    assert result.returncode == 2 and "usage: sbatch --array=0-(N-1)" in result.stderr


def test_the_exported_script_is_the_shipped_one(tmp_path):
    assert main(["export", "slurm", str(tmp_path / "grade.sbatch")]) == 0
    assert (tmp_path / "grade.sbatch").read_bytes() == SCRIPT.read_bytes()
    assert os.access(tmp_path / "grade.sbatch", os.X_OK)
    # Slurm reads #SBATCH lines only before the first command.
    lines = SCRIPT.read_text().splitlines()
    first_command = next(index for index, line in enumerate(lines[1:], 1) if line and not line.startswith("#"))
    assert all(index < first_command for index, line in enumerate(lines) if line.startswith("#SBATCH"))


def test_grade_with_a_shard_grades_only_its_students(graded_class, tmp_path):
    summary = grade(graded_class["submissions"], tmp_path / "shard-1.csv", tmp_path / "feedback", timeout=60,
                    seed=3, shard=Shard(1, 2), progress=False)
    assert "shard 1/2: graded 1 submission(s)" in summary
    assert list(read_gradebook(tmp_path / "shard-1.csv")) == ["ben"]
