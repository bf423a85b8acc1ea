"""The grader (instructor edition only; ``course-lib release`` leaves it out of the student edition).

    course-lib grade SUBMISSIONS --out gradebook.csv --feedback FEEDBACK_DIR
                     [--jobs N] [--timeout SECONDS] [--seed K] [--restart]

SUBMISSIONS holds one entry per student, named by the student id: a folder or a ``.zip`` of one,
with ``course_lib/`` at its top level or one folder down. Anything else gets the row status
``invalid`` and a note saying why.

What is graded. Every exercise of the registry (``course_lib/exercises.py``) is run on its visible
cases and on hidden cases drawn from ``--seed`` (the same seed gives the same cases, hence the same
grades; choose a new one for each assignment). **Points are all or nothing per exercise**: an
exercise earns its registered points when every one of its cases, visible and hidden, matches
PyTorch autograd within the checker's tolerance, and 0 otherwise; the feedback still shows each case.

Gradebook (``--out``, CSV, one row per student, for an LMS import)::

    student, <one column per exercise id: points earned>, total, max, status, note

``status`` is ``ok`` (every case ran; the points say how well), ``partial`` (the student's process
hung or died in some exercises, which got 0, while the others were graded), ``timeout`` / ``crashed``
(nothing could be graded: a hang, a crash, or ``import course_lib`` failing), or ``invalid`` (no
usable ``course_lib`` in the entry). ``note`` says what went wrong in a line (time limit, crash,
a forbidden torch call such as ``uses torch.nn.functional.conv2d``, a rejected output).
Rows are written as submissions finish; a run that is interrupted and started again skips the
students already in the CSV (``--restart`` grades everyone again) and ends with the same file. The
run's seed and exercises are kept in ``<out>.run.json`` so a resume cannot mix two settings.

Feedback (``--feedback``): ``<student>.md`` and ``<student>.html`` with every case's result, the
error and the line of the student's code it came from, and the checker's hint for a known mistake.

Isolation. Student code never runs in the grading process. This process makes every case's inputs
and computes the autograd reference once; each submission is copied into a fresh folder and run by
the grader's own ``runner.py`` in one child process, which runs the checker's student side (copied
from this instructor tree) on every case. If the child hangs or dies, the exercise it was running
gets 0 and a new child takes the exercises still without a result; after 3 such deaths the rest gets
0, so a submission costs at most 3 time limits. The child returns data only: a JSON journal and the
outputs' ``.npy`` bytes (read with ``allow_pickle=False`` after checking each header against its
size), validated (type, dtype, shape, finite values) before comparison; a tensor that carries an
autograd graph is refused. Limits per child: wall time (``--timeout``, default 60 s; then SIGKILL to
its whole process group), CPU time, address space (2 GB), processes, file size (64 MB, which also caps
what it prints; the feedback shows the start) and open files; a scrubbed environment (minimal PATH,
HOME in its temporary folder, PYTHONPATH = its submission, one thread, no bytecode written). Where
bubblewrap works (probed once per run; Debian package ``bubblewrap``) the child also has its own pid,
network, ipc and uts namespaces and sees only /usr and the Python installation (read-only), a minimal
/dev, /proc, a private /tmp and its own submission: not the other students, the gradebook, the
feedback or the instructor's tree. Otherwise the run summary says so, and the child runs under
resource limits only. Run as root, each child drops to a uid of its own, so the process limit counts
only that child and it cannot touch the grader's files. Inside the child, autograd, torch.nn,
torch.nn.functional, torch.nn.init and torch.optim raise a clear error, so a submission that calls them
instead of its own code gets 0 for that exercise with a note such as "uses torch.nn.functional.conv2d
(not allowed: write it with tensor operations)". These guards catch honest shortcuts; what makes a
grade is the comparison in the grading process, which the child cannot reach.
"""

from course_lib.grading.grader import grade

__all__ = ["grade"]
