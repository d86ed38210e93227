"""An InfluxDB 1.x server (Debian's ``influxd``) with its own data directory."""

from pathlib import Path

import httpx

from stack.process import ServerProcess, find_binary, free_port

_CONF = """\
reporting-disabled = true
bind-address = "{host}:{rpc_port}"

[meta]
  dir = "{root}/meta"

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  cache-max-memory-size = "1g"
  max-series-per-database = 1000000
  max-values-per-tag = 100000

[coordinator]
  query-timeout = "0s"
  log-queries-after = "0s"

[retention]
  enabled = true
  check-interval = "30m"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{host}:{port}"
  auth-enabled = {auth}
  log-enabled = false
  max-body-size = 25000000

[continuous_queries]
  enabled = true
  log-enabled = false
  run-interval = "{cq_interval}"
"""


class InfluxServer(ServerProcess):
    """InfluxDB 1.x on a loopback port. ``cq_interval`` sets how often continuous queries run."""

    name = "influxd"
    start_timeout = 60.0

    def __init__(
        self,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        auth: bool = False,
        cq_interval: str = "1s",
    ) -> None:
        super().__init__(workdir)
        self.host = host
        self.port = port or free_port(host)
        self.rpc_port = free_port(host)
        self.auth = auth
        self.cq_interval = cq_interval
        self.binary = find_binary("influxd", "/usr/bin")
        self.conf_path = workdir / "influxdb.conf"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def prepare(self) -> None:
        self.conf_path.write_text(
            _CONF.format(
                host=self.host,
                port=self.port,
                rpc_port=self.rpc_port,
                root=self.workdir,
                auth="true" if self.auth else "false",
                cq_interval=self.cq_interval,
            )
        )

    def argv(self) -> list[str]:
        return [self.binary, "-config", str(self.conf_path)]

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False
