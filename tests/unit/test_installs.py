"""Reproducible installs: constraints.txt pins every package, and every way the project is
installed (scripts/bootstrap, hence CI; the Dockerfile) installs from it."""

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stack.mosquitto import REPO_ROOT

CONSTRAINTS = REPO_ROOT / "constraints.txt"


def pinned() -> dict[str, str]:
    found = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, pin = line.partition("==")
            assert sep, f"constraints.txt: {line!r} is not NAME==VERSION"
            found[canonicalize_name(name)] = pin
    return found


def requirements() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    listed = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        listed.extend(Requirement(r) for r in extra)
    return [r for r in listed if canonicalize_name(r.name) != canonicalize_name(project["name"])]


def test_every_requirement_is_pinned_within_its_range() -> None:
    pins = pinned()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in constraints.txt: run scripts/lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside {requirement.specifier}"
        )


def test_the_checkers_are_pinned_exactly_and_lower_bounds_are_what_the_code_uses() -> None:
    by_name = {canonicalize_name(r.name): r for r in requirements()}
    for tool in ("ruff", "mypy", "pytest"):
        specifiers = list(by_name[tool].specifier)
        assert [s.operator for s in specifiers] == ["=="], f"{tool} is not pinned exactly"
    # CliApp and kebab-case options (collector.settings, totals, reroll) came with 2.7.
    assert not by_name["pydantic-settings"].specifier.contains("2.6.1")
    assert by_name["pydantic-settings"].specifier.contains("2.7.0")


def test_this_environment_has_the_pinned_versions() -> None:
    for name, pin in pinned().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # another platform's or another Python's package
        assert installed == pin, f"{name} {installed} installed, constraints.txt pins {pin}"


def test_bootstrap_and_the_image_install_from_the_constraints() -> None:
    bootstrap = (REPO_ROOT / "scripts/bootstrap").read_text()
    assert re.search(r"pip install [^\n]*-c constraints\.txt -e '\.\[dev\]'", bootstrap)
    stamp = re.search(r"stamp=.*", bootstrap)
    assert stamp is not None
    assert "constraints.txt" in stamp.group(0)  # a new lock installs again
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"COPY [^\n]*constraints\.txt", dockerfile)
    assert re.search(r"RUN pip install [^\n]*-c constraints\.txt \.", dockerfile)
    assert "!constraints.txt" in (REPO_ROOT / ".dockerignore").read_text().splitlines()
    # CI runs scripts/test, which bootstraps first.
    assert "exec scripts/test" in (REPO_ROOT / ".ci/run").read_text()
    assert "scripts/bootstrap" in (REPO_ROOT / "scripts/test").read_text()
