"""A machine controller's counter as the broker sees it: readings, boots, and reading faults.

A reading carries ``pairs_total``, the whole pairs knitted since the controller's boot (and
``rejects_total``, the rejected ones among them, a fixed share of the machine's style, and
``stopped_ms_total``, the milliseconds stopped per reason since the boot), and
``seq``, which counts the readings of the boot from 0. A reboot takes place right after a reading
(the controller saves its counter, then restarts): the next reading has a new boot id, seq 0
and a counter from 0. Hence, for every machine, the last ``pairs_total`` of each boot add up to
the pairs knitted, provided every boot's last reading is published; the rules below make sure
it is:

* a dropped reading is never followed by a reboot (the next reading carries its pairs);
* a held (reordered) reading is published right after the machine's next published reading;
* the final reading of a run is never dropped or held, and releases a held reading.

Nothing here does I/O: :meth:`CounterChannel.report` returns the payloads to publish in order.
"""

import orjson

from contract import MachineState, StopReason
from simulators.faults import NO_FAULTS, FaultCounts, TickFaults


class CounterChannel:
    """The readings of one machine."""

    __slots__ = (
        "_base",
        "_held",
        "_prefix",
        "_rejects_base",
        "_seq",
        "_stopped",
        "_stopped_base",
        "boot",
        "boots",
        "last",
        "reject_share",
        "style",
        "topic",
    )

    def __init__(self, topic: str, style: str, boot_prefix: str, reject_share: float = 0.0) -> None:
        self.topic = topic
        self.style = style
        self.reject_share = reject_share
        """The share of knitted pairs that are rejected (``rejects_total``)."""
        self._rejects_base = 0
        self._stopped: dict[str, int] = {}
        """Milliseconds stopped per reason since the run started, at the latest reading."""
        self._stopped_base: dict[str, int] = {}
        """The same at the current boot's start."""
        self._prefix = boot_prefix
        self.boots = 1
        self.boot = f"{boot_prefix}-1"
        self._seq = 0
        self._base = 0
        self._held: bytes | None = None
        self.last: tuple[int, str, int] = (0, self.boot, 0)
        """``(seq, boot, pairs_total)`` of the most recent reading taken."""

    def _reading(
        self,
        ts_ms: int,
        pairs: int,
        state: MachineState,
        rpm: float,
        reason: StopReason | None,
        stopped_ms: dict[str, int] | None,
    ) -> bytes:
        seq = self._seq
        self._seq = seq + 1
        total = pairs - self._base
        self.last = (seq, self.boot, total)
        body = {
            "ts": ts_ms,
            "seq": seq,
            "boot": self.boot,
            "pairs_total": total,
            "rejects_total": self.rejects(pairs) - self._rejects_base,
            "state": state,  # (a StrEnum: orjson writes its value, without a Python call)
            "style": self.style,
            "rpm": rpm,
        }
        if reason is not None:
            body["reason"] = reason
        if stopped_ms is not None:
            self._stopped = stopped_ms
            base = self._stopped_base
            body["stopped_ms_total"] = {r: ms - base.get(r, 0) for r, ms in stopped_ms.items()}
        return orjson.dumps(body)

    def rejects(self, pairs: int) -> int:
        """Pairs rejected of ``pairs`` knitted since the run started: whole pairs of the share,
        so a boot's rejects (a difference of two) never exceed its pairs."""
        return int(pairs * self.reject_share)

    def _reboot(self, pairs: int) -> None:
        self.boots += 1
        self.boot = f"{self._prefix}-{self.boots}"
        self._seq = 0
        self._base = pairs
        self._rejects_base = self.rejects(pairs)
        self._stopped_base = self._stopped

    def report(
        self,
        ts_ms: int,
        pairs: int,
        state: MachineState,
        rpm: float,
        faults: TickFaults = NO_FAULTS,
        counts: FaultCounts | None = None,
        reason: StopReason | None = None,
        stopped_ms: dict[str, int] | None = None,
    ) -> list[bytes]:
        """Take a reading of ``pairs`` (whole pairs knitted since the run started), with the
        stop ``reason`` while stopped and ``stopped_ms`` (milliseconds stopped per reason since
        the run started; the reading carries them since its boot).

        Returns the payloads to publish now, in order.
        """
        payload = self._reading(ts_ms, pairs, state, rpm, reason, stopped_ms)
        if faults.drop and not faults.reboot:
            if counts is not None:
                counts.drops += 1
            return []
        out: list[bytes] = []
        if faults.hold and self._held is None:
            self._held = payload
            if counts is not None:
                counts.reorders += 1
        else:
            out.append(payload)
            if faults.duplicate:
                out.append(payload)
                if counts is not None:
                    counts.duplicates += 1
            if self._held is not None:
                out.append(self._held)
                self._held = None
        if faults.reboot:
            self._reboot(pairs)
            if counts is not None:
                counts.reboots += 1
        return out

    def final(
        self,
        ts_ms: int,
        pairs: int,
        state: MachineState,
        rpm: float,
        reason: StopReason | None = None,
        stopped_ms: dict[str, int] | None = None,
    ) -> list[bytes]:
        """The run's last reading (and a held one): both must reach the broker."""
        return self.report(ts_ms, pairs, state, rpm, reason=reason, stopped_ms=stopped_ms)

    @property
    def holding(self) -> bool:
        return self._held is not None
