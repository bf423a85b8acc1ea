"""Shared by the unit tests and nbval's notebook runs.

pytest-xdist runs two workers on CI's two cores, and each notebook kernel is a process of its own:
with torch's default of one thread per core, the kernels and workers fight over the cores and a 10 s
notebook takes minutes. One thread each keeps every run at its single-core speed. Kernels inherit
the environment variable; the worker processes themselves are set directly.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the variable, so torch reads it at start-up)

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
