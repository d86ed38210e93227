"""The park model and the fleet simulator.

:mod:`simulators.park` builds the park (enterprises, machines, styles, shift patterns) from
:mod:`simulators.params`; :mod:`simulators.machine` is a machine's state machine;
:mod:`simulators.calibration` the analytic expected output; :mod:`simulators.fleet` publishes
every machine's counter over MQTT (``hosiery-sim run``) through the gateways of
:mod:`simulators.connections`, with faults from :mod:`simulators.faults` on request, and
returns the truth (:mod:`simulators.truth`).
"""

from simulators.broker import BrokerAddress, parse_mqtt_url
from simulators.errors import (
    BrokerError,
    BrokerRefusedError,
    BrokerUnreachableError,
    DeliveryError,
    ParameterError,
    RegistryError,
    SimulatorError,
)
from simulators.faults import FaultRates
from simulators.fleet import Fleet, run_fleet
from simulators.fleet_config import FleetConfig
from simulators.params import DEFAULT_PARK, ParkParams
from simulators.park import Enterprise, MachineSpec, Park, build_park
from simulators.registry import Registry, read_registry, write_registry
from simulators.truth import MachineTruth, Truth, read_truth, write_truth

__all__ = [
    "DEFAULT_PARK",
    "BrokerAddress",
    "BrokerError",
    "BrokerRefusedError",
    "BrokerUnreachableError",
    "DeliveryError",
    "Enterprise",
    "FaultRates",
    "Fleet",
    "FleetConfig",
    "MachineSpec",
    "MachineTruth",
    "ParameterError",
    "Park",
    "ParkParams",
    "Registry",
    "RegistryError",
    "SimulatorError",
    "Truth",
    "build_park",
    "parse_mqtt_url",
    "read_registry",
    "read_truth",
    "run_fleet",
    "write_registry",
    "write_truth",
]
