"""contract.files.write_atomic: whole files only, permissions kept, nothing left behind."""

import os
import stat
from pathlib import Path

import pytest

from contract.files import write_atomic


def test_a_new_file_gets_the_mode_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "accounts"
    previous = os.umask(0o077)
    try:
        write_atomic(target, b"one", mode=0o640)
    finally:
        os.umask(previous)
    assert target.read_bytes() == b"one"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_an_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "registry.json"
    target.write_bytes(b"old")
    target.chmod(0o604)
    write_atomic(target, b"new", mode=0o600, fsync=False)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o604
    assert [p.name for p in tmp_path.iterdir()] == ["registry.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "missing-directory" / "file"
    with pytest.raises(FileNotFoundError):
        write_atomic(target, b"x")
    directory = tmp_path / "dir"
    directory.mkdir()
    (directory / "file").mkdir()  # a directory where the file goes: the rename fails
    with pytest.raises(OSError, match="directory"):
        write_atomic(directory / "file", b"x")
    assert sorted(p.name for p in directory.iterdir()) == ["file"]
