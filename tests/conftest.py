"""The test harness: real Mosquitto and InfluxDB servers as subprocesses on free loopback ports.

Session-scoped servers serve tests that only need a broker or a database; the ``*_factory``
fixtures give a test servers of its own to stop, kill and restart.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from stack import InfluxServer, MosquittoServer

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


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoServer]]:
    servers: list[MosquittoServer] = []

    def make(**kwargs: object) -> MosquittoServer:
        server = MosquittoServer(tmp_path / f"mosquitto-{len(servers)}", **kwargs)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def influx_factory(tmp_path: Path) -> Iterator[Callable[..., InfluxServer]]:
    servers: list[InfluxServer] = []

    def make(**kwargs: object) -> InfluxServer:
        server = InfluxServer(tmp_path / f"influxdb-{len(servers)}", **kwargs)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
