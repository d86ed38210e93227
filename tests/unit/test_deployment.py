"""The container deployment, checked without a container engine: docker-compose.yml validates
(Debian's ``docker-compose config``), everything it mounts exists in the repository and loads,
the image is built from tracked files only and runs unprivileged with a health check."""

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from dashboards import build, health
from stack.grafana import DASHBOARDS, DASHBOARDS_MOUNT, PROVISIONING, grafana_env
from stack.mosquitto import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
COMPOSE_TLS = REPO_ROOT / "docker-compose.tls.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILE = REPO_ROOT / "Dockerfile"
PROMETHEUS_CONFIG = REPO_ROOT / "config" / "prometheus" / "prometheus.yml"
REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?[^}]*\}")
INTERPOLATED = re.compile(r"\$\{([A-Z0-9_]+)[^}]*\}")


def load(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(path.read_text())
    return found


def tracked(path: Path) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--", str(path.relative_to(REPO_ROOT))],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


def filled_env(tmp_path: Path) -> Path:
    """.env.example with every empty secret filled in, as scripts/make-env does."""
    env = tmp_path / ".env"
    text = re.sub(r"(?m)^([A-Z_]*PASSWORD)=$", r"\1=x-secret", ENV_EXAMPLE.read_text())
    env.write_text(text)
    return env


def compose(
    tmp_path: Path, env: Path, *files: Path, profiles: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    argv = ["docker-compose", "--project-directory", str(REPO_ROOT), "--env-file", str(env)]
    for file in files or (COMPOSE,):
        argv += ["-f", str(file)]
    for profile in profiles:
        argv += ["--profile", profile]
    return subprocess.run(
        [*argv, "config"], check=False, capture_output=True, text=True, cwd=tmp_path, timeout=60
    )


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load(COMPOSE)["services"]
    return found


def test_compose_validates_with_the_secrets_filled_in(tmp_path: Path) -> None:
    done = compose(tmp_path, filled_env(tmp_path))
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert resolved["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == (
        "x-secret"  # noqa: S105 - the test's placeholder
    )
    tls = compose(tmp_path, filled_env(tmp_path), COMPOSE, COMPOSE_TLS)
    assert tls.returncode == 0, tls.stderr
    ports = yaml.safe_load(tls.stdout)["services"]["mosquitto"]["ports"]
    assert {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in ports} == {1883, 8883}


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    done = compose(tmp_path, ENV_EXAMPLE)
    assert done.returncode != 0
    assert re.search(r"set [A-Z_]+PASSWORD in \.env", done.stderr), done.stderr


def test_every_secret_is_required_and_listed_empty_in_the_example() -> None:
    text = COMPOSE.read_text()
    required = set(REQUIRED.findall(text))
    assert "GRAFANA_ADMIN_PASSWORD" in required
    assert {v for v in INTERPOLATED.findall(text) if "PASSWORD" in v} <= required
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert required <= set(example)
    assert all(example[name] == "" for name in required)
    assert not re.search(r"(?i)password\s*[:=]\s*[\"']?\w", text.replace("PASSWORD:", "")), (
        "no literal password in docker-compose.yml"
    )
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().splitlines()


def test_images_are_pinned_to_versions_that_work(services: dict[str, dict[str, Any]]) -> None:
    mosquitto = services["mosquitto"]["image"]
    assert re.fullmatch(r"eclipse-mosquitto:2\.\d+\.\d+", mosquitto)
    version = tuple(int(x) for x in mosquitto.split(":")[1].split("."))
    assert version >= (2, 0, 13)  # older brokers do not hold the client's Receive Maximum
    assert re.fullmatch(r"influxdb:1\.8\.\d+", services["influxdb"]["image"])
    assert re.fullmatch(r"grafana/grafana-oss:11\.\d+\.\d+", services["grafana"]["image"])
    # The same Prometheus as Debian's package, which the tests run.
    prometheus = services["prometheus"]["image"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus)
    debian = subprocess.run(
        ["prometheus", "--version"], check=True, capture_output=True, text=True
    ).stdout
    found = re.search(r"version (\d+\.\d+\.\d+)", debian)
    assert found, debian
    assert prometheus.split(":v")[1].split(".")[:2] == found.group(1).split(".")[:2]


def test_services_wait_for_healthy_dependencies_and_restart(
    services: dict[str, dict[str, Any]],
) -> None:
    long_running = {"mosquitto", "influxdb", "collector", "grafana", "simulator"}
    for name in long_running:
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("mosquitto", "influxdb", "collector", "grafana"):
        assert services[name]["healthcheck"]["test"], name
    assert services["collector"]["depends_on"] == {
        "mosquitto": {"condition": "service_healthy"},
        "influxdb": {"condition": "service_healthy"},
        "influxdb-init": {"condition": "service_completed_successfully"},
    }
    assert services["mosquitto"]["depends_on"]["broker-init"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["simulator"]["profiles"] == ["demo"]
    assert services["collector"]["environment"]["HOSIERY_CREATE_DATABASE"] == "false"
    assert "/healthz" in " ".join(services["collector"]["healthcheck"]["test"])


def test_state_lives_in_named_volumes(services: dict[str, dict[str, Any]]) -> None:
    volumes = set(load(COMPOSE)["volumes"])
    for service, target in (
        ("mosquitto", "/mosquitto/data"),
        ("influxdb", "/var/lib/influxdb"),
        ("collector", "/var/lib/hosiery"),
        ("grafana", "/var/lib/grafana"),
        ("prometheus", "/prometheus"),
    ):
        named = [v.split(":")[0] for v in services[service]["volumes"] if v.split(":")[1] == target]
        assert named, (service, target)
        assert named[0] in volumes
    image_state = services["collector"]["environment"]["HOSIERY_STATE_DIR"]
    assert image_state.startswith("/var/lib/hosiery/")


def bind_mounts(path: Path) -> list[tuple[Path, str]]:
    found = []
    for service in load(path)["services"].values():
        for volume in service.get("volumes", ()):
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                found.append((REPO_ROOT / source[2:], target))
    return found


def test_what_compose_mounts_is_in_the_repository_and_tracked() -> None:
    mounts = bind_mounts(COMPOSE)
    assert mounts
    for source, _target in mounts:
        assert source.exists(), source
        assert tracked(source), f"{source} is not tracked by git"
    # The TLS certificates are made on the site (scripts/make-certs) and never committed.
    (certs, _), *_ = [m for m in bind_mounts(COMPOSE_TLS) if m[1] == "/mosquitto/certs"]
    assert "/config/mosquitto/certs/" in (REPO_ROOT / ".gitignore").read_text()
    assert certs == REPO_ROOT / "config" / "mosquitto" / "certs"


def test_the_brokers_files_are_where_its_configuration_says(
    services: dict[str, dict[str, Any]],
) -> None:
    conf = (REPO_ROOT / "config" / "mosquitto" / "docker.conf").read_text()
    mounts = {
        target: source
        for source, target in (v.split(":")[:2] for v in services["mosquitto"]["volumes"])
    }
    assert mounts["/mosquitto/config/mosquitto.conf"] == "./config/mosquitto/docker.conf"
    assert mounts["/mosquitto/config/conf.d/hosiery.conf"] == "./config/mosquitto/hosiery.conf"
    assert "include_dir /mosquitto/config/conf.d" in conf
    assert "allow_anonymous false" in conf
    for line in ("password_file /mosquitto/auth/passwd", "acl_file /mosquitto/auth/acl"):
        assert line in conf
    assert mounts["/mosquitto/auth"] == "broker-auth"
    admin_env = services["broker-init"]["environment"]
    assert admin_env["HOSIERY_ADMIN_BROKER_PASSWD_PATH"] == "/mosquitto/auth/passwd"  # noqa: S105 - a path
    assert admin_env["HOSIERY_ADMIN_ACL_FILE"] == "/mosquitto/auth/acl"
    tls = {
        t: s
        for s, t in (
            v.split(":")[:2] for v in load(COMPOSE_TLS)["services"]["mosquitto"]["volumes"]
        )
    }
    assert tls["/mosquitto/config/conf.d/tls.conf"] == "./config/mosquitto/tls.conf"


def test_grafanas_provisioning_loads_and_fits_the_mounts(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    grafana = services["grafana"]
    mounts = {target: source for source, target in (v.split(":")[:2] for v in grafana["volumes"])}
    assert REPO_ROOT / mounts["/etc/grafana/provisioning"][2:] == PROVISIONING
    assert REPO_ROOT / mounts[DASHBOARDS_MOUNT][2:] == DASHBOARDS

    datasources = [
        d
        for f in sorted((PROVISIONING / "datasources").glob("*.y*ml"))
        for d in load(f)["datasources"]
    ]
    assert datasources
    uids = {d["uid"] for d in datasources}
    assert sorted(d["type"] for d in datasources) == ["influxdb", "prometheus"]

    providers = [
        p
        for f in sorted((PROVISIONING / "dashboards").glob("*.y*ml"))
        for p in load(f)["providers"]
    ]
    assert [p["options"]["path"] for p in providers] == [DASHBOARDS_MOUNT]
    dashboards = sorted(DASHBOARDS.rglob("*.json"))
    assert dashboards
    for path in dashboards:
        board = orjson.loads(path.read_bytes())
        assert board["uid"]
        assert board["title"]

    rules = [
        r
        for f in sorted((PROVISIONING / "alerting").glob("*.y*ml"))
        for g in load(f).get("groups", ())
        for r in g["rules"]
    ]
    assert rules
    for rule in rules:
        assert {q["datasourceUid"] for q in rule["data"]} <= uids | {"__expr__"}, rule["uid"]

    # Every ${VAR} the provisioning reads is set for Grafana: in compose, and in the native run.
    wanted = {v for f in PROVISIONING.rglob("*.y*ml") for v in INTERPOLATED.findall(f.read_text())}
    assert wanted
    assert wanted <= set(grafana["environment"])
    native = grafana_env(
        tmp_path,
        port=3000,
        influx_url="http://x:1",
        database="hosiery",
        password="p",  # noqa: S106 - the test's placeholder
        base={},
    )
    assert wanted <= set(native)


def dockerfile_lines() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_image_is_built_from_tracked_files_and_runs_unprivileged() -> None:
    lines = dockerfile_lines()
    base = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert base == [base[0]]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-bookworm)?(@sha256:[0-9a-f]{64})?", base[0])
    copies = [line.split()[1:-1] for line in lines if line.startswith("COPY ")]
    assert copies
    sources = [REPO_ROOT / s for sources in copies for s in sources if not s.startswith("--")]
    for source in sources:
        assert source.exists(), source
        assert tracked(source), f"{source} is not tracked by git"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    assert lines.index(next(x for x in lines if x.startswith("USER "))) > max(
        i for i, x in enumerate(lines) if x.startswith("RUN ")
    )
    health = [line for line in lines if line.startswith("HEALTHCHECK ")]
    assert len(health) == 1
    assert "/healthz" in health[0]
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    for source in sources:
        name = source.relative_to(REPO_ROOT).as_posix()
        assert f"!{name}" in ignored or f"!{name}/" in ignored, f".dockerignore drops {name}"


def test_the_image_installs_every_package_and_command_compose_runs(
    services: dict[str, dict[str, Any]],
) -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {
        s.rstrip("/")
        for line in dockerfile_lines()
        if line.startswith("COPY ")
        for s in line.split()[1:-1]
        if (REPO_ROOT / s / "__init__.py").exists()
    }
    assert {"admin", "collector", "contract", "mqtt", "simulators", "stack"} <= copied
    assert all(f"{package}*" in include for package in copied), include
    commands = {
        part
        for service in services.values()
        if "build" in service
        for part in (service.get("entrypoint") or ["hosiery-collector"])
        if isinstance(part, str) and part.startswith("hosiery-")
    }
    commands |= set(re.findall(r"\b(hosiery-[a-z]+) ", COMPOSE.read_text()))
    assert commands >= {"hosiery-admin", "hosiery-collector", "hosiery-sim", "hosiery-top"}
    assert commands <= set(project["project"]["scripts"]), commands


def test_the_backfill_service_writes_with_the_collectors_account_into_the_schema(
    services: dict[str, dict[str, Any]],
) -> None:
    backfill = services["backfill"]
    assert backfill["entrypoint"] == ["hosiery-sim", "backfill"]
    assert backfill["profiles"] == ["tools"]
    env = backfill["environment"]
    collector = services["collector"]["environment"]
    for name in ("HOSIERY_INFLUX_URL", "HOSIERY_INFLUX_USERNAME", "HOSIERY_INFLUX_PASSWORD"):
        assert env[name] == collector[name]
    assert env["HOSIERY_CREATE_DATABASE"] == "false"
    assert backfill["depends_on"]["influxdb-init"]["condition"] == (
        "service_completed_successfully"
    )


def test_the_prometheus_profile_scrapes_the_collector_for_the_health_dashboard(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    done = compose(tmp_path, filled_env(tmp_path), profiles=("prometheus",))
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]["prometheus"]
    assert resolved["profiles"] == ["prometheus"]
    assert resolved["restart"] == "unless-stopped"
    assert "/-/ready" in " ".join(resolved["healthcheck"]["test"])
    mounts = {v.split(":")[1]: v.split(":")[0] for v in resolved["volumes"]}
    assert Path(mounts["/etc/prometheus/prometheus.yml"]) == PROMETHEUS_CONFIG
    assert "--config.file=/etc/prometheus/prometheus.yml" in resolved["command"]
    assert "--storage.tsdb.path=/prometheus" in resolved["command"]

    # Debian's promtool accepts the file; it scrapes the collector's port under the job and
    # at the interval the dashboard and Grafana's datasource assume.
    check = subprocess.run(
        ["promtool", "check", "config", str(PROMETHEUS_CONFIG)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    config = load(PROMETHEUS_CONFIG)
    [job] = config["scrape_configs"]
    assert job["job_name"] == health.JOB
    [targets] = [c["targets"] for c in job["static_configs"]]
    collector_port = services["collector"]["ports"][0].rsplit(":", 1)[1]
    assert targets == [f"collector:{collector_port}"]
    listens = services["collector"]["environment"]["HOSIERY_HTTP_HOST"]
    assert listens == "0.0.0.0"  # noqa: S104 - inside its container, for Prometheus's
    assert config["global"]["scrape_interval"] == build.SCRAPE_INTERVAL
    datasources = load(PROVISIONING / "datasources" / "hosiery.yaml")["datasources"]
    [prom] = [d for d in datasources if d["type"] == "prometheus"]
    assert prom["jsonData"]["timeInterval"] == build.SCRAPE_INTERVAL
    assert services["grafana"]["environment"]["HOSIERY_PROMETHEUS_URL"] == (
        "http://prometheus:9090"
    )
    assert (DASHBOARDS / "Collector" / "collector-health.json").is_file()
