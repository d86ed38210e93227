"""Run the product's real servers (Mosquitto, InfluxDB) as local subprocesses.

Used by the native run (``hosiery-stack``) and by the integration-test harness, so both start the
servers the same way, from the repository's own configuration.
"""

from stack.errors import ServerError, ServerNotInstalledError, ServerStartError
from stack.influxdb import InfluxServer
from stack.mosquitto import MosquittoServer

__all__ = [
    "InfluxServer",
    "MosquittoServer",
    "ServerError",
    "ServerNotInstalledError",
    "ServerStartError",
]
