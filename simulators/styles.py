"""Product styles: what a machine knits, how fast, and how common the style is in the park."""

from dataclasses import dataclass

from contract import is_valid_id
from simulators.errors import ParameterError


@dataclass(frozen=True, slots=True)
class Style:
    """A sock style knitted on single-cylinder computerized machines.

    ``seconds_per_sock`` is the knitting cycle of one sock while the machine runs (a pair is two
    socks); ``rpm`` the cylinder speed the controller reports while running; ``share`` the
    share of the park's machines set up for the style; ``reject_share`` the share of its
    knitted pairs rejected at inspection.
    """

    name: str
    seconds_per_sock: float
    rpm: float
    share: float
    reject_share: float = 0.01

    def __post_init__(self) -> None:
        if not is_valid_id(self.name):
            raise ParameterError(
                f"style name {self.name!r} is not 1-64 characters of [A-Za-z0-9_-]"
            )
        if not 10.0 <= self.seconds_per_sock <= 3600.0:
            raise ParameterError(f"style {self.name}: seconds_per_sock must be 10-3600")
        if not 0.0 < self.rpm <= 2000.0:
            raise ParameterError(f"style {self.name}: rpm must be in (0, 2000]")
        if not 0.0 <= self.share <= 1.0:
            raise ParameterError(f"style {self.name}: share must be in [0, 1]")
        if not 0.0 <= self.reject_share <= 0.5:
            raise ParameterError(f"style {self.name}: reject_share must be in [0, 0.5]")

    @property
    def pairs_per_hour(self) -> float:
        """Pairs knitted per hour of running (3600 s / (2 socks x cycle))."""
        return 3600.0 / (2.0 * self.seconds_per_sock)

    @property
    def pairs_per_second(self) -> float:
        return 1.0 / (2.0 * self.seconds_per_sock)


DEFAULT_STYLES: tuple[Style, ...] = (
    # Plain cotton short (ankle) socks: short leg, no terry loops; the fastest cycle.
    Style("plain-cotton-short", seconds_per_sock=90.0, rpm=320.0, share=0.30, reject_share=0.005),
    # Women's middle-tube 100 % cotton socks: a longer leg at the same gauge.
    Style("middle-tube-cotton", seconds_per_sock=115.0, rpm=290.0, share=0.30, reject_share=0.008),
    # Terry sport socks: terry loops in the sole slow the cylinder down.
    Style("terry-sport", seconds_per_sock=140.0, rpm=240.0, share=0.18, reject_share=0.012),
    # Half-fleece fuzzy warm Christmas socks: plush yarn and patterning.
    Style(
        "half-fleece-christmas", seconds_per_sock=160.0, rpm=220.0, share=0.12, reject_share=0.015
    ),
    # Women's slipper socks with rubber sole: heavy plush, the slowest cycle.
    Style("slipper-rubber-sole", seconds_per_sock=180.0, rpm=200.0, share=0.10, reject_share=0.02),
)
"""The park's styles. Cycles span the 1.5-3 minutes per sock of single-cylinder machines."""
