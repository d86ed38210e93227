"""Every command answers ``--version`` with the product's version from the package metadata."""

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from contract.version import product_version, version_line
from stack.mosquitto import REPO_ROOT

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def test_the_version_is_pyprojects() -> None:
    assert product_version() == PROJECT["version"]
    assert version_line("hosiery-sim") == f"hosiery-sim {PROJECT['version']}"


@pytest.mark.parametrize("command", sorted(PROJECT["scripts"]))
def test_every_command_prints_its_version(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    module, _, function = PROJECT["scripts"][command].partition(":")
    main = getattr(importlib.import_module(module), function)
    try:
        code = main(["--version"])
    except SystemExit as exc:  # argparse's version action
        code = exc.code
    assert code == 0
    assert capsys.readouterr().out == f"{command} {PROJECT['version']}\n"


def test_the_installed_commands_answer_too() -> None:
    """Through the console scripts, as an operator types them."""
    bin_dir = Path(sys.executable).parent
    for command in ("hosiery-collector", "hosiery-sim"):
        out = subprocess.run(
            [str(bin_dir / command), "--version"],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip
        assert out == f"{command} {PROJECT['version']}\n"
