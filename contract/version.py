"""The product's version, as every command's ``--version`` prints it: the installed
distribution's metadata (``pyproject.toml``'s ``version``), read when asked."""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "hosiery-monitor"


def product_version() -> str:
    """``0.1.0``, or ``unknown`` when the project runs without being installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def version_line(prog: str) -> str:
    """What ``PROG --version`` prints: ``hosiery-sim 0.1.0``."""
    return f"{prog} {product_version()}"
