"""The pipeline's retry policy: the repository's one, aborting with the collector's error."""

from collector.errors import WriteAbortedError
from contract import retry
from contract.retry import Backoff, Failure

__all__ = ["Backoff", "Failure", "Retrier"]


class Retrier(retry.Retrier):
    """:class:`contract.retry.Retrier` that raises :class:`WriteAbortedError` when abandoned."""

    aborted = WriteAbortedError
