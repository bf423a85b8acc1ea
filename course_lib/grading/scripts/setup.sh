#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image from the zip that
# `course-lib export gradescope` wrote (Backprop by Hand; see course_lib/grading/gradescope.py).
# It installs what grading needs; the course itself is not installed: it stays in
# /autograder/source, which only root may read, so that no student's code can read its solutions
# or the hidden cases' seed.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# Newer Ubuntu images refuse pip installs into the system's Python without this; older pips ignore it.
export PIP_BREAK_SYSTEM_PACKAGES=1
source_dir=/autograder/source

apt-get update -qq
# libseccomp for the grader's seccomp filter; bubblewrap, used where the container lets it run.
apt-get install -y -qq python3 python3-pip libseccomp2 bubblewrap
# CPU-only torch, from PyTorch's own index: the package index's build would bring GBs of CUDA packages.
python3 -m pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
    -r "$source_dir/requirements-torch.txt"
# The rest from the package index; the torch just installed already satisfies the course's pin.
python3 -m pip install --no-cache-dir -r "$source_dir/requirements.txt"
chmod -R go-rwx "$source_dir"
