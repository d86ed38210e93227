"""The product's MQTT v5 client, on the ``mqtt5`` packet codec.

:mod:`mqtt.protocol` is the sans-I/O session (bytes in, events and bytes out), usable from a
selector loop over many non-blocking sockets; :mod:`mqtt.client` is a blocking client with a
network thread built on it; :mod:`mqtt.errors` holds the exception tree. The package depends on
nothing else in the product.
"""
