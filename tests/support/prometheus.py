"""A real Prometheus (Debian's ``prometheus``) on a loopback port, with the repository's scrape
configuration (``config/prometheus/prometheus.yml``) pointed at the test's targets."""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from stack.mosquitto import REPO_ROOT
from stack.process import ServerProcess, find_binary, free_port

CONFIG = REPO_ROOT / "config" / "prometheus" / "prometheus.yml"
"""What compose mounts into its Prometheus (profile ``prometheus``)."""


def repository_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return config


def scraping(targets: Sequence[str], interval: str) -> dict[str, Any]:
    """The repository's configuration with every job scraping ``targets`` every ``interval``."""
    config = repository_config()
    config["global"].update(
        {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval}
    )
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": list(targets)}]
    return config


class PrometheusServer(ServerProcess):
    """Prometheus scraping ``targets`` (``host:port``) every ``scrape_interval``; data in
    ``workdir``, gone with it."""

    name = "prometheus"
    start_timeout = 60.0

    def __init__(
        self,
        workdir: Path,
        *,
        targets: Sequence[str],
        scrape_interval: str = "1s",
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(workdir)
        self.host = host
        self.port = free_port(host)
        self.targets = list(targets)
        self.scrape_interval = scrape_interval
        self.binary = find_binary("prometheus", "/usr/bin")
        self.conf_path = workdir / "prometheus.yml"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def prepare(self) -> None:
        config = scraping(self.targets, self.scrape_interval)
        self.conf_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def argv(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.conf_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
            "--log.level=warn",
        ]

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expression: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's vector (or a scalar as one sample), now or ``at`` (epoch seconds);
        AssertionError on an error."""
        form = {"query": expression} | ({} if at is None else {"time": f"{at:.3f}"})
        resp = httpx.post(f"{self.url}/api/v1/query", data=form, timeout=30)
        body: dict[str, Any] = resp.json()
        assert body.get("status") == "success", f"{body.get('error')}: {expression}"
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def scrapes(self, job: str) -> int:
        """How many successful scrapes of ``job`` Prometheus stored in the last ten minutes."""
        found = self.query(f'sum(sum_over_time(up{{job="{job}"}}[10m]))')
        return int(float(found[0]["value"][1])) if found else 0


def numbers(result: Sequence[dict[str, Any]]) -> list[float]:
    """The samples' values; NaN and infinities included, as Prometheus sends them."""
    return [float(sample["value"][1]) for sample in result]


def finite(result: Sequence[dict[str, Any]]) -> bool:
    """True when the result has samples and every one is a finite number."""
    values = numbers(result)
    return bool(values) and all(math.isfinite(v) for v in values)
