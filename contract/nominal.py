"""Nominal rates: the pairs per hour a machine knits while it runs, by the park registry.

A reading's rate is its style's (``styles[].pairs_per_hour``, or 3600 / (2 x
``seconds_per_sock``)); for a style the registry does not know (or a reading without a style),
the machine's ``nominal_pairs_per_hour``; else unknown. The collector writes it on every reading
it knows it for, and the rollups turn it into ``nominal_pairs`` (``docs/schema.md``).
"""

from collections.abc import Callable

from contract.registry import Registry, RegistryStyle

NominalRate = Callable[[str, str, str | None], float | None]
"""``(enterprise, machine, style)`` -> nominal pairs per hour, None when unknown."""


def style_rate(style: RegistryStyle) -> float | None:
    """A style's nominal pairs per hour, from its rate or its knitting cycle."""
    if style.pairs_per_hour is not None:
        return style.pairs_per_hour
    if style.seconds_per_sock:
        return 3600.0 / (2.0 * style.seconds_per_sock)
    return None


class NominalRates:
    """The registry's rates, looked up per reading (two dictionary look-ups)."""

    __slots__ = ("machines", "styles")

    def __init__(self, registry: Registry) -> None:
        self.styles: dict[str, float] = {}
        for style in registry.styles:
            rate = style_rate(style)
            if rate is not None:
                self.styles[style.name] = rate
        self.machines: dict[tuple[str, str], float] = {
            (e.id, m.id): m.nominal_pairs_per_hour
            for e in registry.enterprises
            for m in e.machines
            if m.nominal_pairs_per_hour is not None
        }

    def __call__(self, enterprise: str, machine: str, style: str | None) -> float | None:
        if style is not None:
            rate = self.styles.get(style)
            if rate is not None:
                return rate
        return self.machines.get((enterprise, machine))
