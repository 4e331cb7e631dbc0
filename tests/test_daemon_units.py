"""The daemon's pieces on their own: no services needed."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.daemon import webhook
from reconciler.daemon.backoff import Backoff, Interrupted, TransientError, is_transient, jittered, retry
from reconciler.daemon.config import parse_duration
from reconciler.daemon.cycle import Cycle, CycleSettings
from reconciler.daemon.gitsync import LocalFolder, is_remote
from reconciler.daemon.logs import JsonFormatter, add_secret, redact_url
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.status import APPLIED, INVALID, UNCHANGED, CycleRecord, StatusBoard
from reconciler.findings import Finding
from reconciler.reconcile import ReconcileStage, TargetOptions
from reconciler.repository import Repository
from reconciler.targets import TargetError

SECRET = b"It's a Secret to Everybody"


def _sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def test_webhook_signature_matches_githubs_documented_example() -> None:
    # The example from GitHub's "Validating webhook deliveries" page.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert webhook.signature(SECRET, b"Hello, World!") == expected
    assert webhook.verify(SECRET, b"Hello, World!", expected)
    assert not webhook.verify(SECRET, b"Hello, World?", expected)
    assert not webhook.verify(SECRET, b"Hello, World!", None)


def test_webhook_push_to_our_branch_triggers_and_others_do_not() -> None:
    push = json.dumps({"ref": "refs/heads/main", "after": "abc"}).encode()
    verdict = webhook.handle(SECRET, "main", "push", push, _sign(push))
    assert (verdict.status, verdict.trigger, verdict.revision) == (202, True, "abc")
    other = json.dumps({"ref": "refs/heads/feature"}).encode()
    assert not webhook.handle(SECRET, "main", "push", other, _sign(other)).trigger
    assert webhook.handle(SECRET, "main", "ping", b"{}", _sign(b"{}")).status == 200
    assert webhook.handle(SECRET, "main", "push", push, _sign(push, b"wrong")).status == 401
    assert webhook.handle(None, "main", "push", push, _sign(push)).status == 404


def test_backoff_is_exponential_capped_and_jittered_downwards() -> None:
    backoff = Backoff(base=5, factor=2, cap=180, jitter=0.2)
    rng = random.Random(1)
    delays = [backoff.delay(n, rng) for n in range(8)]
    for n, delay in enumerate(delays):
        ceiling = min(180, 5 * 2**n)
        assert ceiling * 0.8 <= delay <= ceiling
    assert max(delays) <= 180
    assert all(54 <= jittered(60, 0.1, rng) <= 66 for _ in range(100))


def test_retry_retries_transient_failures_only() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("cannot connect to db")
        return "ok"

    stop = threading.Event()
    quick = Backoff(base=0.01, cap=0.02)
    assert retry(flaky, what="x", backoff=quick, attempts=3, stop=stop) == "ok"
    assert len(calls) == 3

    def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        retry(broken, what="x", backoff=quick, attempts=5, stop=stop)
    stop.set()
    with pytest.raises(Interrupted):
        retry(
            lambda: flaky() if False else (_ for _ in ()).throw(TransientError("timeout")),
            what="x",
            backoff=Backoff(base=10),
            attempts=3,
            stop=stop,
        )


def test_transient_failures_are_told_apart_by_type_and_flag_never_by_message() -> None:
    assert is_transient(TargetError("cannot connect to test: refused", retryable=True, reason="Unreachable"))
    assert is_transient(ConnectionRefusedError())
    assert is_transient(TransientError("git fetch failed"))
    # A message that reads like a timeout (a file named timeout-proxy.yaml) is not a retry reason.
    assert not is_transient(TargetError("manifests/timeout-proxy.yaml: connection refused, timed out"))
    assert not is_transient(ValueError("timeout"))


def test_urls_and_secrets_never_reach_the_logs() -> None:
    assert redact_url("https://user:tok3n@github.com/acme/repo.git") == "https://***@github.com/acme/repo.git"
    assert redact_url("git@github.com:acme/repo.git") == "git@github.com:acme/repo.git"
    add_secret("s3cr3t-value")
    import logging

    record = logging.LogRecord("t", logging.INFO, __file__, 1, "token is s3cr3t-value", None, None)
    record.fields = {"url": "https://x:s3cr3t-value@h/"}
    line = JsonFormatter().format(record)
    assert "s3cr3t-value" not in line
    assert json.loads(line)["msg"] == "token is ***"


def test_durations_parse() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("1.5m") == 90
    assert parse_duration("250ms") == 0.25
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_folder_digest_changes_with_content_and_only_then(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: 1\n")
    folder = LocalFolder(tmp_path)
    first = folder.fetch()
    assert folder.fetch().digest == first.digest
    time.sleep(0.01)
    (tmp_path / "a.yaml").write_text("a: 22\n")
    assert folder.fetch().digest != first.digest
    assert not is_remote(str(tmp_path))


def test_status_folds_repeated_noop_cycles_and_keeps_the_last_good_revision() -> None:
    board = StatusBoard("repo")
    now = time.time()
    board.finish(CycleRecord(1, "startup", now, "r1", "d1", APPLIED, "ReconciliationSucceeded"))
    for n in range(2, 5):
        board.finish(
            CycleRecord(n, "interval", now, "r1", "d1", UNCHANGED, "ReconciliationSucceeded", skipped=True)
        )
    board.finish(CycleRecord(5, "webhook", now, "r2", "d2", INVALID, "ValidationFailed", "r2: 1 error"))
    data = board.to_json()
    assert data["lastAppliedRevision"] == "r1"
    assert data["lastAttemptedRevision"] == "r2"
    assert [h["runs"] for h in data["history"]] == [1, 3, 1]
    stalled = next(c for c in data["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True"
    assert board.readiness()[0]


def test_metrics_exposition_parses() -> None:
    metrics = DaemonMetrics()
    metrics.observe_cycle("applied", 0.2, time.time())
    metrics.last_applied.info({"revision": "abc", "digest": "d", "source": "s"})
    metrics.set_sessions({"weather": {"sessions": 3, "stale": 1, "ping_seconds": 0.001}})
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert "mcp_gitops_reconcile_duration_seconds" in families
    info = families["mcp_gitops_last_applied_revision_info"]
    assert info.samples[0].labels["revision"] == "abc"
    sessions = families["mcp_gitops_redis_sessions"]
    assert [(s.labels, s.value) for s in sessions.samples] == [({"server": "weather"}, 3.0)]


# --- the cycle, with fake targets (the pipeline is real; it runs on this thread) ----------------------


@dataclass
class FakePlan:
    revision: str | None
    target: str = "registry"
    has_changes: bool = True
    destination: str = "fake"
    managed: int = 1
    compared: bool = True

    def findings(self) -> list[Finding]:
        return []

    def differences(self) -> list[Finding]:
        return []

    def to_json(self) -> dict[str, object]:
        return {}

    def render_text(self) -> str:
        return ""


@dataclass
class FakeResult:
    target: str = "registry"
    changed: bool = True
    drift: int = 0

    def summary(self) -> dict[str, object]:
        return {"outcome": "applied"}

    def to_json(self) -> dict[str, object]:
        return {}

    def render_text(self) -> str:
        return ""


class FakeTarget:
    """A target that records what it was asked to do, optionally failing the first few applies."""

    def __init__(self, name: str = "registry", failures: list[Exception] | None = None) -> None:
        self.name = name
        self.failures = list(failures or [])
        self.applied: list[str | None] = []

    def plan(self, repo: Repository, options: object) -> FakePlan:
        return FakePlan(repo.revision)

    def apply(self, plan: object, options: object, hook: object = None) -> FakeResult:
        if self.failures:
            raise self.failures.pop(0)
        assert isinstance(plan, FakePlan)
        self.applied.append(plan.revision)
        return FakeResult()

    def probe(self, options: object) -> str | None:
        return None

    def close(self) -> None:
        pass


def _cycle(
    folder: Path, target: FakeTarget, stop: threading.Event | None = None, leader: bool = True
) -> Cycle:
    from reconciler.daemon.backoff import Backoff

    settings = CycleSettings(step_attempts=3, step_backoff=Backoff(base=0.01, cap=0.02))
    return Cycle(
        LocalFolder(folder),
        ReconcileStage([target.name], TargetOptions(), targets={target.name: target}),
        None,
        StatusBoard(str(folder)),
        DaemonMetrics(),
        stop or threading.Event(),
        lambda: leader,
        settings,
    )


def test_transient_apply_failures_are_retried_within_the_cycle(repo_copy: Path) -> None:
    target = FakeTarget(
        failures=[
            TargetError("cannot connect to db: refused", retryable=True),
            TargetError("lock", retryable=True, reason="LockTimeout"),
        ]
    )
    record = _cycle(repo_copy, target).run("test")
    assert record.outcome == APPLIED
    assert len(target.applied) == 1


def test_a_permanent_failure_fails_the_cycle_without_retrying(repo_copy: Path) -> None:
    target = FakeTarget(failures=[TargetError("the database holds a foreign schema", reason="SchemaForeign")])
    record = _cycle(repo_copy, target).run("test")
    assert (record.outcome, record.reason) == ("failed", "SchemaForeign")
    assert record.targets["registry"]["outcome"] == "failed"
    assert "foreign schema" in record.targets["registry"]["message"]
    assert target.failures == [] and target.applied == []


def test_stop_or_lost_leadership_before_applying_applies_nothing(repo_copy: Path) -> None:
    stop = threading.Event()
    stop.set()
    target = FakeTarget()
    record = _cycle(repo_copy, target, stop=stop).run("test")
    assert (record.outcome, record.reason) == ("aborted", "Interrupted")
    record = _cycle(repo_copy, target, leader=False).run("test")
    assert (record.outcome, record.reason) == ("aborted", "LeadershipLost")
    assert target.applied == []


def test_an_unchanged_folder_skips_validation_until_a_resync_is_due(repo_copy: Path) -> None:
    target = FakeTarget()
    cycle = _cycle(repo_copy, target)
    first = cycle.run("test")
    second = cycle.run("test")
    assert (first.outcome, first.skipped) == (APPLIED, False)
    assert (second.outcome, second.skipped) == (UNCHANGED, True)
    assert "validate" not in second.steps_ms
    cycle.settings.resync_interval = 0
    third = cycle.run("test")
    assert not third.skipped and len(target.applied) == 2


def test_git_credentials_reach_git_through_askpass_and_never_the_messages(tmp_path: Path) -> None:
    import subprocess

    from reconciler.daemon.gitsync import GitCredentials, GitMirror

    token_file = tmp_path / "token"
    token_file.write_text("ghp_not-a-real-token-123\n")
    mirror = GitMirror(
        "https://someone:url-secret-456@127.0.0.1:9/acme/config.git",
        "main",
        tmp_path / "state",
        GitCredentials(username="x-access-token", token_file=str(token_file)),
    )
    with pytest.raises(TransientError) as failure:
        mirror.fetch()  # nothing listens on port 9
    message = str(failure.value)
    assert "url-secret-456" not in message and "ghp_not-a-real-token-123" not in message
    assert "https://***@127.0.0.1:9/acme/config.git" in message
    env = mirror._env()
    assert "ghp_not-a-real-token-123" not in " ".join(
        f"{k}={v}" for k, v in env.items() if k != "MCP_GITOPS_GIT_TOKEN"
    )
    helper = env["GIT_ASKPASS"]
    answer = subprocess.run(
        [helper, "Password for 'https://127.0.0.1:9': "], env=env, capture_output=True, text=True
    )
    assert answer.stdout == "ghp_not-a-real-token-123"
    user = subprocess.run(
        [helper, "Username for 'https://127.0.0.1:9': "], env=env, capture_output=True, text=True
    )
    assert user.stdout == "x-access-token"


def _two_target_cycle(folder: Path, registry: FakeTarget, cluster: FakeTarget) -> Cycle:
    from reconciler.daemon.backoff import Backoff

    stage = ReconcileStage(
        ["registry", "cluster"], TargetOptions(), targets={"registry": registry, "cluster": cluster}
    )
    settings = CycleSettings(step_attempts=2, step_backoff=Backoff(base=0.01, cap=0.02), resync_interval=0)
    return Cycle(
        LocalFolder(folder),
        stage,
        None,
        StatusBoard(str(folder)),
        DaemonMetrics(),
        threading.Event(),
        lambda: True,
        settings,
    )


def test_a_failing_target_does_not_hold_back_the_others_and_the_reason_is_current(repo_copy: Path) -> None:
    unreachable = TargetError("cannot connect to db: refused", retryable=True, reason="Unreachable")
    registry = FakeTarget("registry", failures=[unreachable, unreachable])
    cluster = FakeTarget("cluster")
    cycle = _two_target_cycle(repo_copy, registry, cluster)

    first = cycle.run("test")
    assert first.outcome == "failed" and first.reason == "Unreachable"
    assert first.targets["registry"]["outcome"] == "failed"
    assert first.targets["cluster"]["outcome"] == "applied" and cluster.applied  # isolated
    ready, why = cycle.status.readiness()
    assert not ready and "registry: cannot connect to db" in why

    registry.failures = [TargetError("the database holds a foreign schema", reason="SchemaForeign")]
    second = cycle.run("test")
    assert (second.outcome, second.reason) == ("failed", "SchemaForeign")
    assert "foreign schema" in second.targets["registry"]["message"]
    assert "cannot connect" not in second.message  # this cycle's reason, not the last one's
    assert cycle.status.readiness()[0]  # reachable now, even if refused

    third = cycle.run("test")
    assert third.outcome == "applied" and registry.applied
    assert cycle.status.to_json()["conditions"][0]["reason"] == "ReconciliationSucceeded"


def test_after_a_cycle_what_stays_is_frozen_and_a_full_release_collects_what_died_since(
    repo_copy: Path,
) -> None:
    """The kept revision is left out of the interpreter's collections (frozen); cyclic garbage among
    frozen objects is collected by the next full release, never kept for good."""
    import gc
    import weakref

    from reconciler.daemon.cycle import release_memory

    cycle = _cycle(repo_copy, FakeTarget())
    cycle.run("test")
    kept = cycle._previous
    assert kept is not None and gc.get_freeze_count() >= len(kept.repo.entries) > 0

    class Node:
        pass

    node = Node()
    node.self = node  # type: ignore[attr-defined]
    gone = weakref.ref(node)
    release_memory(full=False)  # frozen with the rest
    del node
    release_memory(full=False)
    assert gone() is not None  # a young collection does not look at frozen objects
    release_memory(full=True)
    assert gone() is None
