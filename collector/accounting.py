"""Exact pair accounting from cumulative counters: pure, rebuilt after a restart from the journal.

``docs/architecture.md`` (Accounting) gives the rules.
"""

from bisect import bisect_left
from collections import deque
from enum import Enum
from typing import Any, NamedTuple

DEFAULT_WINDOW = 8
DEFAULT_OPEN_BOOTS = 4
DEFAULT_CLOSED_BOOTS = 16


class Verdict(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    TOO_LATE = "too_late"
    IMPLAUSIBLE = "implausible"


HOUR_MS = 3_600_000


class PairsLimit(NamedTuple):
    """The plausibility bound: the most pairs a machine can knit in a while.

    ``max_pairs_per_hour`` times the hours since the reading before it (in time, of the same
    machine), plus ``allowance_hours`` at that rate (clock steps, a reading right after a
    reset); ``unknown_hours`` when no earlier reading of the machine is known.
    """

    max_pairs_per_hour: float = 120.0
    allowance_hours: float = 1.0
    unknown_hours: float = 400 * 24.0

    def most(self, elapsed_ms: int | None) -> int:
        """The most pairs plausible over ``elapsed_ms`` (None: since an unknown time)."""
        hours = self.unknown_hours if elapsed_ms is None else max(0, elapsed_ms) / HOUR_MS
        return int(self.max_pairs_per_hour * (hours + self.allowance_hours))


class Correction(NamedTuple):
    """A stored reading whose ``pairs`` must be rewritten because a late reading came before it."""

    ts: int
    seq: int
    pairs: int
    counter_reset: bool | None = None
    """The reading's new ``counter_reset`` mark, when the late reading changed it."""
    style: str | None = None
    """The reading's style: a tag of its point, which the correction must name."""


class Outcome(NamedTuple):
    verdict: Verdict
    pairs: int = 0
    """Pairs knitted since the machine's previous reading (``ACCEPTED`` only)."""
    correction: Correction | None = None
    reset: bool = False
    """The reading opened a new boot of a machine already known: its counter was reset."""
    counter_reset: bool = False
    """The counter fell since the previous reading of the boot: ``pairs`` is ``pairs_total``."""
    resets_found: int = 0
    """Resets inside the boot that this reading made known (0 or 1; a late reading may only
    move one that was already counted)."""
    rejects: int | None = None
    """Rejected pairs since the previous reading that carried ``rejects_total`` (None: the
    reading carries none)."""
    rejects_correction: Correction | None = None
    """A stored reading whose ``rejects`` must be rewritten (``Correction.pairs`` holds them)."""
    stopped_ms: dict[str, int] | None = None
    """Milliseconds stopped per reason since the previous reading that carried
    ``stopped_ms_total`` (None: the reading carries none)."""
    stopped_correction: "StoppedCorrection | None" = None
    """A stored reading whose ``stopped_ms`` must be rewritten."""


class StoppedCorrection(NamedTuple):
    """A stored reading's new milliseconds stopped per reason, after a late reading before it."""

    ts: int
    seq: int
    stopped_ms: dict[str, int]
    style: str | None = None


DUPLICATE = Outcome(Verdict.DUPLICATE)
TOO_LATE = Outcome(Verdict.TOO_LATE)
IMPLAUSIBLE = Outcome(Verdict.IMPLAUSIBLE)

# ``apply`` runs once per reading: it builds outcomes with tuple.__new__ (a NamedTuple's own
# constructor is Python code) and reads the verdict from a module constant.
_new_tuple = tuple.__new__
_ACCEPTED = Verdict.ACCEPTED


class _Boot:
    """The recent readings of one boot, in ``seq`` order, and the newest one evicted (floor)."""

    __slots__ = (
        "base", "downs", "floor_down", "floor_pt", "floor_seq", "floor_ts", "pts", "seqs",
        "styles", "tss",
    )  # fmt: skip

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.pts: list[int] = []
        self.tss: list[int] = []
        self.styles: list[str | None] = []
        self.downs: list[dict[str, int] | None] = []
        """Each reading's ``stopped_ms_total`` (None: it carried none)."""
        self.floor_down: dict[str, int] | None = None
        """The newest ``stopped_ms_total`` evicted from the window."""
        self.floor_seq = -1
        self.floor_pt = 0
        self.floor_ts = -1
        self.base = 0
        """The lowest ``seq`` from which missing readings are counted."""

    def dump(self) -> list[Any]:
        return [
            self.floor_seq,
            self.floor_pt,
            list(self.seqs),
            list(self.pts),
            list(self.tss),
            self.floor_ts,
            self.base,
            list(self.styles),
            [_plain(d) for d in self.downs],
            _plain(self.floor_down),
        ]

    @classmethod
    def load(cls, data: list[Any]) -> "_Boot":
        boot = cls()
        boot.floor_seq, boot.floor_pt = data[0], data[1]
        boot.seqs, boot.pts, boot.tss = list(data[2]), list(data[3]), list(data[4])
        # Snapshots of earlier versions lack the floor's time and the base.
        boot.floor_ts = data[5] if len(data) > 5 else -1
        boot.base = data[6] if len(data) > 6 else (boot.seqs[0] if boot.seqs else 0)
        # Snapshots before style became a tag: the readings' points carry none.
        boot.styles = list(data[7]) if len(data) > 7 else [None] * len(boot.seqs)
        # Snapshots before stopped time per reason was counted.
        boot.downs = list(data[8]) if len(data) > 8 else [None] * len(boot.seqs)
        boot.floor_down = data[9] if len(data) > 9 else None
        return boot

    def prior_down(self, i: int) -> dict[str, int] | None:
        """The newest ``stopped_ms_total`` before position ``i`` (the floor's when none)."""
        downs = self.downs
        while i:
            i -= 1
            if downs[i] is not None:
                return downs[i]
        return self.floor_down

    def next_down(self, i: int) -> int | None:
        """The position of the first reading from ``i`` on that carried ``stopped_ms_total``."""
        downs = self.downs
        for j in range(i, len(downs)):
            if downs[j] is not None:
                return j
        return None


class _Machine:
    __slots__ = ("boots", "closed")

    def __init__(self, closed_boots: int) -> None:
        self.boots: dict[str, _Boot] = {}
        self.closed: deque[str] = deque(maxlen=closed_boots)


class Ledger:
    """The accounting state of every machine; ``apply`` one reading at a time."""

    def __init__(
        self,
        *,
        window: int = DEFAULT_WINDOW,
        open_boots: int = DEFAULT_OPEN_BOOTS,
        closed_boots: int = DEFAULT_CLOSED_BOOTS,
    ) -> None:
        if window < 1 or open_boots < 1 or closed_boots < 0:
            raise ValueError("window and open_boots must be >= 1, closed_boots >= 0")
        self.window = window
        self.open_boots = open_boots
        self.closed_boots = closed_boots
        self.limit: PairsLimit | None = None
        """The plausibility bound; None (the default, and while the journal is replayed) checks
        nothing."""
        self._machines: dict[tuple[str, str], _Machine] = {}
        self._missing: dict[str, int] = {}
        self.missing_total = 0
        """Readings missing (gaps in ``seq``), park-wide."""
        self._rejects: Ledger | None = None
        """The rejects counters' ledger, once a reading carried one."""

    def __len__(self) -> int:
        return len(self._machines)

    def __contains__(self, key: object) -> bool:
        """Whether ``(enterprise, machine)`` has state here."""
        return key in self._machines

    def machines(self) -> list[tuple[str, str]]:
        """``(enterprise, machine)`` of every machine with state."""
        return list(self._machines)

    def _count_rejects(
        self,
        outcome: Outcome,
        enterprise: str,
        machine: str,
        boot: str,
        seq: int,
        ts: int,
        rejects_total: int,
        style: str | None,
    ) -> Outcome:
        """``outcome`` (accepted) with the reading's rejects, accounted by the rejects ledger."""
        if self._rejects is None:
            # Same windows; no plausibility bound: rejects_total <= pairs_total, which is bounded.
            self._rejects = Ledger(
                window=self.window, open_boots=self.open_boots, closed_boots=self.closed_boots
            )
        counted = self._rejects.apply(
            enterprise, machine, boot, seq, ts, rejects_total, None, style
        )
        if counted.verdict is not _ACCEPTED:
            return outcome
        # (NamedTuple._replace costs about a microsecond; this is a plain tuple copy)
        return _new_tuple(Outcome, (*outcome[:6], counted.pairs, counted.correction, *outcome[8:]))

    def apply(  # noqa: PLR0912, PLR0915 - the per-reading path stays inline: a call costs ~10 %
        self,
        enterprise: str,
        machine: str,
        boot: str,
        seq: int,
        ts: int,
        pairs_total: int,
        rejects_total: int | None = None,
        style: str | None = None,
        stopped_ms_total: dict[str, int] | None = None,
    ) -> Outcome:
        """Account one reading and return what to store for it.

        ``style`` (a tag of the reading's point) is kept with the reading, so that a correction
        of it names its series.

        ``rejects_total``, a second cumulative counter of the boot, is accounted for the
        accepted readings that carry it by a ledger of its own, with the same rules (resets,
        duplicates, late readings), and given in ``Outcome.rejects``.

        ``stopped_ms_total`` (milliseconds stopped per reason, cumulative in the boot) gives
        ``Outcome.stopped_ms``: per reason, the difference from the newest earlier reading of the
        boot that carried it (the whole value after a reset, or at the boot's first one); a
        late reading corrects the next such reading (``Outcome.stopped_correction``).
        """
        key = (enterprise, machine)
        state = self._machines.get(key)
        ledger = None if state is None else state.boots.get(boot)
        if ledger is None:
            opened = self._open_boot(
                key, state, boot, seq, ts, pairs_total, style, stopped_ms_total
            )
            if rejects_total is None or opened.verdict is not _ACCEPTED:
                return opened
            return self._count_rejects(
                opened, enterprise, machine, boot, seq, ts, rejects_total, style
            )

        seqs = ledger.seqs
        n = len(seqs)
        if seqs[-1] < seq:  # in order, the common case
            i = n
            if seq - seqs[-1] != 1:
                self._count_missing(enterprise, seq - seqs[-1] - 1)
        else:
            if seq <= ledger.floor_seq:
                return DUPLICATE if seq == ledger.floor_seq else TOO_LATE
            i = bisect_left(seqs, seq)
            if seqs[i] == seq:
                return DUPLICATE
        pts = ledger.pts
        pred_pt = pts[i - 1] if i else ledger.floor_pt
        if pairs_total >= pred_pt:  # the counter went on: the common case
            pairs = pairs_total - pred_pt
            reset = False
        else:  # the counter fell: reset inside the boot
            pairs = pairs_total
            reset = True
            if self.limit is not None and not _plausible_reset(self.limit, ledger, i, ts, pairs):
                return IMPLAUSIBLE
        correction = None
        found = int(reset)
        if i < n:
            correction, found = self._successor(ledger, i, pred_pt, pairs_total, found)
            if correction.counter_reset and not self._plausible(
                correction.pairs, correction.ts - ts
            ):
                return IMPLAUSIBLE
        tss = ledger.tss
        styles = ledger.styles
        downs = ledger.downs
        stopped = stopped_fix = None
        if stopped_ms_total is not None:
            stopped, stopped_fix = _stopped(ledger, i, stopped_ms_total)
        if i == n:
            seqs.append(seq)
            pts.append(pairs_total)
            tss.append(ts)
            styles.append(style)
            downs.append(stopped_ms_total)
        else:
            self._fill(enterprise, ledger, i, seq)
            seqs.insert(i, seq)
            pts.insert(i, pairs_total)
            tss.insert(i, ts)
            styles.insert(i, style)
            downs.insert(i, stopped_ms_total)
        if n >= self.window:
            ledger.floor_seq = seqs.pop(0)
            ledger.floor_pt = pts.pop(0)
            ledger.floor_ts = tss.pop(0)
            del styles[0]
            evicted = downs.pop(0)
            if evicted is not None:
                ledger.floor_down = evicted
        outcome = _new_tuple(
            Outcome,
            (_ACCEPTED, pairs, correction, False, reset, found, None, None, stopped, stopped_fix),
        )
        if rejects_total is None:
            return outcome
        return self._count_rejects(
            outcome, enterprise, machine, boot, seq, ts, rejects_total, style
        )

    def _count_missing(self, enterprise: str, count: int) -> None:
        self._missing[enterprise] = self._missing.get(enterprise, 0) + count
        self.missing_total += count

    def _fill(self, enterprise: str, ledger: _Boot, i: int, seq: int) -> None:
        """A late reading at position ``i``: it fills a gap, or extends the counted range."""
        if i or ledger.floor_seq >= 0 or seq >= ledger.base:
            self._count_missing(enterprise, -1)
        else:  # below the first reading seen of the machine's first boot: a gap opens above it
            self._count_missing(enterprise, ledger.base - seq - 1)
            ledger.base = seq

    def missing_readings(self) -> dict[str, int]:
        """Readings missing per enterprise (gaps in ``seq``; enterprises with none left out)."""
        return {e: n for e, n in self._missing.items() if n}

    def _plausible(self, pairs: int, elapsed_ms: int | None) -> bool:
        return self.limit is None or pairs <= self.limit.most(elapsed_ms)

    @staticmethod
    def _successor(
        ledger: "_Boot", i: int, pred_pt: int, pairs_total: int, found: int
    ) -> tuple[Correction, int]:
        """The correction of the reading after a late one, and the resets now known."""
        succ_pt = ledger.pts[i]
        was_reset = succ_pt < pred_pt
        is_reset = succ_pt < pairs_total
        pairs = succ_pt if is_reset else succ_pt - pairs_total
        mark = None if is_reset == was_reset else is_reset
        found += int(is_reset) - int(was_reset)
        return Correction(ledger.tss[i], ledger.seqs[i], pairs, mark, ledger.styles[i]), found

    def _open_boot(
        self,
        key: tuple[str, str],
        state: _Machine | None,
        boot: str,
        seq: int,
        ts: int,
        pairs_total: int,
        style: str | None,
        stopped_ms_total: dict[str, int] | None,
    ) -> Outcome:
        """The first reading seen of a boot: it counts its whole ``pairs_total`` (and
        ``stopped_ms_total``)."""
        if state is None:
            if not self._plausible(pairs_total, None):
                return IMPLAUSIBLE
            state = self._machines[key] = _Machine(self.closed_boots)
        elif boot in state.closed:
            return TOO_LATE
        elif not self._plausible(pairs_total, _since(state, ts)):
            return IMPLAUSIBLE
        reset = bool(state.boots) or bool(state.closed)
        ledger = state.boots[boot] = _Boot()
        if reset:  # a known machine's new boot: counted from seq 0
            if seq:
                self._count_missing(key[0], seq)
        else:
            ledger.base = seq
        ledger.seqs.append(seq)
        ledger.pts.append(pairs_total)
        ledger.tss.append(ts)
        ledger.styles.append(style)
        ledger.downs.append(stopped_ms_total)
        if len(state.boots) > self.open_boots:
            oldest = next(iter(state.boots))
            del state.boots[oldest]
            state.closed.append(oldest)
        stopped = None if stopped_ms_total is None else dict(stopped_ms_total)
        return _new_tuple(
            Outcome, (_ACCEPTED, pairs_total, None, reset, False, 0, None, None, stopped, None)
        )

    def dump(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the ledger (the limit is configuration, not state)."""
        return {
            "window": self.window,
            "open_boots": self.open_boots,
            "closed_boots": self.closed_boots,
            "missing": dict(self._missing),
            "machines": [
                [enterprise, machine, {b: v.dump() for b, v in m.boots.items()}, list(m.closed)]
                for (enterprise, machine), m in self._machines.items()
            ],
            **({} if self._rejects is None else {"rejects": self._rejects.dump()}),
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> "Ledger":
        """Rebuild a ledger from :meth:`dump` output."""
        ledger = cls(
            window=data["window"],
            open_boots=data["open_boots"],
            closed_boots=data["closed_boots"],
        )
        for enterprise, machine, boots, closed in data["machines"]:
            state = _Machine(ledger.closed_boots)
            state.boots = {b: _Boot.load(v) for b, v in boots.items()}
            state.closed.extend(closed)
            ledger._machines[(enterprise, machine)] = state
        ledger._missing = {str(e): int(n) for e, n in data.get("missing", {}).items()}
        ledger.missing_total = sum(ledger._missing.values())
        if "rejects" in data:
            ledger._rejects = cls.load(data["rejects"])
        return ledger


def _plain(totals: dict[str, int] | None) -> dict[str, int] | None:
    """``totals`` with plain ``str`` keys (a reading's are ``StopReason``s), for JSON."""
    return None if totals is None else {str(why): ms for why, ms in totals.items()}


def _deltas(totals: dict[str, int], before: dict[str, int] | None) -> dict[str, int]:
    """Per reason, ``totals`` less ``before`` (a counter that fell was reset: its whole value)."""
    if not before:
        return dict(totals)
    out = {}
    for reason, total in totals.items():
        prior = before.get(reason, 0)
        out[reason] = total - prior if total >= prior else total
    return out


def _stopped(
    ledger: _Boot, i: int, totals: dict[str, int]
) -> tuple[dict[str, int], StoppedCorrection | None]:
    """A reading's stopped time per reason at position ``i``, and the correction of the next
    reading that carried it, which the new reading now precedes (None when its values stay)."""
    prior = ledger.prior_down(i)
    stopped = _deltas(totals, prior)
    j = ledger.next_down(i)
    if j is None:
        return stopped, None
    following = ledger.downs[j]
    assert following is not None  # noqa: S101 - next_down found one
    corrected = _deltas(following, totals)
    if corrected == _deltas(following, prior):
        return stopped, None
    return stopped, StoppedCorrection(ledger.tss[j], ledger.seqs[j], corrected, ledger.styles[j])


def _since(state: _Machine, ts: int) -> int | None:
    """Milliseconds from the machine's newest known reading before ``ts`` (None: none known)."""
    before = [t for boot in state.boots.values() for t in boot.tss if t <= ts]
    return ts - max(before) if before else None


def _plausible_reset(limit: PairsLimit, ledger: _Boot, i: int, ts: int, pairs: int) -> bool:
    """Whether a reading at position ``i`` after a reset can have knitted ``pairs``."""
    pred_ts = ledger.tss[i - 1] if i else ledger.floor_ts
    return pairs <= limit.most(None if pred_ts < 0 else ts - pred_ts)
