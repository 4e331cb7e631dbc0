"""Capped exponential backoff with jitter, and which failures deserve a retry (those raised as
retryable where their cause was known).

Defaults follow Argo CD's sync retry (5 s, factor 2, capped at 3 min) for failed cycles; steps retry
in-cycle a few times on a shorter scale, so a database restart or an API server blip costs seconds, not a
poll interval.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from reconciler.daemon.logs import fields

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    base: float = 5.0
    factor: float = 2.0
    cap: float = 180.0
    # each delay is drawn from [delay * (1 - jitter), delay]: replicas restarted together spread out
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `attempt` (0-based)."""
        raw = min(self.cap, self.base * self.factor ** max(attempt, 0))
        spread = (rng or random).uniform(0.0, self.jitter)
        return max(raw * (1.0 - spread), 0.0)


def jittered(interval: float, fraction: float, rng: random.Random | None = None) -> float:
    """`interval` +/- `fraction` of itself (Flux's default is 5 %)."""
    if fraction <= 0:
        return interval
    return max(interval * (1.0 + (rng or random).uniform(-fraction, fraction)), 0.0)


class TransientError(Exception):
    """A failure that may go away by itself, outside the targets (a Git remote that cannot be reached)."""


def is_transient(exc: BaseException) -> bool:
    """Decided by the type and the flag set where the cause was known, never by the message text."""
    from reconciler.targets import TargetError

    if isinstance(exc, TargetError):
        return exc.retryable
    return isinstance(exc, TransientError | ConnectionError | TimeoutError)


class Interrupted(Exception):
    """The daemon is shutting down; a retry wait was cut short."""


def retry(
    action: Callable[[], T],
    *,
    what: str,
    backoff: Backoff,
    attempts: int,
    stop: threading.Event,
    transient: Callable[[BaseException], bool] = is_transient,
) -> T:
    """Run `action`; on a transient failure wait and run it again, at most `attempts` times in all.
    Permanent failures and the last transient one propagate; a stop request ends the waiting."""
    attempt = 0
    while True:
        try:
            return action()
        except Exception as exc:
            attempt += 1
            if attempt >= attempts or not transient(exc):
                raise
            delay = backoff.delay(attempt - 1)
            log.warning(
                f"{what} failed, retrying in {delay:.1f} s",
                extra=fields(step=what, attempt=attempt, retry_in_s=round(delay, 2), reason=str(exc)),
            )
            if stop.wait(delay):
                raise Interrupted(f"shutdown while waiting to retry {what}") from exc
