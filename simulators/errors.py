"""Exceptions of the :mod:`simulators` package.

SimulatorError
 +-- ParameterError              a park or run parameter is out of range
 +-- RegistryError               a park registry file cannot be read
 +-- BrokerError                 the MQTT broker cannot be used
 |    +-- BrokerUnreachableError     no TCP connection (refused, unknown host, timeout)
 |    +-- BrokerRefusedError         the broker refused the MQTT connection (credentials)
 +-- DeliveryError               final readings were not acknowledged before the deadline

Every message is one line an operator can act on; the CLI prints it without a traceback.
"""


class SimulatorError(Exception):
    """The simulator cannot do what it was asked."""


class ParameterError(SimulatorError, ValueError):
    """A park or run parameter is out of range."""


class RegistryError(SimulatorError):
    """A park registry file cannot be read."""


class BrokerError(SimulatorError):
    """The MQTT broker cannot be used."""


class BrokerUnreachableError(BrokerError):
    """No TCP connection to the broker."""


class BrokerRefusedError(BrokerError):
    """The broker answered the MQTT CONNECT with a refusal."""


class DeliveryError(SimulatorError):
    """Readings were not acknowledged by the broker before the shutdown deadline."""
