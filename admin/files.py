"""Rewriting small account files atomically, keeping their owner and permissions."""

import contextlib
import os
from pathlib import Path

from admin.errors import AccountFileError


def read_text(path: Path) -> str:
    """The file's text, or ``""`` when it does not exist yet."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountFileError(f"cannot read {path}: {exc}") from exc


def write_text(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` atomically (temporary file, fsync, rename).

    An existing file keeps its permission bits and, when this process may set them, its owner
    and group (the broker may run as another user than the one editing its files); a new file
    gets ``mode``.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        old = path.stat()
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise AccountFileError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        tmp.chmod(mode if old is None else old.st_mode & 0o7777)
        if old is not None:
            # Only root may give a file away; anyone else keeps owning what they write.
            with contextlib.suppress(PermissionError):
                os.chown(tmp, old.st_uid, old.st_gid)
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise AccountFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
