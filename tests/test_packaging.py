"""pyproject.toml and environment.yml must install the same packages, with torch pinned alike."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirement_name(requirement):
    return re.split(r"[=<>!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def pyproject_requirements():
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["dependencies"]


def environment_requirements():
    """Package specs listed in environment.yml, conda and pip alike (without the YAML package)."""
    specs = []
    for line in (ROOT / "environment.yml").read_text().splitlines():
        item = re.match(r"\s*-\s+(\S.*)$", line.split("#")[0])
        if item and item.group(1) not in ("pip", "-e .", "conda-forge") and ":" not in item.group(1):
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


def readme_test_command():
    """The command in the README's "Running the tests" section."""
    section = (ROOT / "README.md").read_text().split("## Running the tests", 1)[1]
    return re.search(r"```bash\n(.+?)\n```", section, re.S).group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == readme_test_command()
