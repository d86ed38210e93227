"""Exceptions of the :mod:`stack` package.

ServerError
 +-- ServerNotInstalledError   the server's binary is not on PATH
 +-- ServerStartError          the server did not become ready, or exited
TopError                        ``hosiery-top`` cannot read InfluxDB or the registry
"""


class ServerError(Exception):
    """A local server could not be run."""


class ServerNotInstalledError(ServerError):
    """The server's binary is not installed."""


class ServerStartError(ServerError):
    """The server exited or did not become ready in time."""


class TopError(Exception):
    """InfluxDB or the registry cannot be read (one line for the operator)."""
