"""Remaining-TTL buckets and the idle time they imply."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from reconciler.sessions.report import TtlSummary

# Upper bounds (seconds) of the remaining-time buckets; the last bucket is open ended.
BUCKET_BOUNDS = (60, 300, 900, 1800, 3600, 7200)


def _label(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds >= 3600 else f"{seconds // 60}m"


def bucket_labels() -> list[str]:
    labels, low = [], "0"
    for bound in BUCKET_BOUNDS:
        labels.append(f"{low}-{_label(bound)}")
        low = _label(bound)
    labels.append(f">{low}")
    return labels


LABELS = bucket_labels()


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class TtlCollector:
    configured_seconds: float
    remaining_ms: list[int] = field(default_factory=list)
    no_expiry: int = 0

    def add(self, pttl: int) -> None:
        """PTTL of one session key: -1 means no expiry (-2, gone, is handled by the caller)."""
        if pttl < 0:
            self.no_expiry += 1
        else:
            self.remaining_ms.append(pttl)

    def summary(self) -> TtlSummary:
        counts = [0] * len(LABELS)
        bounds_ms = [b * 1000 for b in BUCKET_BOUNDS]
        for ms in self.remaining_ms:
            counts[bisect_right(bounds_ms, ms)] += 1
        summary = TtlSummary(
            configured_seconds=self.configured_seconds,
            buckets=dict(zip(LABELS, counts, strict=True)),
            no_expiry=self.no_expiry,
        )
        if self.remaining_ms:
            # A remaining time above the configured TTL (an overridden session_ttl) counts as idle 0.
            idle = sorted(max(0.0, self.configured_seconds - ms / 1000) for ms in self.remaining_ms)
            summary.idle_median_seconds = round(_quantile(idle, 0.5), 1)
            summary.idle_p90_seconds = round(_quantile(idle, 0.9), 1)
            summary.idle_max_seconds = round(idle[-1], 1)
        return summary
