"""The gateways' credentials file: ``ENTERPRISE:PASSWORD`` lines, ``#`` comments and blank
lines; ``hosiery-admin`` writes it, ``hosiery-sim --credentials-file`` reads it."""

from contract.ids import is_valid_id


class CredentialsLineError(ValueError):
    """A line is not ``ENTERPRISE:PASSWORD``; the message names the file and the line."""


def parse_credentials(text: str, where: object) -> dict[str, str]:
    """Enterprise id -> password of every line of ``text`` (the file named ``where``)."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        enterprise, sep, password = line.partition(":")
        if not sep or not is_valid_id(enterprise) or not password:
            raise CredentialsLineError(f"{where}:{number}: not an 'ENTERPRISE:PASSWORD' line")
        found[enterprise] = password
    return found
