"""The product's MQTT v5 client, on the ``mqtt5`` packet codec.

:mod:`mqtt.protocol` is the sans-I/O session (bytes in, events and bytes out);
:mod:`mqtt.client` is a blocking client with a network thread built on it (the collector's);
:mod:`mqtt.connection` is the same session on a non-blocking socket that the caller's selector
loop drives, many connections to a thread (the simulator's gateways); :mod:`mqtt.errors` holds
the exception tree. The package depends on
nothing else in the product.
"""
