"""The target-facing steps of a cycle, each behind the same small interface, so the cycle reads top to
bottom and a target can be added or faked without touching it.

- `RegistryStep`: the registry database (reconciler.targets.postgres): one transaction per apply, under
  the target's advisory lock.
- `ClusterStep`: server-side apply of the ToolHive manifests (reconciler.targets.cluster); a plan with
  blocking problems applies nothing.
- `SessionsStep`: Redis session health (reconciler.sessions), observed after applying; it never fails a
  cycle.

Client libraries are imported on first use, as the CLI does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.targets import TargetOptions

# Phase callback the registry writer calls between its stages ("schema", "config", "entries", ...).
Hook = Callable[[str], None]


@dataclass(frozen=True)
class Applied:
    changed: bool
    summary: dict[str, Any]


class TargetStep(Protocol):
    name: str

    def plan(self, repo: Any) -> Any:
        """Desired vs live; read-only. Raises TargetError when the target cannot be planned."""
        ...

    def apply(self, plan: Any, hook: Hook | None) -> Applied: ...

    def managed(self, plan: Any) -> int:
        """How many things (entry versions, objects) the repository manages in this target."""
        ...

    def probe(self) -> str | None:
        """None when the target is reachable, else why not (for /readyz)."""
        ...

    def close(self) -> None: ...


@dataclass
class RegistryStep:
    options: TargetOptions
    name: str = "registry"
    _db_target: Any = field(default=None, repr=False)

    def plan(self, repo: Any) -> Any:
        from reconciler.targets.postgres import RegistryInput, RegistryTarget

        plan = RegistryTarget().plan(RegistryInput.from_repository(repo), self.options)
        self._db_target = plan.db_target  # probed by /readyz from now on
        return plan

    def apply(self, plan: Any, hook: Hook | None) -> Applied:
        from reconciler.targets.postgres import RegistryTarget

        result = RegistryTarget().apply(plan, self.options, hook=hook)
        return Applied(result.changed, {"outcome": result.to_json()["outcome"], **result.counts.to_json()})

    def managed(self, plan: Any) -> int:
        return int(plan.diff.desired.version_count())

    def probe(self) -> str | None:
        from reconciler.targets.postgres.connection import URL_ENV, connect, resolve_target

        target = self._db_target
        if target is None and (self.options.database_url or os.environ.get(URL_ENV)):
            target = resolve_target(
                database_url=self.options.database_url, password_file=self.options.password_file
            )
        if target is None:
            return None  # not known before the first plan (the repository's settings may name it)
        try:
            with connect(target, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            return str(exc)
        return None

    def close(self) -> None:
        pass


@dataclass
class ClusterStep:
    options: Any  # reconciler.targets.cluster.ClusterOptions
    name: str = "cluster"
    _target: Any = field(default=None, repr=False)

    def plan(self, repo: Any) -> Any:
        from reconciler.targets.cluster import ClusterTarget

        self.close()
        self._target = ClusterTarget()
        return self._target.plan(repo, self.options)

    def apply(self, plan: Any, hook: Hook | None) -> Applied:
        if plan.skipped:
            return Applied(False, {"outcome": "skipped", "reason": plan.skipped})
        result = self._target.apply(plan, self.options)
        counts = {
            "created": len(result.created),
            "updated": len(result.updated),
            "pruned": len(result.pruned),
        }
        return Applied(result.changed, {"outcome": "applied" if result.changed else "unchanged", **counts})

    def managed(self, plan: Any) -> int:
        return 0 if plan.skipped else len(plan.objects)

    def probe(self) -> str | None:
        from reconciler.targets.cluster.credentials import connect, find_cluster

        choice = find_cluster(self.options.kubeconfig, self.options.context)
        if choice is None:
            return None  # no cluster configured: the step is skipped, nothing to reach
        try:
            api = connect(choice, 1)
            try:
                response = api.request("GET", "/version", timeout=5)
            finally:
                api.close()
        except Exception as exc:
            return str(exc)
        return None if response.ok else f"API server answered {response.status}"

    def close(self) -> None:
        if self._target is not None:
            self._target.close()
            self._target = None


@dataclass
class SessionHealth:
    """Per MCP server (`Kind/namespace/name`): sessions stored, stale sessions (pinned to a pod that is
    gone, or naming a backend that no longer exists), and the Redis PING round trip in seconds; plus the
    library's own samples, exported as they are."""

    servers: dict[str, dict[str, float | None]]
    samples: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class SessionsStep:
    """Session health of the servers the repository declares with Redis session storage
    (reconciler.sessions). Observed after applying; it never fails a cycle."""

    # Dial this instead of the addresses the manifests name (e.g. a port-forward); None: as named.
    redis_url: str | None = None
    password: str | None = None
    kubeconfig: str | None = None  # for stale checks (live pods) and passwordRef Secrets
    context: str | None = None
    name: str = "sessions"
    specs: list[Any] = field(default_factory=list)

    def remember(self, repo: Any) -> None:
        """Take the server specs from a validated repository; skipped cycles reuse them."""
        from reconciler.sessions import servers_from_manifests

        self.specs = servers_from_manifests(repo.manifests, repo.settings.namespace)

    def observe(self) -> SessionHealth:
        from reconciler.sessions import (
            ANY_ADDRESS,
            GivenPassword,
            MeasureOptions,
            measure_sessions,
            metric_samples,
            open_cluster,
        )

        if not self.specs:
            return SessionHealth({})
        from reconciler.targets.cluster.credentials import find_cluster

        reader, note = None, "no cluster configured"
        if find_cluster(self.kubeconfig, self.context) is not None:
            reader, note = open_cluster(self.kubeconfig, self.context)
        try:
            options = MeasureOptions(
                redis_urls={ANY_ADDRESS: self.redis_url} if self.redis_url else {},
                password=GivenPassword(self.password, "option") if self.password else None,
                cluster=reader,
                cluster_note=note,
                pings=3,
            )
            report = measure_sessions(self.specs, options)
        finally:
            if reader is not None:
                reader.close()
        problems = [f"{r.address}/{r.db}: {r.error}" for r in report.redis if not r.reachable and r.error]
        return SessionHealth(per_server(report), metric_samples(report), problems)


def per_server(report: Any) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for group in report.prefixes:
        if not group.scanned:
            continue
        stale: int | None = None
        if group.proxy is not None:
            stale = group.proxy.stale
        elif group.vmcp is not None:
            stale = group.vmcp.unknown_backend_sessions
        for server in group.servers:
            entry = out.setdefault(server, {})
            entry["sessions"] = float(group.sessions)
            entry["stale"] = None if stale is None else float(stale)
    for status in report.redis:
        if status.ping is None:
            continue
        for server in status.servers:
            out.setdefault(server, {})["ping_seconds"] = status.ping.median_ms / 1000
    return out
