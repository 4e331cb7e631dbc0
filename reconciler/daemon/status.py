"""What the daemon knows about its own progress, served as `/status` and read by `/readyz`.

The shape follows Flux's Kustomization status (see docs): `lastAppliedRevision`, `lastAttemptedRevision`,
kstatus-style conditions (`Ready`, `Reconciling`, `Stalled`) with a reason, and a short history of
cycles. Consecutive cycles that skipped an unchanged revision fold into one history entry (`runs`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

HISTORY_KEPT = 20
# Reported in /status but not part of readiness: session health is observed, never applied to.
OBSERVED_ONLY = frozenset({"redis"})

# Outcomes of a cycle, and the `--once` exit code each maps to.
APPLIED, UNCHANGED, INVALID, FAILED, ABORTED = "applied", "unchanged", "invalid", "failed", "aborted"
OUTCOMES = (APPLIED, UNCHANGED, INVALID, FAILED, ABORTED)
EXIT_CODES = {APPLIED: 0, UNCHANGED: 0, INVALID: 1, ABORTED: 1, FAILED: 2}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


@dataclass
class CycleRecord:
    number: int
    trigger: str
    started_at: float
    revision: str | None = None
    digest: str | None = None
    outcome: str = FAILED
    # Flux-style reason: ReconciliationSucceeded, ValidationFailed, ArtifactFailed, ApplyFailed, ...
    reason: str = ""
    message: str = ""
    duration_s: float = 0.0
    steps_ms: dict[str, float] = field(default_factory=dict)
    skipped: bool = False  # the revision was unchanged: nothing validated or applied
    runs: int = 1
    targets: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "cycle": self.number,
            "trigger": self.trigger,
            "startedAt": _iso(self.started_at),
            "revision": self.revision,
            "digest": self.digest,
            "outcome": self.outcome,
            "reason": self.reason,
            "message": self.message,
            "durationMs": round(self.duration_s * 1000, 1),
            "stepsMs": {k: round(v, 1) for k, v in self.steps_ms.items()},
            "skipped": self.skipped,
            "runs": self.runs,
            "targets": self.targets,
        }


@dataclass
class Revision:
    revision: str
    digest: str
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "digest": self.digest, "at": _iso(self.at)}


class StatusBoard:
    """Thread-safe: the loop writes, HTTP handlers read."""

    def __init__(self, source_label: str) -> None:
        self._lock = threading.Lock()
        self.source_label = source_label
        self.started_at = time.time()
        self.last_applied: Revision | None = None
        self.last_attempted: Revision | None = None
        self.last_outcome: str | None = None
        self.last_reason = "Progressing"
        self.last_message = "no cycle has run yet"
        self.findings: dict[str, Any] = {"revision": None, "findings": [], "summary": {}}
        self.history: deque[CycleRecord] = deque(maxlen=HISTORY_KEPT)
        self.cycles_completed = 0
        self.in_progress: CycleRecord | None = None
        self.role = "starting"  # leader | follower | starting
        self.targets_reachable: dict[str, str | None] = {}  # target -> None when fine, else why not
        self.leader_identity: str | None = None

    # -- written by the loop --

    def begin(self, record: CycleRecord) -> None:
        with self._lock:
            self.in_progress = record

    def finish(self, record: CycleRecord) -> None:
        with self._lock:
            self.in_progress = None
            self.cycles_completed += 1
            self.last_outcome = record.outcome
            self.last_reason = record.reason
            self.last_message = record.message
            if record.revision is not None and record.digest is not None:
                self.last_attempted = Revision(record.revision, record.digest, record.started_at)
                if record.outcome in (APPLIED, UNCHANGED):
                    self.last_applied = Revision(
                        record.revision, record.digest, record.started_at + record.duration_s
                    )
            previous = self.history[-1] if self.history else None
            if (
                record.skipped
                and previous is not None
                and previous.skipped
                and (previous.digest, previous.outcome) == (record.digest, record.outcome)
            ):
                previous.runs += 1
                previous.duration_s = record.duration_s
                previous.started_at = record.started_at
            else:
                self.history.append(record)

    def set_findings(self, revision: str | None, report_json: dict[str, Any]) -> None:
        with self._lock:
            self.findings = {"revision": revision, **report_json}

    def set_role(self, role: str, leader_identity: str | None = None) -> None:
        with self._lock:
            self.role = role
            self.leader_identity = leader_identity

    def set_reachability(self, target: str, problem: str | None) -> None:
        with self._lock:
            self.targets_reachable[target] = problem

    # -- read by the endpoints --

    def readiness(self) -> tuple[bool, str]:
        """Ready when this replica is useful: a leader that has completed a cycle (whatever its outcome:
        an invalid revision is the repository's problem, not the pod's) and reaches its targets, or a
        follower on standby that reaches them too."""
        with self._lock:
            unreachable = {t: p for t, p in self.targets_reachable.items() if p and t not in OBSERVED_ONLY}
            if unreachable:
                return False, "; ".join(f"{t}: {p}" for t, p in sorted(unreachable.items()))
            if self.role == "follower":
                return True, "standby (another replica is the leader)"
            if self.cycles_completed == 0:
                return False, "no reconcile cycle has completed yet"
            return True, f"{self.cycles_completed} cycles completed"

    def conditions(self) -> list[dict[str, Any]]:
        ready = self.last_outcome in (APPLIED, UNCHANGED)
        return [
            {
                "type": "Ready",
                "status": "True" if ready else ("Unknown" if self.last_outcome is None else "False"),
                "reason": self.last_reason,
                "message": self.last_message,
            },
            {
                "type": "Reconciling",
                "status": "True" if self.in_progress is not None else "False",
                "reason": "Progressing" if self.in_progress is not None else "Idle",
            },
            {
                # An invalid revision will not fix itself: only a new commit helps.
                "type": "Stalled",
                "status": "True" if self.last_outcome == INVALID else "False",
                "reason": self.last_reason if self.last_outcome == INVALID else "",
            },
        ]

    def last_applied_digest(self) -> str | None:
        with self._lock:
            return self.last_applied.digest if self.last_applied else None

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "source": self.source_label,
                "role": self.role,
                "leader": self.leader_identity,
                "startedAt": _iso(self.started_at),
                "lastAppliedRevision": self.last_applied.revision if self.last_applied else None,
                "lastApplied": self.last_applied.to_json() if self.last_applied else None,
                "lastAttemptedRevision": self.last_attempted.revision if self.last_attempted else None,
                "lastAttempted": self.last_attempted.to_json() if self.last_attempted else None,
                "lastOutcome": self.last_outcome,
                "conditions": self.conditions(),
                "cyclesCompleted": self.cycles_completed,
                "inProgress": self.in_progress.to_json() if self.in_progress else None,
                "targets": {t: (p or "ok") for t, p in sorted(self.targets_reachable.items())},
                "findings": self.findings,
                "history": [r.to_json() for r in reversed(self.history)],
            }
