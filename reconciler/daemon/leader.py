"""One reconciler at a time: leader election among replicas.

- `LeaseElector`: a Kubernetes Lease (coordination.k8s.io/v1), the way client-go's leader election uses
  one: defaults lease 35 s, renew deadline 30 s, retry 5 s (Flux's settings). Expiry is judged by how
  long *this* replica has seen the same record unchanged, never by comparing clocks across machines.
- `PostgresLockElector`: a session-level advisory lock held on a dedicated connection. PostgreSQL drops
  the lock the moment that connection ends, so a replica killed with SIGKILL frees it at once.
- `NoElection`: always the leader (a single replica, or `--once`).

An elector runs in its own thread; the loop asks `is_leader()` before each cycle and before each apply
step, so a replica that loses the lease mid-cycle stops before writing anything more.

Webhooks reach whichever replica the Service picks. A follower relays the request to the leader (NOTIFY on
a channel the leader LISTENs to, or an annotation on the Lease); the leader sees it at its next renewal,
so a webhook that lands on a follower costs at most one retry period more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from reconciler.daemon.logs import fields

log = logging.getLogger(__name__)

# pg_try_advisory_lock key for "the daemon leader" ("mcpgitld"); distinct from the key apply uses for
# its transaction lock, so the leader's session lock never blocks its own apply.
LEADER_LOCK_KEY = 0x6D63706769746C64
# NOTIFY channel, and Lease annotation, through which followers pass webhooks on to the leader.
RELAY_CHANNEL = "mcp_gitops_reconcile"
RELAY_ANNOTATION = "mcp-gitops.io/reconcile-requested-at"
LEASE_DURATION_S = 35.0
RENEW_DEADLINE_S = 30.0
RETRY_PERIOD_S = 5.0


class Elector(Protocol):
    identity: str
    # Called on the leader when a follower relayed a reconcile request (see `relay`).
    on_request: Callable[[], None]

    def start(self) -> None: ...

    def is_leader(self) -> bool: ...

    def holder(self) -> str | None: ...

    def relay(self) -> bool:
        """On a follower: pass a reconcile request (a webhook it received) on to the leader, which sees it
        at its next renewal (within the retry period). Returns whether it was passed on."""
        ...

    def stop(self) -> None:
        """Give up leadership (if held) so a follower takes over without waiting for expiry."""
        ...


class NoElection:
    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.on_request: Callable[[], None] = lambda: None

    def start(self) -> None:
        pass

    def is_leader(self) -> bool:
        return True

    def holder(self) -> str | None:
        return self.identity

    def relay(self) -> bool:
        return False

    def stop(self) -> None:
        pass


class _ElectorThread:
    """The acquire/renew loop shared by both electors; subclasses implement `_attempt` and `_release`."""

    kind = "election"

    def __init__(
        self, identity: str, retry_period: float, renew_deadline: float, on_change: Callable[[bool], None]
    ):
        self.identity = identity
        self.retry_period = retry_period
        self.renew_deadline = renew_deadline
        self.on_change = on_change
        self.on_request: Callable[[], None] = lambda: None
        self._leader = threading.Event()
        self._stop = threading.Event()
        self._last_renewed = 0.0
        self._holder: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"leader-{self.kind}", daemon=True)

    def start(self) -> None:
        self._tick()  # decide once before the loop starts, so a lone replica leads from its first cycle
        self.thread.start()

    def is_leader(self) -> bool:
        return self._leader.is_set()

    def holder(self) -> str | None:
        return self._holder

    def _attempt(self) -> bool:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def relay(self) -> bool:
        if self._leader.is_set():
            return False
        try:
            self._relay()
        except Exception as exc:
            log.warning(f"{self.kind}: could not relay a reconcile request", extra=fields(reason=str(exc)))
            return False
        return True

    def _relay(self) -> None:
        raise NotImplementedError

    def _lost_at_once(self) -> bool:
        """Whether a failed attempt means leadership is gone now (not only after the renew deadline)."""
        return False

    def _tick(self) -> None:
        try:
            held = self._attempt()
        except Exception as exc:
            log.warning(f"{self.kind}: attempt failed", extra=fields(reason=str(exc)))
            held = False
        now = time.monotonic()
        if held:
            self._last_renewed = now
            if not self._leader.is_set():
                self._leader.set()
                self._holder = self.identity
                log.info("became the leader", extra=fields(identity=self.identity, election=self.kind))
                self.on_change(True)
        elif self._leader.is_set() and (
            self._lost_at_once() or now - self._last_renewed > self.renew_deadline
        ):
            self._leader.clear()
            log.warning("lost leadership", extra=fields(identity=self.identity, election=self.kind))
            self.on_change(False)

    def _run(self) -> None:
        while not self._stop.wait(self.retry_period):
            self._tick()

    def stop(self) -> None:
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=self.retry_period + 5)
        was_leader = self._leader.is_set()
        self._leader.clear()
        try:
            self._release()
        except Exception as exc:
            log.warning(f"{self.kind}: release failed", extra=fields(reason=str(exc)))
        if was_leader:
            log.info("released leadership", extra=fields(identity=self.identity))


class PostgresLockElector(_ElectorThread):
    kind = "postgres-advisory-lock"

    def __init__(
        self,
        connect: Callable[[], Any],
        identity: str,
        retry_period: float = RETRY_PERIOD_S,
        on_change: Callable[[bool], None] = lambda _leader: None,
    ) -> None:
        super().__init__(identity, retry_period, renew_deadline=0.0, on_change=on_change)
        self._connect = connect
        self._conn: Any = None
        self._held = False

    def _lost_at_once(self) -> bool:
        return True  # the lock went with the connection; another replica may already hold it

    def _attempt(self) -> bool:
        if self._conn is None or self._conn.closed:
            self._held = False
            self._conn = self._connect()  # autocommit: a session lock, no transaction left open
        try:
            if self._held:
                self._conn.execute("SELECT 1")
                if any(True for _ in self._conn.notifies(timeout=0, stop_after=1000)):
                    self.on_request()
                return True
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK_KEY]).fetchone()
            self._held = bool(row and row[0])
            if self._held:
                self._conn.execute(f"LISTEN {RELAY_CHANNEL}")
            else:
                self._holder = self._current_holder()
            return self._held
        except Exception:
            self._drop()
            raise

    def _relay(self) -> None:
        conn = self._connect()
        try:
            conn.execute(f"NOTIFY {RELAY_CHANNEL}")
        finally:
            conn.close()

    def _current_holder(self) -> str | None:
        row = self._conn.execute(
            "SELECT a.application_name, a.client_addr::text, a.pid FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            [LEADER_LOCK_KEY],
        ).fetchone()
        return f"backend pid {row[2]} ({row[0]})" if row else None

    def _drop(self) -> None:
        self._held = False
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:
            pass
        self._conn = None

    def _release(self) -> None:
        if self._conn is not None and self._held:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", [LEADER_LOCK_KEY])
        self._drop()


def _microtime(ts: float | None = None) -> str:
    moment = datetime.fromtimestamp(ts if ts is not None else time.time(), tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector(_ElectorThread):
    kind = "kubernetes-lease"

    def __init__(
        self,
        api: Any,  # reconciler.targets.cluster.api.KubeApi
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = LEASE_DURATION_S,
        renew_deadline: float = RENEW_DEADLINE_S,
        retry_period: float = RETRY_PERIOD_S,
        on_change: Callable[[bool], None] = lambda _leader: None,
    ) -> None:
        super().__init__(identity, retry_period, renew_deadline, on_change)
        self.api = api
        self.lease_duration = lease_duration
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self.collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.name = name
        self.namespace = namespace
        # (holder, renewTime) as last read, and when we first saw it: expiry is measured on our clock.
        self._observed: tuple[str | None, str | None] | None = None
        self._observed_at = 0.0
        self._last_request: str | None = None

    def _spec(self, acquire_time: str | None, transitions: int) -> dict[str, Any]:
        now = _microtime()
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(round(self.lease_duration), 1),
            "acquireTime": acquire_time or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def _attempt(self) -> bool:
        response = self.api.request("GET", self.path, timeout=self.retry_period)
        if response.status == 404:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(None, 0),
            }
            created = self.api.request("POST", self.collection, body=body, content_type="application/json")
            return bool(created.ok)
        if not response.ok:
            raise RuntimeError(f"reading Lease {self.namespace}/{self.name}: {response.message}")
        lease = response.body
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        record = (holder, spec.get("renewTime"))
        now = time.monotonic()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        self._holder = holder
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        mine = holder == self.identity
        requested = ((lease.get("metadata") or {}).get("annotations") or {}).get(RELAY_ANNOTATION)
        if mine and requested and requested != self._last_request:
            self.on_request()
        self._last_request = requested
        expired = not holder or now - self._observed_at > duration
        if not mine and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        lease["spec"] = self._spec(spec.get("acquireTime") if mine else None, transitions)
        # resourceVersion in the body makes this a compare-and-swap: two replicas cannot both win.
        updated = self.api.request("PUT", self.path, body=lease, content_type="application/json")
        if updated.ok:
            self._holder = self.identity
        return bool(updated.ok)

    def _relay(self) -> None:
        patch = {"metadata": {"annotations": {RELAY_ANNOTATION: _microtime()}}}
        response = self.api.request(
            "PATCH", self.path, body=patch, content_type="application/merge-patch+json", timeout=5
        )
        if not response.ok:
            raise RuntimeError(f"annotating Lease {self.namespace}/{self.name}: {response.message}")

    def _release(self) -> None:
        response = self.api.request("GET", self.path, timeout=5)
        if not response.ok or (response.body.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        lease = response.body
        # client-go's ReleaseOnCancel: an empty holder lets a follower take over on its next retry.
        lease["spec"] = {
            **lease["spec"],
            "holderIdentity": None,
            "leaseDurationSeconds": 1,
            "renewTime": _microtime(),
        }
        self.api.request("PUT", self.path, body=lease, content_type="application/json", timeout=5)
