"""Exceptions of the :mod:`admin` package.

AdminError                  one line for the operator; the command line prints it and exits 2
 +-- AccountFileError       a password, ACL or credentials file cannot be read, parsed or written
 +-- AccountError           a user name or password cannot be used (invalid, missing)
 +-- GrafanaPushError       dashboards cannot be read or pushed to Grafana (unreachable, refused)
"""


class AdminError(Exception):
    """An administration command cannot do what it was asked."""


class AccountFileError(AdminError):
    """A password, ACL or credentials file cannot be read, parsed or written."""


class AccountError(AdminError):
    """A user name or password is invalid or missing."""


class GrafanaPushError(AdminError):
    """Dashboards cannot be read, or Grafana cannot be reached or refuses them."""
