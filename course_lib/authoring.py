"""Store a course notebook the way the repository keeps it: executed once, outputs kept only where nbval
compares them.

    python -m course_lib.authoring notebooks/01_activations.ipynb [more.ipynb ...]

Each notebook is run top to bottom in its own folder (as nbval runs it). A cell whose source contains
``# NBVAL_CHECK_OUTPUT`` keeps its output — only deterministic text belongs there; every other output,
every execution count and the saved widget state are dropped, so diffs stay readable. The run time of
each notebook is printed: the course's budget is 60 s per notebook on 2 cores.

Checked cells are numbered 1, 2, 3... in order: nbval refuses a cell that has outputs but no
execution count ("unrun reference cell has outputs"), and small consecutive numbers keep diffs quiet.
"""

import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

CHECKED_MARK = "# NBVAL_CHECK_OUTPUT"
TIME_BUDGET_SECONDS = 60


def strip(notebook):
    """Remove outputs nbval does not compare and saved widget state; renumber checked cells (in place)."""
    notebook.metadata.pop("widgets", None)
    checked = 0
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if CHECKED_MARK in cell.source:
            checked += 1
            cell.execution_count = checked
            for output in cell.outputs:
                if "execution_count" in output:
                    output.execution_count = checked
        else:
            cell.execution_count = None
            cell.outputs = []
    return notebook


def execute(path):
    """Run the notebook at ``path`` top to bottom in its own folder, without writing it; return the
    executed notebook and the run time in seconds."""
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    # The kernel talks over sockets in a private folder: over TCP, every kernel warns on stderr that its
    # traffic is not encrypted.
    with tempfile.TemporaryDirectory() as sockets:
        kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        try:
            NotebookClient(notebook, km=kernel, timeout=600,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        finally:
            if kernel.has_kernel:  # nbclient leaves a kernel it was given running
                # A shutdown message, then a wait for the process: shutdown_kernel would first interrupt it,
                # and an idle kernel interrupted logs a KeyboardInterrupt error on stderr.
                kernel.request_shutdown()
                kernel.finish_shutdown()
                kernel.cleanup_resources()
    return notebook, time.perf_counter() - started


def store(path):
    """Execute the notebook at ``path``, strip it, write it back; return the run time in seconds."""
    notebook, seconds = execute(path)
    nbformat.write(strip(notebook), path)
    return seconds


def main(paths):
    if not paths:
        print(__doc__.strip())
        return 2
    for path in paths:
        seconds = store(path)
        warning = f"  (over the {TIME_BUDGET_SECONDS} s budget)" if seconds > TIME_BUDGET_SECONDS else ""
        print(f"{path}: {seconds:.1f} s{warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
