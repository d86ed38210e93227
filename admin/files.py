"""Rewriting small account files atomically, keeping their owner and permissions."""

from pathlib import Path

from admin.errors import AccountFileError
from contract.files import write_atomic


def read_text(path: Path) -> str:
    """The file's text, or ``""`` when it does not exist yet."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountFileError(f"cannot read {path}: {exc}") from exc


def write_text(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` atomically (:func:`contract.files.write_atomic`).

    An existing file keeps its permission bits and, when this process may set them, its owner
    and group (the broker may run as another user than the one editing its files); a new file
    gets ``mode``.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode(), mode=mode)
    except OSError as exc:
        raise AccountFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
