"""``hosiery-admin``: the broker's accounts and the database schema of a deployment.

* :mod:`admin.passwords` reads and writes Mosquitto 2 password files (PBKDF2-SHA512 entries,
  the format ``mosquitto_passwd`` writes);
* :mod:`admin.acl` writes the broker's access control list: each enterprise gateway may publish
  only its own enterprise's counters and status, the collector reads everything under
  ``hosiery/v1/`` and publishes alerts, rejections and summaries;
* :mod:`admin.cli` is the command line (``hosiery-admin add-gateway E0001 ...``).
"""
