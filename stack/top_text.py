"""One frame of ``hosiery-top`` as plain text, and its essentials on one line."""

import datetime as dt
from collections import Counter

from stack.probe import CollectorStatus
from stack.snapshot import STATES, Snapshot
from stack.top_settings import PROG

BAR = 40


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _bar(share: float) -> str:
    filled = max(0, min(BAR, round(share * BAR)))
    return "[" + "#" * filled + "." * (BAR - filled) + "]"


def collector_line(status: CollectorStatus) -> str:
    """The collector's rate, lag and buffer on one line."""
    if status.error is not None:
        return status.error
    parts = [
        "rate measuring"
        if status.readings_per_s is None
        else f"{status.readings_per_s:,.0f} readings/s written",
        f"lag {status.lag_s:.1f} s" if status.lag_s is not None else "lag unknown",
        f"buffer {status.buffer:,.0f}" if status.buffer is not None else "",
        {True: "MQTT connected", False: "MQTT NOT connected", None: ""}[status.connected],
    ]
    return "   ".join(part for part in parts if part)


def status_line(snap: Snapshot) -> str:
    """A frame's essentials on one plain line (logs, pipes)."""
    states = " ".join(f"{state} {snap.states.get(state, 0):,}" for state in STATES)
    expected = f"/{snap.expected:,}" if snap.expected is not None else ""
    line = (
        f"now {snap.rate:,.0f} pairs/h ({snap.share:.1%} of capacity); "
        f"today {snap.today_pairs:,} pairs ({snap.today_share:.1%}); "
        f"machines {snap.reporting:,}{expected} reporting: {states}; "
        f"alerts firing {len(snap.alerts):,}"
    )
    if snap.collector is not None:
        line += f"; collector {collector_line(snap.collector)}"
    return line


def render(snap: Snapshot, *, source: str, top: int) -> str:
    """One frame, plain text."""
    now = dt.datetime.fromtimestamp(snap.at_ms / 1000, dt.UTC)
    window = ago(snap.window_s)
    share = snap.share
    lines = [
        f"{PROG}  {now:%Y-%m-%d %H:%M:%S} UTC  {source}",
        "",
        f"Rate       {snap.rate:,.0f} pairs/h  (last {ago(snap.covered_s)}: {snap.pairs:,} pairs)",
        f"Capacity   {snap.capacity.pairs_per_hour:,.0f} pairs/h  ({snap.capacity.source})",
        f"           {_bar(share)} {share:.1%} of capacity",
        (
            f"Today      {snap.today_pairs:,} pairs in {ago(snap.today_s)} "
            f"(capacity {snap.today_capacity:,.0f})"
        ),
        f"           {_bar(snap.today_share)} {snap.today_share:.1%} of capacity",
    ]
    if snap.collector is not None:
        lines.append(f"Collector  {collector_line(snap.collector)}")
    lines.append("")
    expected = f" of {snap.expected:,} expected" if snap.expected is not None else ""
    fresh = (
        f"; last reading {ago((snap.at_ms - snap.last_reading_ms) / 1000)} ago"
        if snap.last_reading_ms is not None
        else "; no readings"
    )
    lines.append(f"Machines   {snap.reporting:,} reporting in the last {window}{expected}{fresh}")
    counts = [f"{state} {snap.states.get(state, 0):,}" for state in STATES]
    others = sorted(set(snap.states) - set(STATES))
    counts += [f"{state} {snap.states[state]:,}" for state in others]
    if snap.expected is not None:
        counts.append(f"silent {max(0, snap.expected - snap.reporting):,}")
    lines += ["           " + "   ".join(counts), ""]

    lines.append("Not knitting (running or idle, no pairs for over a minute), longest first:")
    if not snap.idle:
        lines.append("  none")
    for m in snap.idle[:top]:
        since = (
            f"no pairs for {ago((snap.at_ms - m.last_pairs_ms) / 1000)}"
            if m.last_pairs_ms is not None
            else f"no pairs in the last {window}"
        )
        lines.append(f"  {m.enterprise + '/' + m.machine:<24} {m.state:<12} {since}")
    lines.append("")

    by_kind = Counter(a.kind for a in snap.alerts)
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(by_kind.items()))
    lines.append(f"Alerts firing: {len(snap.alerts):,}" + (f" ({kinds})" if kinds else ""))
    for a in snap.alerts[:top]:
        since = ago((snap.at_ms - a.since_ms) / 1000)
        lines.append(f"  {a.kind:<8} {a.who:<24} for {since:<8} {a.reason[:60]}")
    return "\n".join(lines) + "\n"
