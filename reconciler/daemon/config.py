"""The daemon's settings, as `mcp-gitops run` parsed them (one frozen value, passed around)."""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.daemon.backoff import Backoff
from reconciler.daemon.webhook import MAX_BODY_BYTES

if TYPE_CHECKING:
    from reconciler.daemon.status import CycleRecord

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `1.5m`, `250ms`, `1h` -> seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def default_state_dir() -> Path:
    if os.environ.get("MCP_GITOPS_STATE_DIR"):
        return Path(os.environ["MCP_GITOPS_STATE_DIR"]).expanduser()
    base = (
        Path(os.environ["XDG_STATE_HOME"])
        if os.environ.get("XDG_STATE_HOME")
        else Path.home() / ".local" / "state"
    )
    return base / "mcp-gitops"


def default_identity() -> str:
    """Pod name (HOSTNAME in Kubernetes) plus a random suffix: a restarted pod is a new candidate."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def in_cluster() -> bool:
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and Path("/var/run/secrets/kubernetes.io/serviceaccount/token").is_file()
    )


def pod_namespace() -> str:
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    try:
        return path.read_text().strip() or "default"
    except OSError:
        return os.environ.get("POD_NAMESPACE") or "default"


@dataclass(frozen=True)
class ElectionSettings:
    mode: str = "auto"  # auto | lease | postgres | none
    identity: str = field(default_factory=default_identity)
    lease_name: str = "mcp-gitops-leader"
    lease_namespace: str | None = None
    lease_duration: float = 35.0
    renew_deadline: float = 30.0
    retry_period: float = 5.0


@dataclass(frozen=True)
class HttpLimits:
    """Bounds of one listener (waitress adjustments)."""

    threads: int = 4
    # An idle or slow connection costs a socket and at most `buffer_bytes` of memory (the rest of a body
    # is spooled to a temporary file), so many can be held: stalled clients do not lock deliveries out
    # until they time out.
    connection_limit: int = 1000
    buffer_bytes: int = 64 * 1024
    backlog: int = 1024
    # Seconds a connection may make no progress before it is closed (a slow or stalled client).
    channel_timeout: float = 10.0
    max_body_bytes: int = MAX_BODY_BYTES
    max_header_bytes: int = 16 * 1024


@dataclass(frozen=True)
class DaemonConfig:
    source: str
    branch: str = "main"
    state_dir: Path = field(default_factory=default_state_dir)
    interval: float = 60.0
    jitter: float = 0.1
    resync_interval: float = 600.0
    listen_host: str = "0.0.0.0"
    listen_port: int = 8080
    # The internet-facing webhook listener, apart from the operations endpoints; None: no webhook.
    webhook_listen: tuple[str, int] | None = ("0.0.0.0", 8081)
    http_limits: HttpLimits = field(default_factory=HttpLimits)
    webhook_secret: bytes | None = None
    reconcile_secret: bytes | None = None  # signs POST /reconcile (`mcp-gitops reconcile`)
    shutdown_grace: float = 25.0
    failure_backoff: Backoff = field(default_factory=lambda: Backoff(base=5.0, factor=2.0, cap=180.0))
    step_attempts: int = 3
    election: ElectionSettings = field(default_factory=ElectionSettings)
    targets: tuple[str, ...] = ()  # --target; empty: each revision's settings choose
    redis_url: str | None = None
    watch: bool = True  # local sources: react to file-system events, not only the interval
    # test hook: sleep this long when the registry writer reaches this phase (see `run --help`, hidden)
    pause_at: tuple[str, float] | None = None
    # called with each finished cycle's record (the GitHub commit status, when a token is configured)
    after_cycle: Callable[[CycleRecord], None] | None = None
