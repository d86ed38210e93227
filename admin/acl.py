"""The broker's access control list (Mosquitto ``acl_file``).

Every account may do only what its block allows; there are no ``pattern`` lines, so an account
without a block (a new user name, a typo) may neither publish nor subscribe:

* an enterprise gateway (user name = enterprise id) publishes its machines' counters and its own
  status (birth message and Last Will) and nothing else: not another enterprise's topics, not
  alerts (the collector's), and it reads nothing;
* the collector reads everything under ``hosiery/v1/`` and publishes the machine alerts, the
  notices of rejected input and the retained not-reporting summary (``hosiery/v1/_summary``).

The file is a header and one block per user (``user NAME`` and its ``topic`` lines); the
commands replace the block of the user they manage and keep every other block as it is.
"""

from collections.abc import Sequence
from pathlib import Path

from admin.errors import AccountFileError
from admin.files import read_text, write_text
from admin.passwords import check_user
from contract import REJECTED_TOPIC, SUMMARY_TOPIC, TOPIC_ROOT

HEADER = """\
# Mosquitto ACL of the hosiery park: which topics each account may publish and read.
# Written by hosiery-admin (init-broker, add-gateway, remove-gateway), which replaces the block
# of the user it manages and keeps the others. An account without a block may do nothing.
# The broker reads this file at start and on SIGHUP.
"""


def gateway_rules(enterprise: str) -> tuple[str, ...]:
    """An enterprise gateway: its machines' counters and its status, write only."""
    check_user(enterprise)
    return (
        f"write {TOPIC_ROOT}/{enterprise}/+/counter",
        f"write {TOPIC_ROOT}/{enterprise}/status",
    )


COLLECTOR_RULES: tuple[str, ...] = (
    f"read {TOPIC_ROOT}/#",
    f"write {TOPIC_ROOT}/+/+/alert",
    f"write {REJECTED_TOPIC}",
    f"write {SUMMARY_TOPIC}",
)


class AclFile:
    """An ACL file in memory: the header, then ``user -> block lines``; :meth:`save` writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: list[str] = []
        self.blocks: dict[str, list[str]] = {}
        current: list[str] = self.header
        for number, line in enumerate(read_text(path).splitlines(), 1):
            words = line.split()
            if words and words[0] == "user":
                if len(words) != 2:
                    raise AccountFileError(f"{path}:{number}: expected 'user NAME'")
                current = self.blocks.setdefault(words[1], [])
                current.clear()
            elif current is self.header and words and words[0] in ("topic", "pattern"):
                raise AccountFileError(
                    f"{path}:{number}: rules outside a 'user' block apply to anonymous "
                    "clients or to everyone; move them into a user's block"
                )
            else:
                current.append(line)
        if not any(line.strip() for line in self.header):
            self.header = HEADER.splitlines()

    def set_user(self, user: str, rules: Sequence[str]) -> None:
        """Give ``user`` exactly ``rules`` (``"read TOPIC"``, ``"write TOPIC"``)."""
        check_user(user)
        for rule in rules:
            access, _, topic = rule.partition(" ")
            if access not in ("read", "write", "readwrite") or not topic or " " in topic:
                raise ValueError(f"not an ACL rule: {rule!r}")
        self.blocks[user] = [f"topic {rule}" for rule in rules]

    def remove_user(self, user: str) -> bool:
        return self.blocks.pop(user, None) is not None

    def rules(self, user: str) -> list[str]:
        """The ``topic`` rules of ``user``'s block, without the ``topic`` keyword."""
        return [
            line.split(None, 1)[1]
            for line in self.blocks.get(user, [])
            if line.split()[:1] == ["topic"]
        ]

    def render(self) -> str:
        parts = ["\n".join(self.header).rstrip("\n")]
        for user, lines in self.blocks.items():
            body = "\n".join(lines).strip("\n")
            parts.append(f"user {user}" + (f"\n{body}" if body else ""))
        return "\n\n".join(parts) + "\n"

    def save(self) -> None:
        write_text(self.path, self.render())
