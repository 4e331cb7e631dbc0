"""Which version of a server is the newest, as the registry server decides it for `latest_entry_version`:
semantic-version order when both sides are semver, plain string order otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import semver


@lru_cache(maxsize=65536)
def _parse(version: str) -> semver.Version | None:
    try:
        return semver.Version.parse(version)
    except (ValueError, TypeError):
        return None


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as `a` is older than, the same as, or newer than `b`."""
    pa, pb = _parse(a), _parse(b)
    if pa is not None and pb is not None:
        return pa.compare(pb)
    return (a > b) - (a < b)


def newest(versions: Iterable[str], current: str | None = None) -> str | None:
    """The version the latest pointer should hold once `versions` are present.

    The pointer starts at `current` (when it is still among `versions`) and only moves to a newer one,
    as a publish never moves it back. The mixed semver/string order is not transitive, so the others
    are visited in a fixed (sorted) order to make the answer independent of input order.
    """
    present = set(versions)
    best = current if current in present else None
    for version in sorted(present):
        if best is None or compare_versions(version, best) > 0:
            best = version
    return best
