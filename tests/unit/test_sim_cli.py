"""``hosiery-sim`` without a broker: the park summary, the registry, settings and errors."""

from pathlib import Path

import pytest

from contract import is_valid_id
from simulators.broker import BrokerAddress, parse_mqtt_url
from simulators.cli import main
from simulators.errors import ParameterError, RegistryError
from simulators.registry import read_registry
from simulators.settings import load_settings
from simulators.truth import MachineTruth, Truth, read_truth, write_truth


def test_park_summary_states_the_parks_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["park", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "enterprises                  1,220" in out
    assert "machines                     40,000" in out
    assert "college-founded enterprises  371 (3,710 machines)" in out
    assert "other enterprises            849 (36,290 machines)" in out
    assert "machines per enterprise      min " in out
    assert "expected pairs per hour      " in out
    line = next(x for x in out.splitlines() if "expected pairs per year" in x)
    assert "of 3.5 billion)" in line
    share = float(line.split("(")[1].split("%")[0])
    assert 97.0 <= share <= 103.0


def test_park_registry_lists_every_machine(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    assert main(["park", "--registry", str(path), "--machines", "200", "--seed", "4"]) == 0
    registry = read_registry(path)
    assert registry.seed == 4
    assert registry.machines == 200
    assert sum(len(e.machines) for e in registry.enterprises) == 200
    assert all(is_valid_id(e.id) and e.id.startswith("E") for e in registry.enterprises)
    machine = registry.enterprises[0].machines[0]
    assert machine.id == "M001"
    assert machine.nominal_pairs_per_hour in {s.pairs_per_hour for s in registry.styles}
    assert 0 < machine.expected_pairs_per_hour < machine.nominal_pairs_per_hour
    shifts = {s.name for s in registry.shifts}
    assert all(e.shift in shifts for e in registry.enterprises)
    assert registry.expected_pairs_per_hour == pytest.approx(
        sum(m.expected_pairs_per_hour for e in registry.enterprises for m in e.machines)
    )


def test_park_scale_and_machines_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["park", "--scale", "0.1", "--machines", "10"])
    assert "not allowed with" in capsys.readouterr().err


def test_a_bad_registry_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"version": 1}')
    with pytest.raises(RegistryError, match="is not a park registry"):
        read_registry(path)
    with pytest.raises(RegistryError, match="cannot read"):
        read_registry(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--mqtt-url", "http://x"], "must start with mqtt:// or mqtts://"),
        (["run", "--mqtt-ca-file", "ca.crt"], "CA file is for a TLS broker"),
        (["run", "--mqtt-url", "mqtts://h", "--mqtt-ca-file", "/nonexistent/ca.crt"], "cannot use"),
        (["run", "--mqtt-url", "mqtt://"], "names no host"),
        (["run", "--mqtt-url", "mqtt://h:99999"], "invalid"),
        (["run", "--interval", "0"], "interval"),
        (["run", "--fault-drop", "2"], "fault-drop"),
        (["run", "--sim-start", "yesterday"], "sim-start"),
    ],
)
def test_bad_run_options_are_one_line_and_exit_code_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hosiery-sim: ")
    assert message in err
    assert err.count("\n") == 1


def test_environment_settings_and_options_over_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSIERY_SIM_MQTT_URL", "mqtt://broker:1884")
    monkeypatch.setenv("HOSIERY_SIM_MQTT_USERNAME", "gw")
    monkeypatch.setenv("HOSIERY_SIM_MQTT_PASSWORD", "s3cret")
    monkeypatch.setenv("HOSIERY_SIM_INTERVAL", "5")
    config = load_settings({"interval": 2.0, "machines": 30}).fleet_config()
    assert config.broker == BrokerAddress("broker", 1884, "gw", "s3cret")
    assert "s3cret" not in repr(config.broker)
    assert config.interval == 2.0
    assert config.machines == 30


def test_fault_preset_with_one_rate_replaced() -> None:
    rates = load_settings({"faults": "all", "fault_drop": 0.0}).fault_rates()
    assert rates.drop == 0.0
    assert rates.reboot > 0
    assert rates.gateway_death > 0
    assert not load_settings({}).fault_rates().enabled
    only = load_settings({"fault_reboot": 0.2}).fault_rates()
    assert only.reboot == 0.2
    assert only.drop == 0.0


def test_sim_start_without_offset_is_park_time() -> None:
    config = load_settings({"sim_start": "2025-03-04T09:00:00"}).fleet_config()
    assert config.sim_start == 1741050000.0  # 01:00 UTC
    config = load_settings({"sim_start": "2025-03-04T09:00:00Z"}).fleet_config()
    assert config.sim_start == 1741078800.0


def test_scale_picks_the_machine_count() -> None:
    assert load_settings({"scale": 0.05}).fleet_config().machines == 2000
    with pytest.raises(ParameterError, match="not both"):
        load_settings({"scale": 0.05, "machines": 3}).fleet_config()


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [("mqtt://127.0.0.1:1883", "127.0.0.1", 1883), ("mqtt://broker", "broker", 1883),
     ("mqtt://[::1]:2000", "::1", 2000), ("mqtts://broker", "broker", 8883)],
)  # fmt: skip
def test_broker_urls(url: str, host: str, port: int) -> None:
    broker = parse_mqtt_url(url)
    assert (broker.host, broker.port) == (host, port)
    assert broker.tls == url.startswith("mqtts://")
    assert parse_mqtt_url(broker.url) == broker


def test_truth_round_trips_through_its_file(tmp_path: Path) -> None:
    truth = Truth(
        seed=3,
        started_ms=10,
        ended_ms=20,
        machines=(MachineTruth("E0001", "M001", 5, 2), MachineTruth("E0001", "M002", 0, 1)),
        readings=9,
        faults={"reboots": 1},
    )
    path = tmp_path / "truth.json"
    write_truth(path, truth)
    assert read_truth(path) == truth
    assert read_truth(path).total_pairs == 5
    assert not list(tmp_path.glob(".*tmp"))
