"""`mcp-gitops run` end to end: a bare Git repository on disk, the daemon, real PostgreSQL and a real
kube-apiserver. Daemons run in-process (threads) where that is enough, as processes where a signal or a
SIGKILL is the point."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.daemon import webhook
from reconciler.daemon.leader import LeaseElector

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"test-webhook-secret"
FETCH = "io.github.acme/fetch"
CLI = [sys.executable, "-c", "import sys; from reconciler.cli import main; sys.exit(main())", "run"]


# --- helpers ------------------------------------------------------------------------------------------


def git(*args: str, cwd: Path | None = None) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def copy_sample(dest: Path) -> None:
    """sample-repo, with one entry whose claims these tests change. Its claims differ from the managed
    source's, which claims-reset-on-restart refuses; a waiver lets it through, as the start-up reset is
    not what these tests are about (tests/test_registry_daemon.py is)."""
    shutil.copytree(ROOT / "sample-repo", dest)
    fetch = dest / "entries" / "io.github.acme" / "fetch-1.0.0.yaml"
    fetch.write_text(
        fetch.read_text().replace("claims:\n  org: acme\n", "claims:\n  org: acme\n  team: platform\n", 1)
    )
    settings = dest / "mcp-gitops.yaml"
    settings.write_text(
        settings.read_text()
        + "waivers:\n  - rule: claims-reset-on-restart\n"
        + "    target: {path: entries/io.github.acme/fetch-1.0.0.yaml}\n"
        + "    reason: the daemon tests change this entry's claims\n"
    )


class GitRemote:
    """A bare repository (the "remote") and a working clone that commits and pushes to it."""

    def __init__(self, root: Path, namespace: str = "toolhive-system") -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        git("init", "--quiet", "--bare", "-b", "main", str(self.bare))
        copy_sample(self.work)
        for path in [self.work / "mcp-gitops.yaml", *(self.work / "manifests").glob("*.yaml")]:
            path.write_text(path.read_text().replace("toolhive-system", namespace))
        git("init", "--quiet", "-b", "main", cwd=self.work)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.commit("initial")

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.work / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))

    def commit(self, message: str) -> str:
        git("add", "-A", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def http(
    port: int, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def status_of(port: int) -> dict[str, Any]:
    code, body = http(port, "/status")
    assert code == 200
    return dict(json.loads(body))


def last_targets(status: dict[str, Any]) -> dict[str, Any]:
    """Per target, as the last cycle that reached the targets left them (skipped cycles have none)."""
    return dict(next((h["targets"] for h in status["history"] if h["targets"]), {}))


def push_webhook(port: int, revision: str, branch: str = "main") -> int:
    body = json.dumps({"ref": f"refs/heads/{branch}", "after": revision}).encode()
    headers = {
        "X-GitHub-Event": "push",
        webhook.SIGNATURE_HEADER: webhook.signature(SECRET, body),
        "Content-Type": "application/json",
    }
    return http(port, "/webhook", body, headers)[0]


def fetch_claims(pg_url: str) -> Any:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('registry_entry')").fetchone()[0] is None:  # type: ignore[index]
            return None
        row = conn.execute("SELECT claims FROM registry_entry WHERE name = %s", [FETCH]).fetchone()
        return row[0] if row else None


def duplicate_rows(pg_url: str) -> list[Any]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT 'entry', name, count(*) FROM registry_entry GROUP BY source_id, name HAVING count(*) > 1"
            " UNION ALL SELECT 'version', name || '@' || version, count(*) FROM entry_version"
            " GROUP BY entry_id, name, version HAVING count(*) > 1"
        ).fetchall()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DaemonProcess:
    """`mcp-gitops run` as a child process, observed through its HTTP endpoints and its JSON log.

    Processes rather than threads: the daemon runs its cycles on the main thread, and so do these."""

    def __init__(self, tmp: Path, name: str, remote: GitRemote, pg_url: str, *extra: str) -> None:
        self.port = free_port()
        self.webhook_port = free_port()
        self.log = tmp / f"{name}.log"
        secret = tmp / "webhook-secret"
        secret.write_bytes(SECRET)
        args = [
            str(remote.bare),
            "--database-url",
            pg_url,
            "--state-dir",
            str(tmp / f"state-{name}"),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--webhook-listen",
            f"127.0.0.1:{self.webhook_port}",
            "--webhook-secret-file",
            str(secret),
            "--identity",
            name,
            *extra,
        ]
        self.process = _spawn(args, self.log)

    def status(self) -> dict[str, Any]:
        return status_of(self.port)

    def try_status(self) -> dict[str, Any] | None:
        try:
            return self.status()
        except (OSError, AssertionError):
            if self.process.poll() is not None:
                raise AssertionError(
                    f"daemon exited with {self.process.returncode}:\n{self.log.read_text()}"
                ) from None
            return None

    def wait_cycles(self, count: int, timeout: float = 60) -> dict[str, Any]:
        return dict(
            wait_for(
                lambda: (s := self.try_status()) is not None and s["cyclesCompleted"] >= count and s,
                timeout,
                f"{count} cycles",
            )
        )

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def processes() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        daemon.kill()


def start(processes: list[DaemonProcess], *args: Any) -> DaemonProcess:
    daemon = DaemonProcess(*args)
    processes.append(daemon)
    return daemon


# --- tests ----------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.kube
def test_pushed_claims_and_replicas_reach_both_targets_within_5_s(
    tmp_path: Path, processes: list[DaemonProcess], pg_url: str, kube: Any, kube_namespace: str
) -> None:
    from kubernetes import client

    remote = GitRemote(tmp_path, namespace=kube_namespace)
    cluster = [
        *("--target", "registry", "--target", "cluster"),
        *("--kubeconfig", str(kube.kubeconfig), "--context", kube.context, "--leader-election", "none"),
    ]
    daemon = start(processes, tmp_path, "d1", remote, pg_url, *cluster)
    assert daemon.wait_cycles(1)["lastOutcome"] == "applied"
    objects = client.CustomObjectsApi(kube.api_client)

    def replicas() -> Any:
        server: Any = objects.get_namespaced_custom_object(
            "toolhive.stacklok.dev", "v1beta1", kube_namespace, "mcpservers", "weather"
        )
        return server["spec"]["replicas"]

    assert replicas() == 2
    assert fetch_claims(pg_url) == {"org": "acme", "team": "platform"}

    remote.edit("entries/io.github.acme/fetch-1.0.0.yaml", "team: platform", "team: tools")
    remote.edit("manifests/weather.yaml", "replicas: 2", "replicas: 3")
    revision = remote.commit("more replicas, new team")
    pushed = time.monotonic()
    assert push_webhook(daemon.webhook_port, revision) == 202
    wait_for(
        lambda: fetch_claims(pg_url) == {"org": "acme", "team": "tools"} and replicas() == 3,
        5,
        "both targets",
    )
    assert time.monotonic() - pushed < 5
    status = wait_for(lambda: (s := daemon.status())["lastAppliedRevision"] == revision and s, 5, "status")
    assert status["conditions"][0]["status"] == "True"
    assert http(daemon.port, "/readyz")[0] == 200
    assert http(daemon.port, "/healthz")[0] == 200

    code, body = http(daemon.port, "/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    totals = [s for s in families["mcp_gitops_reconcile"].samples if s.name == "mcp_gitops_reconcile_total"]
    assert {s.labels["outcome"]: s.value for s in totals}["applied"] >= 2
    assert families["mcp_gitops_last_applied_revision_info"].samples[0].labels["revision"] == revision
    managed = {s.labels["target"]: s.value for s in families["mcp_gitops_target_managed"].samples}
    assert managed == {"cluster": 3, "registry": 7}
    ok = {s.labels["target"]: s.value for s in families["mcp_gitops_target_ok"].samples}
    assert ok == {"cluster": 1, "registry": 1}
    assert last_targets(status)["cluster"]["outcome"] in ("applied", "unchanged")
    # The registry's plan leaves comparing to its apply (under the lock): the drift is what it found,
    # here the claims of the one entry changed.
    registry = last_targets(status)["registry"]
    assert registry["outcome"] == "applied" and registry["drift"] == 1, registry
    drift = {s.labels["target"]: s.value for s in families["mcp_gitops_target_drift"].samples}
    assert drift["registry"] == 1
    assert families["mcp_gitops_reconcile_duration_seconds"].type == "histogram"
    assert daemon.stop() == 0


@pytest.mark.postgres
@pytest.mark.kube
def test_kubectl_scale_is_taken_back_at_resync_and_a_registry_change_still_applies(
    tmp_path: Path, processes: list[DaemonProcess], pg_url: str, kube: Any, kube_namespace: str
) -> None:
    """A manual `kubectl scale` of a managed MCPServer is drift: the next resync takes the field back
    (the default `conflicts: force`), and a registry change pushed meanwhile is applied in the same cycle;
    with `--conflicts skip` it is reported per target instead and the registry change still lands."""
    from kubernetes import client

    remote = GitRemote(tmp_path, namespace=kube_namespace)
    flags = [
        *("--target", "registry", "--target", "cluster", "--leader-election", "none", "--no-watch"),
        *("--kubeconfig", str(kube.kubeconfig), "--context", kube.context, "--resync-interval", "1s"),
        *("--interval", "1s"),
    ]
    objects = client.CustomObjectsApi(kube.api_client)

    def replicas() -> Any:
        server: Any = objects.get_namespaced_custom_object(
            "toolhive.stacklok.dev", "v1beta1", kube_namespace, "mcpservers", "weather"
        )
        return server["spec"]["replicas"]

    def scale(to: int) -> None:
        objects.patch_namespaced_custom_object(
            "toolhive.stacklok.dev",
            "v1beta1",
            kube_namespace,
            "mcpservers",
            "weather",
            {"spec": {"replicas": to}},
            field_manager="kubectl-scale",
        )

    skipping = start(processes, tmp_path, "skip", remote, pg_url, *flags, "--conflicts", "skip")
    assert skipping.wait_cycles(1)["lastOutcome"] == "applied"
    scale(9)
    remote.edit("entries/io.github.acme/fetch-1.0.0.yaml", "team: platform", "team: tools")
    remote.commit("new team")
    wait_for(lambda: fetch_claims(pg_url) == {"org": "acme", "team": "tools"}, 20, "the registry change")
    status = wait_for(
        lambda: (s := skipping.status()) and last_targets(s).get("cluster", {}).get("drift") and s,
        30,
        "the drift to be reported",
    )
    assert replicas() == 9  # reported, not taken back
    assert last_targets(status)["registry"]["outcome"] in ("applied", "unchanged")
    families = {
        f.name: f for f in text_string_to_metric_families(http(skipping.port, "/metrics")[1].decode())
    }
    drift = {s.labels["target"]: s.value for s in families["mcp_gitops_target_drift"].samples}
    assert drift["cluster"] >= 1
    assert skipping.stop() == 0

    forcing = start(processes, tmp_path, "force", remote, pg_url, *flags)
    wait_for(lambda: replicas() == 2, 20, "the resync to take spec.replicas back")
    scale(5)
    remote.edit("entries/io.github.acme/fetch-1.0.0.yaml", "team: tools", "team: platform")
    remote.commit("old team")
    wait_for(
        lambda: replicas() == 2 and fetch_claims(pg_url) == {"org": "acme", "team": "platform"},
        20,
        "both the scale taken back and the registry change applied",
    )
    assert forcing.stop() == 0


@pytest.mark.postgres
def test_an_unreachable_database_makes_readyz_false_and_status_says_why(
    tmp_path: Path, processes: list[DaemonProcess], pg_url: str
) -> None:
    remote = GitRemote(tmp_path)
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    flags = ["--target", "registry", "--leader-election", "none", "--retry-base", "0.2s"]
    daemon = start(processes, tmp_path, "d1", remote, unreachable, *flags)
    status = daemon.wait_cycles(1)
    assert status["lastOutcome"] == "failed"
    target = last_targets(status)["registry"]
    assert target["outcome"] == "failed" and target["reason"] == "Unreachable"
    assert "127.0.0.1:1" in target["message"]
    assert "cannot connect" in status["targets"]["registry"]
    code, body = http(daemon.port, "/readyz")
    assert code == 503 and b"registry" in body
    assert daemon.stop() == 0


@pytest.mark.postgres
def test_a_policy_error_applies_nothing_and_status_names_it(
    tmp_path: Path, processes: list[DaemonProcess], pg_url: str
) -> None:
    remote = GitRemote(tmp_path)
    daemon = start(
        processes, tmp_path, "d1", remote, pg_url, "--target", "registry", "--leader-election", "none"
    )
    good = daemon.wait_cycles(1)["lastAppliedRevision"]

    remote.edit("entries/io.github.acme/fetch-1.0.0.yaml", "team: platform", "team: tools")
    remote.edit(
        "manifests/weather.yaml", 'keyPrefix: "mcp-sessions:weather:"', 'keyPrefix: "mcp-sessions-weather"'
    )
    bad = remote.commit("a key prefix the proxy refuses")
    assert push_webhook(daemon.webhook_port, bad) == 202
    status = wait_for(
        lambda: (s := daemon.status())["lastAttemptedRevision"] == bad and s, 5, "the bad revision"
    )
    assert status["lastAppliedRevision"] == good
    assert status["lastOutcome"] == "invalid"
    assert status["findings"]["revision"] == bad
    findings = status["findings"]["findings"]
    rules = {f["rule"] for f in findings if f["severity"] == "error" and "waived" not in f}
    assert rules == {"session-key-prefix"}
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ValidationFailed"
    assert bad[:12] in ready["message"] and "not applied" in ready["message"]
    assert fetch_claims(pg_url) == {"org": "acme", "team": "platform"}  # nothing applied
    # The replica stays ready: the revision is broken, not the pod.
    assert http(daemon.port, "/readyz")[0] == 200

    remote.edit(
        "manifests/weather.yaml", 'keyPrefix: "mcp-sessions-weather"', 'keyPrefix: "mcp-sessions:weather:"'
    )
    fixed = remote.commit("fix the prefix")
    assert push_webhook(daemon.webhook_port, fixed) == 202
    wait_for(lambda: daemon.status()["lastAppliedRevision"] == fixed, 5, "the fixed revision")
    assert fetch_claims(pg_url) == {"org": "acme", "team": "tools"}


@pytest.mark.postgres
def test_two_daemons_only_the_leader_applies_and_the_follower_takes_over(
    tmp_path: Path, processes: list[DaemonProcess], pg_url: str
) -> None:
    remote = GitRemote(tmp_path)
    # No file watching: the webhook below must be the only thing that tells the leader about the push.
    election = [
        "--target",
        "registry",
        "--leader-election",
        "postgres",
        "--retry-period",
        "0.2s",
        "--no-watch",
    ]
    first = start(processes, tmp_path, "one", remote, pg_url, *election)
    assert first.wait_cycles(1)["role"] == "leader"
    second = start(processes, tmp_path, "two", remote, pg_url, *election)
    wait_for(lambda: (s := second.try_status()) is not None and s["role"] == "follower", 20, "a follower")
    time.sleep(0.5)
    assert second.status()["cyclesCompleted"] == 0
    assert http(second.port, "/readyz")[0] == 200

    # A webhook that lands on the follower is relayed to the leader, which applies the push.
    remote.edit("entries/io.github.acme/fetch-1.0.0.yaml", "team: platform", "team: tools")
    revision = remote.commit("new team")
    assert push_webhook(second.webhook_port, revision) == 202
    wait_for(lambda: fetch_claims(pg_url) == {"org": "acme", "team": "tools"}, 3, "the leader to apply")
    # the database commits before the status is updated: wait for both
    wait_for(lambda: first.status()["lastAppliedRevision"] == revision, 3, "the status to show it")
    assert second.status()["cyclesCompleted"] == 0

    first.kill()  # SIGKILL: the lock goes with its connection
    taken = second.wait_cycles(1, timeout=10)
    assert taken["role"] == "leader"
    assert taken["lastOutcome"] == "unchanged"
    assert duplicate_rows(pg_url) == []


@pytest.mark.kube
def test_lease_election_one_leader_and_handover(kube: Any, kube_namespace: str) -> None:
    from reconciler.targets.cluster.credentials import ClusterChoice, connect

    def elector(identity: str) -> LeaseElector:
        api = connect(ClusterChoice("kubeconfig", str(kube.kubeconfig), kube.context), 1)
        return LeaseElector(api, kube_namespace, "daemon-test", identity, 2.0, 1.5, 0.2)

    one, two = elector("one"), elector("two")
    one.start()
    two.start()
    try:
        time.sleep(0.6)
        assert [one.is_leader(), two.is_leader()] == [True, False]
        assert two.holder() == "one"
        requests: list[str] = []
        one.on_request = lambda: requests.append("relayed")
        assert two.relay()  # a webhook that reached the follower
        wait_for(lambda: requests, 2, "the leader to see the relayed request")
        one.stop()  # releases the Lease
        wait_for(two.is_leader, 3, "the second elector to take the Lease")
    finally:
        one.stop()
        two.stop()


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([*CLI, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def _log_has(log: Path, text: str) -> bool:
    return text in log.read_text(errors="replace")


def _run_once(remote: GitRemote, state: Path, pg_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *CLI,
            str(remote.bare),
            "--once",
            "--target",
            "registry",
            "--database-url",
            pg_url,
            "--state-dir",
            str(state),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.postgres
def test_kill_9_in_the_middle_of_an_apply_then_restart_converges(tmp_path: Path, pg_url: str) -> None:
    remote = GitRemote(tmp_path)
    state = tmp_path / "state"
    assert _run_once(remote, state, pg_url).returncode == 0
    remote.edit("entries/io.github.acme/fetch-1.0.0.yaml", "team: platform", "team: tools")
    remote.commit("new team")
    log = tmp_path / "daemon.log"
    args = [str(remote.bare), "--target", "registry", "--database-url", pg_url, "--state-dir", str(state)]
    process = _spawn(
        [*args, "--listen", "127.0.0.1:0", "--leader-election", "none", "--debug-pause-at", "entries=30"], log
    )
    try:
        wait_for(lambda: _log_has(log, "pausing in the registry apply"), 30, "the apply to reach its pause")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    assert fetch_claims(pg_url) == {"org": "acme", "team": "platform"}  # the open transaction rolled back
    again = _run_once(remote, state, pg_url)
    assert again.returncode == 0, again.stderr
    assert fetch_claims(pg_url) == {"org": "acme", "team": "tools"}
    assert duplicate_rows(pg_url) == []
    assert '"outcome": "unchanged"' in _run_once(remote, state, pg_url).stderr


@pytest.mark.postgres
def test_sigterm_during_an_apply_finishes_the_cycle_then_exits(tmp_path: Path, pg_url: str) -> None:
    remote = GitRemote(tmp_path)
    log = tmp_path / "daemon.log"
    args = [
        str(remote.bare),
        "--target",
        "registry",
        "--database-url",
        pg_url,
        "--state-dir",
        str(tmp_path / "s"),
    ]
    process = _spawn(
        [*args, "--listen", "127.0.0.1:0", "--leader-election", "none", "--debug-pause-at", "entries=1.5"],
        log,
    )
    try:
        wait_for(lambda: _log_has(log, "pausing in the registry apply"), 30, "the apply to reach its pause")
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert time.monotonic() - stopped_at < 10
    finally:
        if process.poll() is None:
            process.kill()
    assert fetch_claims(pg_url) == {"org": "acme", "team": "platform"}  # the whole revision, not half
    assert _log_has(log, '"outcome": "applied"') and _log_has(log, '"msg": "stopped"')


@pytest.mark.postgres
def test_once_exits_with_the_cycle_outcome(tmp_path: Path, pg_url: str) -> None:
    remote = GitRemote(tmp_path)
    state = tmp_path / "state"
    remote.edit("manifests/weather.yaml", 'keyPrefix: "mcp-sessions:weather:"', 'keyPrefix: "x"')
    remote.commit("invalid")
    invalid = _run_once(remote, state, pg_url)
    assert invalid.returncode == 1, invalid.stderr
    assert "session-key-prefix" in invalid.stderr
    assert fetch_claims(pg_url) is None
    unreachable = _run_once(remote, state, "postgresql://nobody@127.0.0.1:1/none")
    assert unreachable.returncode == 1  # still invalid: validation comes first
    remote.edit("manifests/weather.yaml", 'keyPrefix: "x"', 'keyPrefix: "mcp-sessions:weather:"')
    remote.commit("valid")
    broken = _run_once(remote, state, "postgresql://nobody@127.0.0.1:1/none")
    assert broken.returncode == 2, broken.stderr
    assert _run_once(remote, state, pg_url).returncode == 0


@pytest.mark.postgres
@pytest.mark.redis
def test_session_health_is_exported_per_server(
    tmp_path: Path, processes: list[DaemonProcess], pg_url: str, redis_server: Any, redis_prefix: str
) -> None:
    remote = GitRemote(tmp_path)
    remote.edit(
        "manifests/weather.yaml", 'keyPrefix: "mcp-sessions:weather:"', f'keyPrefix: "{redis_prefix}"'
    )
    remote.commit("sessions under the test's prefix")
    client = redis_server.client()
    for n in range(3):
        session = {"id": f"s{n}", "type": "mcp", "metadata": {"backend_url": "http://weather:8080"}}
        client.set(f"{redis_prefix}s{n}", json.dumps(session), px=3_600_000)
    client.close()
    daemon = start(
        processes, tmp_path, "d1", remote, pg_url,
        "--target", "registry", "--leader-election", "none", "--redis-url", redis_server.url,
    )  # fmt: skip
    assert daemon.wait_cycles(1)["lastOutcome"] == "applied"
    families = {f.name: f for f in text_string_to_metric_families(http(daemon.port, "/metrics")[1].decode())}
    weather = "MCPServer/toolhive-system/weather"
    sessions = {s.labels["server"]: s.value for s in families["mcp_gitops_redis_sessions"].samples}
    assert sessions.get(weather) == 3, http(daemon.port, "/metrics")[1].decode()[-3000:]
    pings = {s.labels["server"]: s.value for s in families["mcp_gitops_redis_ping_latency_seconds"].samples}
    assert 0 < pings[weather] < 1
    assert "mcp_gitops_session_redis_up" in families  # the library's own samples come along


@pytest.mark.postgres
def test_a_watched_folder_is_reconciled_when_a_file_changes(
    tmp_path: Path, processes: list[DaemonProcess], pg_url: str
) -> None:
    folder = tmp_path / "config"
    copy_sample(folder)
    port = free_port()
    log = tmp_path / "folder.log"
    args = [str(folder), "--target", "registry", "--database-url", pg_url, "--state-dir", str(tmp_path / "s"),
            "--listen", f"127.0.0.1:{port}", "--leader-election", "none"]  # fmt: skip
    process = _spawn(args, log)
    try:
        wait_for(lambda: fetch_claims(pg_url) == {"org": "acme", "team": "platform"}, 30, "the first cycle")
        entry = folder / "entries" / "io.github.acme" / "fetch-1.0.0.yaml"
        entry.write_text(entry.read_text().replace("team: platform", "team: tools"))
        changed = time.monotonic()
        wait_for(
            lambda: fetch_claims(pg_url) == {"org": "acme", "team": "tools"}, 5, "the edit to be applied"
        )
        assert time.monotonic() - changed < 5
        assert status_of(port)["lastAppliedRevision"].startswith("worktree:")
    finally:
        process.terminate()
        assert process.wait(30) == 0


@pytest.mark.postgres
def test_a_push_during_a_cycle_is_applied_by_the_next_cycle(
    tmp_path: Path, processes: list[DaemonProcess], pg_url: str
) -> None:
    remote = GitRemote(tmp_path)
    daemon = start(
        processes, tmp_path, "d1", remote, pg_url,
        "--target", "registry", "--leader-election", "none", "--no-watch", "--debug-pause-at", "entries=1.5",
    )  # fmt: skip
    wait_for(lambda: _log_has(daemon.log, "pausing in the registry apply"), 30, "the first apply")
    remote.edit("entries/io.github.acme/fetch-1.0.0.yaml", "team: platform", "team: tools")
    revision = remote.commit("pushed while the first cycle applies")
    assert push_webhook(daemon.webhook_port, revision) == 202
    status = daemon.wait_cycles(2, timeout=15)
    assert [h["outcome"] for h in status["history"]] == ["applied", "applied"]
    assert status["history"][0]["trigger"] == "webhook"
    assert status["lastAppliedRevision"] == revision
    assert fetch_claims(pg_url) == {"org": "acme", "team": "tools"}
