"""Mosquitto 2 password files: ``user:$7$ITERATIONS$SALT$HASH`` lines.

``$7$`` is PBKDF2-HMAC-SHA512 with a 12-byte random salt, base64-encoded with padding, which is
what ``mosquitto_passwd`` writes by default since Mosquitto 2.0 (101 iterations). Writing the
format here means no Mosquitto tools are needed where accounts are managed (the collector's
container image has none); the tests check the entries against the real broker and against
``mosquitto_passwd``.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
from pathlib import Path

from admin.errors import AccountError, AccountFileError
from admin.files import read_text, write_text
from contract import is_valid_id
from contract.credentials import CredentialsLineError, parse_credentials

ITERATIONS = 101
"""What ``mosquitto_passwd`` uses; the broker reads the count from each entry."""
SALT_BYTES = 12
USER_PATTERN = "[A-Za-z0-9_-]{1,64}"


def check_user(user: str) -> str:
    """``user`` if it is a valid account name (the enterprise id rules), else raise."""
    if not is_valid_id(user):
        raise AccountError(f"user name {user!r} is not 1-64 characters of {USER_PATTERN}")
    return user


def check_password(password: str) -> str:
    if not password:
        raise AccountError("the password is empty")
    if any(c in password for c in "\n\r\0"):
        raise AccountError("the password contains a line break or NUL")
    return password


def new_password() -> str:
    """A random password: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The ``$7$`` entry of ``password`` (the part after ``user:``)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", check_password(password).encode(), salt, iterations)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, entry: str) -> bool:
    """Whether ``password`` matches a ``$7$`` entry (other formats are never matched)."""
    parts = entry.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error):
        return False
    actual = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class PasswordFile:
    """A password file in memory: ``user -> entry``, in file order; :meth:`save` writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, str] = {}
        for number, line in enumerate(read_text(path).splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            user, sep, entry = line.partition(":")
            if not sep or not user or not entry:
                raise AccountFileError(f"{path}:{number}: not a 'user:hash' line")
            self.entries[user] = entry

    def set(self, user: str, password: str) -> None:
        """Add ``user``, or give it a new password."""
        self.entries[check_user(user)] = hash_password(password)

    def remove(self, user: str) -> bool:
        return self.entries.pop(user, None) is not None

    def verify(self, user: str, password: str) -> bool:
        entry = self.entries.get(user)
        return entry is not None and verify_password(password, entry)

    def save(self) -> None:
        write_text(self.path, "".join(f"{u}:{e}\n" for u, e in self.entries.items()))


def read_credentials(path: Path) -> dict[str, str]:
    """A plain ``user:password`` file (the simulator's ``--credentials-file``), or ``{}``."""
    try:
        return parse_credentials(read_text(path), path)
    except CredentialsLineError as exc:
        raise AccountFileError(str(exc)) from None


def write_credentials(path: Path, credentials: dict[str, str]) -> None:
    """Write a plain ``user:password`` file, readable by its owner only."""
    header = "# enterprise:password of each gateway (plain text: keep this file private)\n"
    write_text(path, header + "".join(f"{u}:{p}\n" for u, p in credentials.items()), mode=0o600)
