"""The test harness: real Mosquitto and InfluxDB servers as subprocesses on free loopback ports.

Session-scoped servers serve tests that only need a broker or a database; the ``*_factory``
fixtures give a test servers of its own to stop, kill and restart.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import settings

from stack import InfluxServer, MosquittoServer
from stack.process import ServerProcess

# Speed is measured by the benchmarks, never asserted by tests: no per-example deadline on these
# shared machines.
settings.register_profile("hosiery", deadline=None)
settings.load_profile("hosiery")


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    with MosquittoServer(tmp_path_factory.mktemp("mosquitto")) as server:
        yield server


@pytest.fixture(scope="session")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    with InfluxServer(tmp_path_factory.mktemp("influxdb")) as server:
        yield server


S = TypeVar("S", bound=ServerProcess)


def _servers(kind: Callable[..., S], root: Path, name: str) -> Iterator[Callable[..., S]]:
    """Start servers of one kind on demand, each in its own directory; stop them all after."""
    servers: list[S] = []

    def make(**kwargs: object) -> S:
        server = kind(root / f"{name}-{len(servers)}", **kwargs)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoServer]]:
    yield from _servers(MosquittoServer, tmp_path, "mosquitto")


@pytest.fixture
def influx_factory(tmp_path: Path) -> Iterator[Callable[..., InfluxServer]]:
    yield from _servers(InfluxServer, tmp_path, "influxdb")
