"""Binder: repo2docker builds a published student edition's image from its binder/ folder.

There is no Docker here, so repo2docker's own tooling is asked what it would do: which build pack it
picks, and the Dockerfile of its dry run (--no-build). The steps of that Dockerfile that touch the
repository are then replayed in that order in a fresh virtual environment: the environment is built
from binder/environment.yml alone, before the repository is copied in (so a change to a notebook does
not rebuild it), and postBuild installs the course after. The conda solve itself is not replayed (no
conda here); tests/test_packaging.py checks what binder/environment.yml lists.
"""

import contextlib
import json
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from repo2docker.app import Repo2Docker
from repo2docker.utils import is_local_pip_requirement

from course_lib.release import release
from test_release import GITHUB_REPO

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT_STEP = re.compile(r'env update -p \S+ --file "(?P<file>[^"]+)"')


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    return release(tmp_path_factory.mktemp("release") / "student", repo=GITHUB_REPO)


def picked_build_pack(repository):
    """The build pack repo2docker picks for ``repository``: the first of its own list that detects itself."""
    app = Repo2Docker()
    with contextlib.chdir(repository):
        return next(pack for pack in (kind(base_image=app.base_image) for kind in app.buildpacks) if pack.detect())


def dockerfile(repository):
    """The Dockerfile repo2docker would build for ``repository``, from its dry run (no Docker needed)."""
    dry_run = subprocess.run([sys.executable, "-m", "repo2docker", "--no-build", "--user-id", "1000",
                              "--user-name", "jovyan", str(repository)], capture_output=True, text=True, timeout=120)
    assert dry_run.returncode == 0, dry_run.stderr
    return dry_run.stdout


def repository_steps(text):
    """The Dockerfile's steps that touch the repository, in order: ("copy", path in the repository, "" for
    all of it), ("environment", the environment file it installs) and ("run", command) for each command
    run once the repository is in."""
    steps, copied_in = [], False
    for instruction in text.replace("\\\n", " ").splitlines():
        copy = re.match(r"COPY (?:--\S+ )*src/(\S*) \$\{REPO_DIR\}/", instruction)
        environment = ENVIRONMENT_STEP.search(instruction)
        if copy:
            steps.append(("copy", copy[1]))
            copied_in = copied_in or copy[1] == ""
        elif instruction.startswith("RUN ") and environment:
            steps.append(("environment", environment["file"]))
        elif instruction.startswith("RUN ") and copied_in:
            steps.append(("run", instruction.removeprefix("RUN ").strip()))
    return steps


def pip_section(environment_file):
    """The lines under ``- pip:`` of a conda environment file."""
    lines = environment_file.read_text().splitlines()
    start = next(number for number, line in enumerate(lines) if re.match(r"\s*- pip:\s*$", line))
    return [item[1] for line in lines[start + 1:] if (item := re.match(r"\s+- (.+?)\s*$", line.split(" #")[0]))]


def test_repo2docker_picks_the_conda_build_pack_of_the_binder_folder(edition):
    pack = picked_build_pack(edition)
    assert type(pack).__name__ == "CondaBuildPack"
    assert pack.binder_dir == "binder"


def test_the_environment_is_built_before_the_repository_is_in_and_postbuild_after(edition):
    assert repository_steps(dockerfile(edition)) == [
        ("copy", "binder/environment.yml"),
        ("environment", "binder/environment.yml"),
        ("copy", ""),
        ("run", "chmod +x binder/postBuild"),
        ("run", "./binder/postBuild"),
    ]


def test_the_root_environment_would_be_built_after_the_repository_is_in(edition, tmp_path):
    # Its "-e ." is a local requirement: repo2docker copies the whole repository in first (older versions
    # failed instead, jupyterhub/repo2docker#1265), so any commit would rebuild the environment.
    without_binder = shutil.copytree(edition, tmp_path / "without-binder", ignore=shutil.ignore_patterns("binder"))
    assert repository_steps(dockerfile(without_binder))[:2] == [("copy", ""), ("environment", "environment.yml")]
    assert [line for line in pip_section(without_binder / "environment.yml") if is_local_pip_requirement(line)] == [
        "-e ."]


def test_the_steps_run_in_that_order_in_a_fresh_environment(edition, tmp_path):
    repo_dir, prefix = tmp_path / "home", tmp_path / "env"  # ${REPO_DIR} and ${NB_PYTHON_PREFIX}
    repo_dir.mkdir()
    venv.create(prefix, with_pip=True)
    path = f"{prefix / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    for kind, what in repository_steps(dockerfile(edition)):
        if kind == "copy":
            if (edition / what).is_dir():
                shutil.copytree(edition / what, repo_dir / what, dirs_exist_ok=True)
            else:
                (repo_dir / what).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(edition / what, repo_dir / what)
        elif kind == "environment":
            # All that is in yet is what the steps before copied; conda would install from this file alone.
            assert sorted(p.relative_to(repo_dir).as_posix() for p in repo_dir.rglob("*") if p.is_file()) == [what]
            assert [line for line in pip_section(repo_dir / what) if is_local_pip_requirement(line)] == []
        else:
            step = subprocess.run(["bash", "-c", what], cwd=repo_dir, env={"PATH": path}, capture_output=True,
                                  text=True, timeout=300)
            assert step.returncode == 0, f"{what}:\n{step.stdout}\n{step.stderr}"
    python = str(prefix / "bin" / "python")
    where = "import importlib.util; print(importlib.util.find_spec('course_lib').origin)"
    found = subprocess.run([python, "-c", where], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()) == repo_dir / "course_lib" / "__init__.py"  # editable: the files students edit
    assert (prefix / "bin" / "course-lib").exists()
    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    assert {package["name"] for package in json.loads(listed.stdout)} <= {"pip", "setuptools", "backprop-by-hand"}
