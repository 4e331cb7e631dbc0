"""One reconcile cycle: fetch -> validate -> reconcile stage (plan, apply every target) -> session health.

The same pipeline as the CLI (`pipeline.validate`, then the reconcile stage), with the daemon's rules
around it:

- An unchanged revision is noticed by its digest (the Git tree id) and skips validation and apply, until
  `resync_interval` asks for a full pass (which also corrects drift in the targets).
- A revision with validation errors applies nothing; the last good revision stays in force, and the
  status names the failing revision and its findings.
- Every target is planned before any is applied. Targets are isolated: one that cannot be planned or
  applied (a CRD that is not installed, an unreachable database) is reported as failed with its current
  reason, and the others are still applied; the cycle is then `failed` and the revision is retried.
- Retryable failures (TargetError.retryable: database, API server, locks; a Git remote) are retried
  inside the step with capped exponential backoff; what still fails is the target's failure.
- Each full pass (a new revision, or every `resync_interval`) compares with the live targets, so drift
  is reported per target and corrected as the conflict settings allow (the registry target compares
  once, in its apply under the lock; the cluster's plan compares).
- A stop request (SIGTERM) or lost leadership before the apply phase aborts with nothing applied; once
  applying has begun, the cycle finishes (each registry apply is one transaction, each object one
  server-side apply), so a target is never left half-applied.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from redis import RedisError

from reconciler.daemon.backoff import Backoff, Interrupted, TransientError, retry
from reconciler.daemon.gitsync import Checkout, GitMirror, LocalFolder
from reconciler.daemon.logs import fields
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.status import (
    ABORTED,
    APPLIED,
    FAILED,
    INVALID,
    UNCHANGED,
    CycleRecord,
    StatusBoard,
)
from reconciler.daemon.steps import SessionsStep
from reconciler.documents import intern_keys, release_texts
from reconciler.findings import Severity
from reconciler.policy.loader import PolicyError
from reconciler.reconcile import ReconcileStage, Reconciliation, TargetRun
from reconciler.source import SourceError
from reconciler.targets import Hook, TargetError

if TYPE_CHECKING:
    from reconciler.crds.sources import CrdOptions
    from reconciler.pipeline import Validation
    from reconciler.repository import Repository

log = logging.getLogger(__name__)
T = TypeVar("T")
FINDINGS_IN_MESSAGE = 3
# The share of a revision's documents parsed in one cycle above which the cycle's garbage is worth a
# full collection (the first cycle, a large change).
FULL_COLLECTION_SHARE = 0.1
FULL_COLLECTION_EVERY = 50  # cycles
# What session health observation may raise: Redis and the cluster unreachable, or refusing.
OBSERVATION_ERRORS: tuple[type[Exception], ...] = (TargetError, OSError, RedisError)


@dataclass
class CycleSettings:
    resync_interval: float = 600.0
    step_attempts: int = 3
    step_backoff: Backoff = field(default_factory=lambda: Backoff(base=0.5, factor=2.0, cap=8.0))
    fail_on: Severity = Severity.ERROR


class CycleFailed(Exception):
    def __init__(self, outcome: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.reason = reason
        self.message = message


class Cycle:
    def __init__(
        self,
        source: GitMirror | LocalFolder,
        stage: ReconcileStage,
        sessions: SessionsStep | None,
        status: StatusBoard,
        metrics: DaemonMetrics,
        stop: threading.Event,
        is_leader: Callable[[], bool],
        settings: CycleSettings | None = None,
        apply_hook: Hook | None = None,
        after_cycle: Callable[[CycleRecord], None] | None = None,
    ) -> None:
        self.source = source
        self.stage = stage
        stage.attempt = self._attempt
        self.sessions = sessions
        self.status = status
        self.metrics = metrics
        self.stop = stop
        self.is_leader = is_leader
        self.settings = settings or CycleSettings()
        self.apply_hook = apply_hook
        self.after_cycle = after_cycle
        self.number = 0
        self._last_full_pass = 0.0  # monotonic time of the last cycle that validated
        self._last_invalid_digest: str | None = None
        self._last_invalid_message = ""
        self._record: CycleRecord | None = None
        # The last validation: the next revision is validated beside it, so that only what changed is
        # parsed, checked and evaluated again (one revision's documents are kept between cycles, their
        # texts released once the cycle is done).
        self._previous: Validation | None = None

    # -- helpers --

    def _timed(self, record: CycleRecord, step: str, action: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return action()
        finally:
            elapsed = time.perf_counter() - started
            record.steps_ms[step] = elapsed * 1000
            self.metrics.step_duration.labels(step).observe(elapsed)

    def _attempt(self, step: str, action: Callable[[], T]) -> T:
        """The reconcile stage's steps, retried and timed in the cycle being run."""
        assert self._record is not None, "the stage runs inside a cycle"
        return self._retrying(self._record, step, action)

    def _retrying(self, record: CycleRecord, step: str, action: Callable[[], T]) -> T:
        return self._timed(
            record,
            step,
            lambda: retry(
                action,
                what=step,
                backoff=self.settings.step_backoff,
                attempts=self.settings.step_attempts,
                stop=self.stop,
            ),
        )

    def _may_start_applying(self) -> None:
        if self.stop.is_set():
            raise CycleFailed(ABORTED, "Interrupted", "shutting down before applying; nothing was applied")
        if not self.is_leader():
            raise CycleFailed(
                ABORTED, "LeadershipLost", "leadership lost before applying; nothing was applied"
            )

    def _unchanged(self, checkout: Checkout) -> str | None:
        """The outcome to repeat when this content was already handled and no resync is due."""
        if time.monotonic() - self._last_full_pass >= self.settings.resync_interval:
            return None
        if checkout.digest == self.status.last_applied_digest():
            return UNCHANGED
        if checkout.digest == self._last_invalid_digest:
            return INVALID
        return None

    # -- the cycle --

    def run(self, trigger: str) -> CycleRecord:
        self.number += 1
        record = CycleRecord(self.number, trigger, time.time())
        self.status.begin(record)
        self._record = record
        started = time.perf_counter()
        try:
            self._run(record)
        except CycleFailed as stop:
            record.outcome, record.reason, record.message = stop.outcome, stop.reason, stop.message
        except Interrupted as exc:
            record.outcome, record.reason, record.message = ABORTED, "Interrupted", str(exc)
        finally:
            self._record = None
        record.duration_s = time.perf_counter() - started
        if not record.skipped:
            fresh = _compact(self._previous) if self._previous is not None else 1.0
            # A cycle that parsed little left little garbage, and a young collection finds it; a full
            # one would walk the whole kept revision (0.5 s at 10,000 entries) for nothing. Now and
            # then one is made all the same (see release_memory).
            full = fresh > FULL_COLLECTION_SHARE or self.number % FULL_COLLECTION_EVERY == 0
            release_memory(full=full)
        self.status.finish(record)
        self.metrics.observe_cycle(record.outcome, record.duration_s, time.time())
        level = logging.INFO if record.outcome in (APPLIED, UNCHANGED) else logging.WARNING
        if record.skipped and record.outcome == UNCHANGED:
            level = logging.DEBUG
        log.log(
            level,
            f"cycle {record.outcome}: {record.message}",
            extra=fields(
                cycle=record.number,
                trigger=trigger,
                revision=record.revision,
                outcome=record.outcome,
                reason=record.reason,
                duration_ms=round(record.duration_s * 1000, 1),
                steps_ms={k: round(v, 1) for k, v in record.steps_ms.items()},
                skipped=record.skipped,
            ),
        )
        # Reporting back (a GitHub commit status, see reconciler/github/status.py): after the cycle is
        # recorded, so a reporter that fails or hangs on its timeout changes nothing above.
        if self.after_cycle is not None:
            self.after_cycle(record)
        return record

    def _run(self, record: CycleRecord) -> None:
        checkout = self._fetch(record)
        repeated = self._unchanged(checkout)
        if repeated is not None:
            record.skipped = True
            record.outcome = repeated
            record.reason = "ReconciliationSucceeded" if repeated == UNCHANGED else "ValidationFailed"
            record.message = (
                f"revision {checkout.short} unchanged; nothing to do"
                if repeated == UNCHANGED
                else self._last_invalid_message  # still the reason it was refused
            )
            self._observe_sessions(record, None)
            return
        repo = self._validate(record, checkout)
        reconciliation = self.stage.plan(repo)
        if any(run.outcome == "planned" for run in reconciliation.runs):
            self._may_start_applying()
        self.stage.apply(reconciliation, self.apply_hook, before=_announce)
        self._record_targets(record, reconciliation)
        failed = [run for run in reconciliation.runs if run.outcome in ("failed", "blocked")]
        if failed:
            record.outcome, record.reason = FAILED, failed[0].reason
            done = [f"{run.name} {run.outcome}" for run in reconciliation.runs if run not in failed]
            record.message = f"revision {checkout.short}: " + "; ".join(
                [f"{run.name} {run.outcome}: {run.message}" for run in failed] + done
            )
        else:
            changed = reconciliation.changed
            record.outcome = APPLIED if changed else UNCHANGED
            record.reason = "ReconciliationSucceeded"
            record.message = (
                f"applied revision {checkout.short}"
                if changed
                else f"revision {checkout.short}: targets in sync"
            )
            self.metrics.last_applied.info(
                {"revision": checkout.revision, "digest": checkout.digest, "source": self.source.label}
            )
        self._observe_sessions(record, repo)

    def _record_targets(self, record: CycleRecord, reconciliation: Reconciliation) -> None:
        """Per target: what was applied, what failed and why (this cycle's reason, never an older one),
        the drift found, and whether its system could be reached (for /readyz)."""
        drift = reconciliation.drift()
        for run in reconciliation.runs:
            summary = run.status_json()
            if run.name in drift:
                summary["drift"] = drift[run.name]
            record.targets[run.name] = summary
            self.status.set_reachability(run.name, run.unreachable)
            self.metrics.observe_target(
                run.name,
                run.outcome,
                run.plan.managed if run.plan is not None else None,
                drift.get(run.name),
            )

    def _fetch(self, record: CycleRecord) -> Checkout:
        try:
            checkout = self._retrying(record, "fetch", self.source.fetch)
        except (TransientError, SourceError, OSError) as exc:
            raise CycleFailed(
                FAILED, "ArtifactFailed", f"fetching {self.source.label} failed: {exc}"
            ) from None
        record.revision, record.digest = checkout.revision, checkout.digest
        return checkout

    def _crd_options(self) -> CrdOptions:
        """With a cluster target at hand, manifests are checked against the CRDs its cluster serves
        (unless the repository's settings name CRDs, which come first)."""
        from reconciler.crds.sources import CrdOptions
        from reconciler.targets.cluster.credentials import find_cluster

        if "cluster" in self.stage.selected:
            options = self.stage.options.cluster
            if find_cluster(options.kubeconfig, options.context) is not None:
                return CrdOptions(from_cluster=True, kubeconfig=options.kubeconfig, context=options.context)
        return CrdOptions()

    def _validate(self, record: CycleRecord, checkout: Checkout) -> Repository:
        from reconciler import pipeline

        try:
            source = self._retrying(record, "checkout", checkout.open)
        except (TransientError, SourceError, OSError) as exc:
            raise CycleFailed(
                FAILED, "ArtifactFailed", f"checking out {checkout.short} failed: {exc}"
            ) from None
        try:
            crds = self._crd_options()
            previous = self._previous
            validation = self._timed(
                record, "validate", lambda: pipeline.validate(source, crds=crds, previous=previous)
            )
            self._previous = validation
        except (SourceError, PolicyError) as exc:  # the revision cannot be validated at all
            self._last_invalid_digest = checkout.digest
            self._last_full_pass = time.monotonic()
            # Repeated by the skipped cycles that follow: this revision's reason, not an older one's.
            self._last_invalid_message = f"revision {checkout.short} cannot be validated: {exc}"
            raise CycleFailed(INVALID, "ValidationFailed", self._last_invalid_message) from None
        self._last_full_pass = time.monotonic()
        report = validation.report
        report_json = report.to_json()
        self.status.set_findings(checkout.revision, report_json)
        self.metrics.set_findings(report_json["summary"])
        if report.fails(self.settings.fail_on):
            self._last_invalid_digest = checkout.digest
            failing = [
                f
                for f in report.sorted()
                if f.waived is None and f.severity.rank >= self.settings.fail_on.rank
            ]
            shown = "; ".join(
                f"{f.path}:{f.line}: [{f.rule}] {f.message}" for f in failing[:FINDINGS_IN_MESSAGE]
            )
            more = (
                f" (and {len(failing) - FINDINGS_IN_MESSAGE} more)"
                if len(failing) > FINDINGS_IN_MESSAGE
                else ""
            )
            applied = self.status.last_applied
            kept = f"; {applied.revision[:12]} stays applied" if applied else "; nothing has been applied yet"
            count = f"{len(failing)} validation errors"
            self._last_invalid_message = (
                f"revision {checkout.short}: {count}, not applied{kept}: {shown}{more}"
            )
            raise CycleFailed(INVALID, "ValidationFailed", self._last_invalid_message)
        self._last_invalid_digest = None
        return validation.repo

    def _observe_sessions(self, record: CycleRecord, repo: Repository | None) -> None:
        if self.sessions is None:
            return
        sessions = self.sessions
        try:
            if repo is not None:
                sessions.remember(repo)
            health = self._timed(record, "sessions", sessions.observe)
        except OBSERVATION_ERRORS as exc:  # observation only: a Redis outage never fails a cycle
            self.status.set_reachability("redis", str(exc))
            log.warning("session health unavailable", extra=fields(reason=str(exc)))
            return
        self.status.set_reachability("redis", "; ".join(health.problems) or None)
        self.metrics.set_sessions(health.servers, health.samples)


def _announce(run: TargetRun) -> None:
    """Where a target is about to write (the cluster's server and context, the database), logged first."""
    destination = run.plan.destination if run.plan is not None else "?"
    log.info(f"applying {run.name} to {destination}", extra=fields(target=run.name, destination=destination))


def _compact(validation: Validation) -> float:
    """The kept validation's documents as small as they can be: the keys of the documents parsed in
    this cycle interned, and no texts. Only those hold a text (parsed now, or read back for a
    position): the others were compacted in an earlier cycle, and the checkout they are read back
    from holds the same bytes at their paths whenever they are reused.
    Returns the share of the documents that were parsed or read back in this cycle."""
    repo = validation.repo
    kept = [*repo.documents(), *([repo.settings_document] if repo.settings_document is not None else [])]
    fresh = [d for d in kept if d.text is not None]
    intern_keys(fresh)
    release_texts(fresh, repo.source)
    return len(fresh) / len(kept) if kept else 1.0


def release_memory(full: bool = True) -> None:
    """Hand the memory a full cycle used back to the operating system, and keep what stays (chiefly
    the kept revision) out of the garbage collector's way.

    A cycle over 10,000 entries builds hundreds of MB of short-lived objects. Python frees them, but
    glibc keeps the freed heap mapped, so a long-running daemon would sit at its peak for ever;
    `malloc_trim` returns it (a no-op elsewhere). Cyclic garbage is collected first: in every
    generation when `full`, else in the young ones only (what this cycle allocated and dropped).

    What is alive then is frozen (`gc.freeze`): the interpreter's own full collections, which the
    registry target's allocations set off during a cycle, would otherwise walk the millions of objects
    of the kept revision each time (1-2 s per cycle at 50,000 entries) to find nothing: its documents
    are freed by reference counting when the next revision replaces them. A full release unfreezes
    first, so anything frozen that became cyclic garbage since is collected then."""
    import contextlib
    import ctypes
    import gc

    if full:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
