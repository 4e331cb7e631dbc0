"""The reconcile stage: plan, and optionally apply, every selected target for a validated repository.

`plan`, `apply`, `drift` and the daemon's cycle all call this one place; they differ only in what they
do around it (print and exit, or retry and record status). Targets are isolated: a target that cannot
be planned, or whose plan has blocking findings, or whose apply fails, is recorded as failed with its
reason and the others go on (a cluster conflict never holds back a registry change).

Every problem becomes a `Finding` with a rule ID and, where one is known, the file and line, so the
results render in every format `validate` has (SARIF, GitHub annotations, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from reconciler.extras import MissingExtraError
from reconciler.findings import Finding, Report, Severity
from reconciler.reconcile.options import DEFAULT_TARGETS, TargetOptions, selected_targets
from reconciler.reconcile.rules import TARGET_FAILED
from reconciler.secrets import scrub
from reconciler.settings import SETTINGS_FILE
from reconciler.targets import (
    PARTIAL_APPLY_RULES,
    TRANSACTIONAL_TARGETS,
    HeldApply,
    HoldingTarget,
    Hook,
    Target,
    TargetError,
    TargetPlan,
    TargetResult,
    load_target,
)

if TYPE_CHECKING:
    from reconciler.repository import Repository

log = logging.getLogger(__name__)

T = TypeVar("T")

PLANNED, APPLIED, UNCHANGED, FAILED, BLOCKED = "planned", "applied", "unchanged", "failed", "blocked"
# Failures that mean the target's system cannot be reached (readiness), not that it refused something.
UNREACHABLE_REASONS = frozenset({"Unreachable", "NoCluster", "NoCredentials"})


class Attempt(Protocol):
    """Runs one step of a target (`plan-registry`, `apply-cluster`); the daemon retries retryable
    failures here, the CLI runs it once."""

    def __call__(self, step: str, action: Callable[[], T]) -> T: ...


def once(step: str, action: Callable[[], T]) -> T:
    return action()


@dataclass
class TargetRun:
    """What happened to one target in one run."""

    name: str
    plan: TargetPlan | None = None
    result: TargetResult | None = None
    error: TargetError | None = None
    findings: list[Finding] = field(default_factory=list)
    # its apply, written beside validation and not committed yet (ReconcileStage.hold)
    held: HeldApply | None = None

    @property
    def blocked(self) -> bool:
        return any(f.severity is Severity.ERROR and f.rule not in PARTIAL_APPLY_RULES for f in self.findings)

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return FAILED
        if self.blocked:
            return BLOCKED
        if self.result is not None:
            return APPLIED if self.result.changed else UNCHANGED
        return PLANNED

    @property
    def reason(self) -> str:
        """Why it failed (the current run's reason, never an older one), else a success word."""
        if self.error is not None:
            return self.error.reason
        if self.blocked:
            return "PlanRefused"
        return "ReconciliationSucceeded"

    @property
    def message(self) -> str:
        if self.error is not None:
            return str(self.error)
        blocking = [f for f in self.findings if f.severity is Severity.ERROR]
        if blocking:
            first = blocking[0]
            where = f"{first.path}:{first.line}"
            return f"{len(blocking)} problem(s), nothing applied; first: {where}: {first.message}"
        return ""

    @property
    def unreachable(self) -> str | None:
        """Why the target's system cannot be reached now (for /readyz), or None."""
        if self.error is not None and self.error.reason in UNREACHABLE_REASONS:
            return str(self.error)
        return None

    def status_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"outcome": self.outcome, "reason": self.reason}
        if self.message:
            out["message"] = self.message
        if self.plan is not None:
            out["managed"] = self.plan.managed
            out["destination"] = self.plan.destination
        if self.result is not None:
            out.update(self.result.summary())
            out["changed"] = self.result.changed
        return out


@dataclass
class Reconciliation:
    runs: list[TargetRun] = field(default_factory=list)
    # where findings without a more precise place point (the repository's settings file)
    settings_path: str = SETTINGS_FILE

    @property
    def findings(self) -> list[Finding]:
        return [f for run in self.runs for f in run.findings]

    def report(self) -> Report:
        return Report(self.findings)

    @property
    def failed(self) -> bool:
        # an error that did not block (PARTIAL_APPLY_RULES) still fails the run: exit 2, as for others
        return any(
            run.outcome in (FAILED, BLOCKED) or any(f.severity is Severity.ERROR for f in run.findings)
            for run in self.runs
        )

    @property
    def has_changes(self) -> bool:
        return any(run.plan is not None and run.plan.has_changes for run in self.runs)

    @property
    def changed(self) -> bool:
        return any(run.result is not None and run.result.changed for run in self.runs)

    def drift(self) -> dict[str, int]:
        """Per planned target, how many things differ from the repository: as its plan found them, or,
        for a plan that left comparing to the apply, as the apply found them (none when it failed)."""
        found: dict[str, int] = {}
        for run in self.runs:
            if run.plan is not None and run.plan.compared:
                found[run.name] = len(run.plan.differences())
            elif run.plan is not None and run.result is not None:
                found[run.name] = run.result.drift
        return found

    def add_drift_findings(self) -> None:
        """Add every difference from the repository as a finding at its place (for `drift --format
        sarif` and the like)."""
        for run in self.runs:
            if run.plan is not None:
                run.findings += run.plan.differences()


class ReconcileStage:
    """Holds the loaded targets (a daemon reuses them from cycle to cycle) and their options.

    `requested` are the targets named on the command line; without any, each repository revision's
    settings (`targets:`) choose (reconciler/reconcile/options.py)."""

    def __init__(
        self,
        requested: Sequence[str],
        options: TargetOptions,
        attempt: Attempt = once,
        targets: Mapping[str, Target[Any]] | None = None,
    ) -> None:
        self.requested = list(requested)
        self.options = options
        self.attempt = attempt
        # the targets of the last plan (before the first one, e.g. on a follower that never plans:
        # those requested, else the default)
        self.selected = list(requested) or list(DEFAULT_TARGETS)
        # name -> target, loaded on first use (given ones, e.g. a test's, are used as they are)
        self._targets: dict[str, Target[Any]] = dict(targets or {})
        # runs planned, and their apply held, beside validation (`hold`), for the next `plan` of the
        # same repository to take
        self._early: dict[str, TargetRun] = {}
        self._early_repo: Repository | None = None
        # every held apply, so that `close` rolls back those never committed
        self._held: list[HeldApply] = []

    def _target(self, name: str) -> Target[Any]:
        if name not in self._targets:
            self._targets[name] = load_target(name)
        return self._targets[name]

    def plan(self, repo: Repository) -> Reconciliation:
        """Plan every selected target (read-only); one that fails is recorded and the others go on.
        A target planned by `hold` for this repository is taken as it was planned there."""
        settings_path = _settings_path(repo)
        outcome = Reconciliation(settings_path=settings_path)
        self.selected = selected_targets(repo.settings, self.requested)
        early = self._early if repo is self._early_repo else {}
        for name in self.selected:
            run = early.pop(name, None)
            outcome.runs.append(run if run is not None else self._planned(name, repo, settings_path))
        self._early, self._early_repo = {}, None
        return outcome

    def _planned(self, name: str, repo: Repository, settings_path: str) -> TargetRun:
        run = TargetRun(name)
        target = self._target(name)
        try:
            options = self.options.of(name)
            run.plan = self.attempt(f"plan-{name}", partial(target.plan, repo, options))
            run.findings = run.plan.findings()
        except TargetError as exc:
            run.error = exc
            run.findings = _failures(name, exc, settings_path)
        return run

    def hold(self, repo: Repository) -> None:
        """Beside validation (`pipeline.validate(beside=)`): plan each selected target whose apply is one
        transaction and write that apply without committing it. The next `plan` of this repository
        takes these runs and `apply` commits them, so a repository that validates is applied as it
        would be after validation, only sooner; `close` rolls back what was never committed
        (validation had errors). Nothing else is planned or contacted here, and nothing at all for a
        repository whose loading already found an error: it cannot validate."""
        if any(f.severity is Severity.ERROR for f in repo.findings):
            return
        settings_path = _settings_path(repo)
        for name in selected_targets(repo.settings, self.requested):
            # Known before loading the target: another target's client library is never loaded here.
            if name not in TRANSACTIONAL_TARGETS:
                continue
            try:
                target = self._target(name)
            except MissingExtraError:
                continue  # `plan` says so, once the validation is reported
            if not isinstance(target, HoldingTarget):
                continue  # a stand-in (a test's) that cannot hold
            try:
                run = self._held_run(name, target, repo, settings_path)
            except Exception as exc:  # content validation has not judged yet: plan it after validation
                log.debug("%s: not written beside validation: %s", name, exc)
                continue
            self._early[name] = run
        self._early_repo = repo

    def _held_run(
        self, name: str, target: HoldingTarget[Any], repo: Repository, settings_path: str
    ) -> TargetRun:
        run = self._planned(name, repo, settings_path)
        if run.plan is not None and run.outcome == PLANNED:
            try:
                run.held = target.hold(run.plan, self.options.of(name))
            except TargetError as exc:
                run.held = _Refused(exc)
            if run.held is not None:
                self._held.append(run.held)
        return run

    def apply(
        self,
        reconciliation: Reconciliation,
        hook: Hook | None = None,
        before: Callable[[TargetRun], None] | None = None,
    ) -> Reconciliation:
        """Apply every planned target whose plan has no blocking findings. `before` runs ahead of each
        write (the CLI and the daemon name the destination there)."""
        for run in reconciliation.runs:
            if run.plan is None or run.outcome != PLANNED:
                continue
            if before is not None:
                before(run)
            target, plan = self._target(run.name), run.plan
            held, run.held = run.held, None
            apply = partial(target.apply, plan, self.options.of(run.name), hook)
            try:
                if held is None:
                    run.result = self.attempt(f"apply-{run.name}", apply)
                else:  # written already: committed, not retried as such (_committed)
                    run.result = _committed(held, apply)
            except TargetError as exc:
                run.error = exc
                run.result = exc.partial
                # the apply's own account (under its lock) replaces the plan's of the same rule
                run.findings = [f for f in run.findings if exc.rule is None or f.rule != exc.rule]
                run.findings += _failures(run.name, exc, reconciliation.settings_path)
        return reconciliation

    def probe(self) -> dict[str, str | None]:
        """Per selected target: None when its system can be reached, else why not."""
        return {name: self._target(name).probe(self.options.of(name)) for name in self.selected}

    def close(self) -> None:
        """Roll back every held apply not committed, and close the targets."""
        held, self._held = self._held, []
        self._early.clear()
        for apply in held:
            apply.discard()
        for target in self._targets.values():
            target.close()
        self._targets.clear()


def _committed(held: HeldApply, apply: Callable[[], TargetResult]) -> TargetResult:
    """A held apply committed; one that failed in a way a retry may mend (a connection lost while it
    waited for validation, a server that was not reachable then) is applied again, once: an apply
    compares under its lock, so applying what was committed after all changes nothing."""
    try:
        return held.commit()
    except TargetError as exc:
        if not exc.retryable:
            raise
        log.debug("the held apply failed (%s); applying again", exc)
        return apply()


@dataclass
class _Refused:
    """A held apply that failed while it was written: committing it raises that failure."""

    error: TargetError

    def commit(self) -> TargetResult:
        raise self.error

    def discard(self) -> None:
        pass


def _settings_path(repo: Repository) -> str:
    """Where findings without a more precise place point: the repository's settings file."""
    return repo.settings_document.path if repo.settings_document else SETTINGS_FILE


def _failures(name: str, exc: TargetError, settings_path: str) -> list[Finding]:
    """One finding per place the failure is about, or one on the settings file."""
    message = scrub(f"{name}: {exc}")
    places = exc.locations or [(settings_path, 0)]
    rule = exc.rule or TARGET_FAILED
    return [Finding(rule, Severity.ERROR, path, line, 0, message) for path, line in places]
