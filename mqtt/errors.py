"""Exceptions of the :mod:`mqtt` package.

Every message is one line an operator can act on.

MqttError
 +-- MqttUnavailableError    no connection to the broker, or no answer in time
 +-- MqttRefusedError        the broker refused the connection (CONNACK) or a subscription
 |                           (SUBACK); ``reason_code`` is the MQTT reason code
 +-- MqttProtocolError       the peer sent bytes that are not MQTT v5, or a packet the protocol
 |                           does not allow there (the connection is closed)
 +-- MqttDisconnectedError   the broker closed the connection with a DISCONNECT packet;
                             ``reason_code`` is its reason code (e.g. 142 session taken over)
"""


class MqttError(Exception):
    """Base class of the MQTT client's errors."""


class MqttUnavailableError(MqttError):
    """No connection to the broker, or no answer within the timeout."""


class MqttRefusedError(MqttError):
    """The broker refused the connection or a subscription."""

    def __init__(self, message: str, reason_code: int) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class MqttProtocolError(MqttError):
    """Bytes from the peer that are not a valid MQTT v5 packet in this place."""


class MqttDisconnectedError(MqttError):
    """The broker sent DISCONNECT with a reason code."""

    def __init__(self, message: str, reason_code: int) -> None:
        super().__init__(message)
        self.reason_code = reason_code
