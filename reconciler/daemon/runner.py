"""The daemon loop: wait for a reason to reconcile (interval with jitter, a webhook, a local change,
winning the election), run one cycle if this replica leads, back off after failures; stop cleanly.

Threads: this loop (the caller's thread), the HTTP server, the file watcher and the elector. They share
only `threading.Event`s and the thread-safe StatusBoard. Cycles run on the caller's thread, which for
`mcp-gitops run` is the main thread: the YAML parser (yaml_rs) has crashed the process when the
pipeline ran on short-lived worker threads in tests, never on the main thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.daemon.backoff import jittered
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.cycle import Cycle, CycleSettings
from reconciler.daemon.endpoints import DaemonHttp, Wiring
from reconciler.daemon.gitsync import GitMirror, LocalFolder
from reconciler.daemon.leader import Elector, NoElection
from reconciler.daemon.logs import fields, redact_url
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.status import FAILED, CycleRecord, StatusBoard
from reconciler.daemon.steps import SessionsStep
from reconciler.daemon.watch import Watcher
from reconciler.reconcile import ReconcileStage

log = logging.getLogger(__name__)

# /healthz fails when the loop has not moved for this long beyond its own schedule (a wedged process).
STALL_ALLOWANCE_S = 900.0


class Daemon:
    def __init__(
        self,
        config: DaemonConfig,
        source: GitMirror | LocalFolder,
        stage: ReconcileStage,
        sessions: SessionsStep | None = None,
        elector_factory: Callable[[Callable[[bool], None]], Elector] | None = None,
        serve_http: bool = True,
    ) -> None:
        self.config = config
        self.source = source
        self.stage = stage
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._trigger = "startup"
        self._trigger_lock = threading.Lock()
        self.status = StatusBoard(source.label)
        self.metrics = DaemonMetrics()
        self.elector: Elector = (
            elector_factory(self._leadership_changed)
            if elector_factory
            else NoElection(config.election.identity)
        )
        self.elector.on_request = lambda: self.request_reconcile("relayed")
        self.cycle = Cycle(
            source,
            stage,
            sessions,
            self.status,
            self.metrics,
            self.stop_event,
            self.elector.is_leader,
            CycleSettings(resync_interval=config.resync_interval, step_attempts=config.step_attempts),
            apply_hook=self._pause_hook() if config.pause_at else None,
            after_cycle=config.after_cycle,
        )
        self._heartbeat = time.monotonic()
        self._stopped = threading.Event()
        self.http: DaemonHttp | None = None
        if serve_http:
            self.http = DaemonHttp(
                Wiring(
                    self.status,
                    self.metrics,
                    self.request_reconcile,
                    self._alive,
                    config.webhook_secret,
                    self._branch(),
                    config.reconcile_secret,
                ),
                (config.listen_host, config.listen_port),
                config.webhook_listen,
                config.http_limits,
            )
        watched = source.watch_paths() if config.watch else []
        self.watcher = Watcher(watched, self.request_reconcile, self.stop_event)

    def _branch(self) -> str | None:
        return self.source.branch if isinstance(self.source, GitMirror) else None

    def _pause_hook(self) -> Callable[[str], None]:
        assert self.config.pause_at is not None
        phase, seconds = self.config.pause_at

        def hook(current: str) -> None:
            if current == phase:
                log.info(
                    "pausing in the registry apply (test hook)", extra=fields(phase=phase, seconds=seconds)
                )
                time.sleep(seconds)

        return hook

    # -- triggers --

    def request_reconcile(self, trigger: str) -> None:
        """Reconcile as soon as the current cycle (if any) is over; on a follower, ask the leader to."""
        if trigger == "webhook" and not self.elector.is_leader():
            relayed = self.elector.relay()
            log.info("webhook relayed to the leader" if relayed else "webhook dropped: not the leader")
            return
        with self._trigger_lock:
            self._trigger = trigger
        self._wake.set()

    def _leadership_changed(self, leader: bool) -> None:
        self.metrics.leader.set(1 if leader else 0)
        self.status.set_role("leader" if leader else "follower", self.elector.identity if leader else None)
        if leader:
            self.request_reconcile("elected")

    def _take_trigger(self, default: str) -> str:
        with self._trigger_lock:
            trigger = self._trigger if self._wake.is_set() else default
            self._trigger = default
            # Cleared before the cycle starts: a push arriving during the cycle sets it again, and the
            # next cycle picks that revision up at once.
            self._wake.clear()
        return trigger

    def _alive(self) -> tuple[bool, str]:
        quiet = time.monotonic() - self._heartbeat
        limit = self.config.interval * 2 + STALL_ALLOWANCE_S
        if quiet > limit:
            return False, f"reconcile loop has not moved for {quiet:.0f} s"
        return True, "ok"

    # -- running --

    def run_once(self) -> CycleRecord:
        """One cycle, for `--once`: no HTTP, no election (the registry's apply lock still serialises)."""
        self.status.set_role("leader", self.elector.identity)
        try:
            return self.cycle.run("once")
        finally:
            self._stopped.set()

    def serve(self) -> int:
        """Run until `stop()`; returns the exit code (0 after a clean shutdown)."""
        log.info(
            "starting",
            extra=fields(
                source=redact_url(self.source.label),
                interval_s=self.config.interval,
                listen=f"{self.config.listen_host}:{self.http.port if self.http else '-'}",
                webhook_port=self.http.webhook_port if self.http else None,
                identity=self.elector.identity,
                targets=self.stage.requested or "from mcp-gitops.yaml",
                pid=os.getpid(),
            ),
        )
        preload(self.stage.requested or ["registry", "cluster"])
        if self.http:
            self.http.start()
        self.watcher.start()
        self.elector.start()
        self._leadership_changed(self.elector.is_leader())
        failures = 0
        next_at = time.monotonic()
        try:
            while not self.stop_event.is_set():
                self._heartbeat = time.monotonic()
                if not self.elector.is_leader():
                    self.status.set_role("follower", self.elector.holder())
                    self._probe_targets()
                    # Followers wake on the election (or stop); the retry period bounds the wait.
                    # What else woke them (a local change) is the leader's business: forget it.
                    self._wake.wait(self.config.election.retry_period)
                    if not self.elector.is_leader() and not self.stop_event.is_set():
                        self._wake.clear()
                    next_at = time.monotonic()
                    continue
                self._wake.wait(max(0.0, next_at - time.monotonic()))
                if self.stop_event.is_set():
                    break
                if not self.elector.is_leader():
                    continue
                trigger = self._take_trigger("interval")
                record = self.cycle.run(trigger)
                self._heartbeat = time.monotonic()
                # The cycle itself records, per target, whether its system could be reached.
                if record.outcome == FAILED:
                    failures += 1
                    delay = self.config.failure_backoff.delay(failures - 1)
                else:
                    failures = 0
                    delay = jittered(self.config.interval, self.config.jitter)
                next_at = time.monotonic() + delay
        finally:
            self._shutdown()
        return 0

    def _probe_targets(self) -> None:
        for name, problem in self.stage.probe().items():
            self.status.set_reachability(name, problem)

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to finish (safe from a signal handler and any thread)."""
        if not self.stop_event.is_set():
            log.info("stopping", extra=fields(reason=reason, grace_s=self.config.shutdown_grace))
            self.stop_event.set()
            self._wake.set()

    def _shutdown(self) -> None:
        self.elector.stop()
        self.metrics.leader.set(0)
        self.stage.close()
        if self.http:
            self.http.stop()
        self._stopped.set()
        log.info("stopped")

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)


def preload(targets: list[str]) -> None:
    """Import what a cycle needs before any thread starts: the first cycle does not pay for it, and the
    long-lived module objects sit together at the bottom of the heap instead of pinning memory that a
    large cycle's short-lived objects used (RSS falls back further after each cycle)."""
    import importlib

    per_target = {"registry": "reconciler.targets.postgres", "cluster": "reconciler.targets.cluster"}
    modules = ["reconciler.pipeline", "reconciler.report", "yaml_rs", "ruamel.yaml"]
    modules += [per_target[name] for name in targets if name in per_target]
    for name in dict.fromkeys(modules):
        try:
            importlib.import_module(name)
        except ImportError:
            log.debug("preload: %s not importable", name)


def ensure_state_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
