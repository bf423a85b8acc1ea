"""The grader (instructor edition only; ``course-lib release`` leaves it out of the student edition).

    course-lib grade SUBMISSIONS --out gradebook.csv --feedback FEEDBACK_DIR
                     [--jobs N] [--timeout SECONDS] [--seed K] [--restart] [--require-isolation]
                     [--seed-file FILE] [--shard I/N] [--format canvas|moodle [--roster CSV]]
    course-lib merge shard-*.csv --out gradebook.csv [--format canvas|moodle [--roster CSV]]
    course-lib export gradescope OUT.zip [--seed K]  |  course-lib export slurm OUT.sbatch

Where a course grades: on one machine (below), on a cluster in shards merged after (shards.py, and
slurm.py's job-array script), on Gradescope (gradescope.py: an autograder zip running this grader);
lms.py writes the gradebook Canvas or Moodle imports.

SUBMISSIONS holds one entry per student, named by the student id: a folder or a ``.zip`` of one,
with ``course_lib/`` at its top level or one folder down. Anything else gets the row status
``invalid`` and a note saying why. Names are taken as they are, whatever their bytes: what is not
plain text is escaped in the gradebook and the feedback (names.py).

What is graded. Every exercise of the registry (``course_lib/exercises``) is run on its visible
cases and on hidden cases drawn from a seed: by default a secret one, made at random on the first
run and kept, readable by the instructor only, in ``<out>.seed`` (``--seed`` overrides it; the same
seed gives the same cases, hence the same grades). **Points are all or nothing per exercise**: an
exercise earns its registered points when every one of its cases, visible and hidden, matches
PyTorch autograd within the checker's tolerance, and 0 otherwise; the feedback still shows each case.

Gradebook (``--out``, CSV, one row per student, for an LMS import; gradebook.py)::

    student, <one column per exercise id: points earned>, total, max, status, note

``status`` is ``ok`` (every case ran; the points say how well), ``partial`` (the student's process
hung or died in some exercises, which got 0, while the others were graded), ``timeout`` / ``crashed``
(nothing could be graded: a hang, a crash, or ``import course_lib`` failing), ``invalid`` (no usable
``course_lib`` in the entry, or files the grader cannot review), or ``review`` (the integrity review
flagged the source: the points stand, the note names file:line and the construct, the instructor
decides). Every cell is quoted, control characters escaped, formula starts neutralised; the file is
rewritten atomically after each student, so an interrupted run keeps every finished row, and the same
command resumes it (``--restart`` grades everyone again). A resume keeps only rows the grader could
have written (its columns, a student of the folder, points that add up) and refuses other settings.

Feedback (``--feedback``, report.py): ``<student>.md`` and ``<student>.html`` with every case's
result, the error and the line of the student's code it came from, the checker's hint for a known
mistake, the review's findings, and the start of what the code printed while importing and running
the visible cases. Nothing of a hidden case's values reaches it (see cases.py and runner.py).

Isolation (sandbox.py, isolation.py). Student code never runs in the grading process. This process
reviews the source (review.py), makes every case's inputs and computes the autograd reference once;
each submission runs in one child process, the grader's own ``runner.py``, which runs the checker's
student side (copied from this instructor tree) on every case. If the child hangs or dies, the
exercise it was running gets 0 and a new child takes the exercises still without a result; after 3
such deaths the rest gets 0, so a submission costs at most 3 time limits. The child returns data only:
a JSON journal and the outputs' ``.npy`` bytes, each read only after its header shows an allowed dtype
and the expected shape (results.py), then compared here. Kernel-enforced limits, each used where the
machine gives it and named in the run summary when it does not (``--require-isolation`` refuses to
grade without all): a bubblewrap sandbox (own pid, network, ipc namespaces; only Python and the
child's own folders visible), a seccomp filter loaded before the submission is imported (no process,
no program, no shared memory or socket; syscalls.py), a memory cgroup (cgroup.py), a size-limited
tmpfs for all the child writes (tmpfs.py), and its own uid. Always: wall time (``--timeout``), CPU
time, address space, file size and open files limits, a scrubbed environment, torch's shortcuts
(autograd, torch.func, torch.nn, torch.nn.functional, torch.optim, the exercises' aten kernels)
raising a clear error, and autograd locked off. SIGINT, SIGTERM and SIGHUP stop a run cleanly: every
child is killed, and no copy of a submission or of the plan is left behind.
"""

from course_lib.grading.grader import grade

__all__ = ["grade"]
