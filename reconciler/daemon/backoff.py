"""Capped exponential backoff with jitter, and which failures deserve a retry.

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
    """A failure that may go away by itself: a database, API server or Redis that cannot be reached."""


# Phrases the targets use for "could not reach" (they raise one TargetError type for every tool error, so
# reachability is told apart by message; the tests pin these).
_TRANSIENT_PHRASES = (
    "cannot connect to",
    "connection to",
    "cannot reach the cluster",
    "was lost during apply",
    "holds the lock on",
    "timed out",
    "timeout",
    "connection refused",
    "too many clients",
    "the database system is starting up",
    "the database system is shutting down",
    "service unavailable",
    "http 429",
    "http 500",
    "http 502",
    "http 503",
    "http 504",
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | ConnectionError | TimeoutError):
        return True
    try:
        import psycopg

        if isinstance(exc, psycopg.OperationalError):
            return True
    except ImportError:  # pragma: no cover - psycopg is a runtime dependency
        pass
    try:
        import redis

        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return True
    except ImportError:  # pragma: no cover
        pass
    message = str(exc).lower()
    return any(phrase in message for phrase in _TRANSIENT_PHRASES)


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
