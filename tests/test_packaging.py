"""pyproject.toml, environment.yml and binder/environment.yml must install the same packages, with torch
pinned alike (binder's: the CPU build)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirement_name(requirement):
    return re.split(r"[=<>!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def pyproject_requirements():
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["dependencies"]


def environment_requirements(path=ROOT / "environment.yml"):
    """Package specs listed in a conda environment file, conda and pip alike (without the YAML package),
    pip options such as --extra-index-url left out."""
    specs = []
    for line in path.read_text().splitlines():
        item = re.match(r"\s*-\s+(\S.*)$", line.split("#")[0])
        if item and item.group(1) not in ("pip", "-e .", "conda-forge") and not item.group(1).startswith("-") \
                and ":" not in item.group(1):
            specs.append(item.group(1).strip())
    return [spec for spec in specs if not spec.startswith("python")]


def test_environment_installs_the_same_packages_as_pyproject():
    assert {requirement_name(r) for r in pyproject_requirements()} == {
        requirement_name(r) for r in environment_requirements()
    }


def test_torch_is_pinned_exactly_in_both():
    # A looser torch requirement pulls gigabytes of CUDA packages on a fresh machine.
    assert "torch==2.13.0" in pyproject_requirements()
    assert "torch==2.13.0" in environment_requirements()


BINDER_ENVIRONMENT = ROOT / "binder" / "environment.yml"


def test_binder_installs_the_same_packages_but_not_the_course():
    assert {requirement_name(r) for r in pyproject_requirements()} == {
        requirement_name(r) for r in environment_requirements(BINDER_ENVIRONMENT)
    }
    lines = [line.split("#")[0].strip() for line in BINDER_ENVIRONMENT.read_text().splitlines()]
    assert "- -e ." not in lines  # binder/postBuild installs the course


def test_binder_takes_the_cpu_build_of_torch_2_13_0_from_pytorchs_cpu_index():
    # 2.13.0+cpu is only on that index; torch 2.13.0 from PyPI would bring gigabytes of CUDA libraries.
    assert "torch==2.13.0+cpu" in environment_requirements(BINDER_ENVIRONMENT)
    assert re.search(r"^\s*- --extra-index-url https://download\.pytorch\.org/whl/cpu$", BINDER_ENVIRONMENT.read_text(),
                     re.MULTILINE)


def readme_test_command():
    """The command in the README's "Running the tests" section."""
    section = (ROOT / "README.md").read_text().split("## Running the tests", 1)[1]
    return re.search(r"```bash\n(.+?)\n```", section, re.S).group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == readme_test_command()
