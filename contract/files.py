"""Replacing a file atomically: a reader sees the old file or the new one, never half of one."""

import contextlib
import os
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, fsync: bool = True, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: a temporary file beside it, fsynced, renamed over it.

    An existing file keeps its permission bits and, when this process may set them, its owner
    and group; a new file gets ``mode``. With ``fsync`` the data and the rename are on disk
    when this returns. Raises ``OSError``; the temporary file does not outlive a failure.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        old: os.stat_result | None = path.stat()
    except FileNotFoundError:
        old = None
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            if fsync:
                file.flush()
                os.fsync(file.fileno())
        tmp.chmod(mode if old is None else old.st_mode & 0o7777)  # whatever the umask
        if old is not None:
            # Only root may give a file away; anyone else keeps owning what they write.
            with contextlib.suppress(PermissionError):
                os.chown(tmp, old.st_uid, old.st_gid)
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
