"""Nominal rates from the registry: the style's, else the machine's."""

import pytest

from contract.nominal import NominalRates
from contract.registry import Registry, RegistryEnterprise, RegistryMachine, RegistryStyle
from influx.lines import production_line

REGISTRY = Registry(
    styles=(
        RegistryStyle(name="terry", pairs_per_hour=12.0),
        RegistryStyle(name="plain", seconds_per_sock=90.0),
        RegistryStyle(name="unrated"),
    ),
    enterprises=(
        RegistryEnterprise(
            id="E1",
            machines=(
                RegistryMachine(id="M1", style="terry", nominal_pairs_per_hour=11.0),
                RegistryMachine(id="M2"),
            ),
        ),
    ),
)


@pytest.mark.parametrize(
    ("machine", "style", "rate"),
    [
        ("M1", "terry", 12.0),
        ("M1", "plain", 20.0),
        ("M1", "unrated", 11.0),
        ("M1", "unknown-style", 11.0),
        ("M1", None, 11.0),
        ("M2", "plain", 20.0),
        ("M2", None, None),
        ("M9", "unknown-style", None),
    ],
)
def test_the_styles_rate_else_the_machines(
    machine: str, style: str | None, rate: float | None
) -> None:
    assert NominalRates(REGISTRY)("E1", machine, style) == rate


def test_the_rate_is_a_float_field_of_the_reading() -> None:
    line = production_line(
        "e", "m", 5, 1, "b", 0, 4, "running", None, None, nominal_pairs_per_hour=20
    )
    assert ",nominal_pairs_per_hour=20.0 " in line
