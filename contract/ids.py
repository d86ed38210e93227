"""Enterprise, machine and boot identifiers: 1-64 characters of ``[A-Za-z0-9_-]``.

The character set keeps identifiers safe as MQTT topic levels, InfluxDB tag values and file
names without escaping, so nothing an identifier contains can change the meaning of a topic or a
line of line protocol.
"""

import re
from typing import Annotated

from pydantic import StringConstraints

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID_RE = re.compile(ID_PATTERN)

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A pydantic field type for identifiers."""


class InvalidIdError(ValueError):
    """An identifier is not 1-64 characters of ``[A-Za-z0-9_-]``."""


def is_valid_id(value: str) -> bool:
    """Return whether ``value`` is a valid identifier."""
    return _ID_RE.fullmatch(value) is not None


def require_id(value: str, what: str = "identifier") -> str:
    """Return ``value`` if it is a valid identifier, else raise :class:`InvalidIdError`."""
    if not is_valid_id(value):
        raise InvalidIdError(f"{what} {value!r} is not 1-64 characters of [A-Za-z0-9_-]")
    return value
