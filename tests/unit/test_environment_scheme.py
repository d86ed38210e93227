"""One environment scheme: ``HOSIERY_`` + command + option, documented in docs/deployment.md."""

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from admin.settings import AdminSettings
from collector.reroll import RerollSettings
from collector.settings import CollectorSettings
from collector.totals import TotalsSettings
from report.settings import ReportSettings
from simulators.backfill_settings import BackfillSettings
from simulators.settings import RunSettings
from stack.top_settings import TopSettings

GUIDE = Path(__file__).parents[2] / "docs" / "deployment.md"


@pytest.mark.parametrize(
    ("settings", "prefix"),
    [
        (CollectorSettings, "HOSIERY_"),
        (TotalsSettings, "HOSIERY_"),
        (RerollSettings, "HOSIERY_"),
        (RunSettings, "HOSIERY_SIM_"),
        (BackfillSettings, "HOSIERY_SIM_"),
        (AdminSettings, "HOSIERY_ADMIN_"),
        (TopSettings, "HOSIERY_TOP_"),
        (ReportSettings, "HOSIERY_REPORT_"),
    ],
)
def test_every_command_reads_its_documented_prefix(
    settings: type[BaseSettings], prefix: str
) -> None:
    assert settings.model_config.get("env_prefix") == prefix
    assert f"`{prefix}` + " in GUIDE.read_text(encoding="utf-8")


def test_backfill_reaches_influxdb_with_the_collectors_variables() -> None:
    for name, field in BackfillSettings.model_fields.items():
        if name.startswith("influx_") or name == "create_database":
            assert field.validation_alias == f"HOSIERY_{name.upper()}"
            assert name in CollectorSettings.model_fields
