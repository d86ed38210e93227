"""The product's InfluxDB 1.x client: everything that talks to InfluxDB's v1 HTTP API.

:mod:`influx.config` says where the server is and how to authenticate (and holds the API's
URLs); :mod:`influx.query` runs InfluxQL (``/query``) and :mod:`influx.write` writes line
protocol (``/write``): one request per call, the answer mapped (:mod:`influx.responses`) to a
typed result or to an error of :mod:`influx.errors`. :mod:`influx.lines` formats the product's
line protocol and reads a reading back from it; :mod:`influx.schema` and :mod:`influx.rollups`
declare the database, retention policies and continuous queries, and :mod:`influx.provision`
makes a server match them. The package retries nothing (its callers own the retry policy) and
depends on nothing else in the product.
"""
