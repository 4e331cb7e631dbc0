"""`POST /reconcile`: a cycle now, asked by `mcp-gitops reconcile` with a shared secret.

The body is `{"requestedAt": <unix seconds>}`, signed like a GitHub webhook: `X-MCP-GitOps-Signature:
sha256=<hex HMAC-SHA256 of the body under the secret>`, compared in constant time. A request older or
newer than `MAX_SKEW` seconds is refused, so a captured request cannot be replayed later. Without a
configured secret the endpoint is disabled (403), never open.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from reconciler.daemon.webhook import signature, verify

SIGNATURE_HEADER = "X-MCP-GitOps-Signature"
SECRET_ENV = "MCP_GITOPS_RECONCILE_SECRET"
MAX_SKEW = 300.0
MAX_BODY_BYTES = 4096


@dataclass(frozen=True)
class ReconcileVerdict:
    status: int
    message: str
    trigger: bool = False


def signed_request(secret: bytes, now: float | None = None) -> tuple[bytes, str]:
    """The body and signature header value of a reconcile request (what the CLI sends)."""
    body = json.dumps({"requestedAt": time.time() if now is None else now}).encode()
    return body, signature(secret, body)


def handle(
    secret: bytes | None, body: bytes, header: str | None, now: float | None = None
) -> ReconcileVerdict:
    if not secret:
        return ReconcileVerdict(
            403, "reconcile requests are disabled: the daemon has no --reconcile-secret-file"
        )
    if not verify(secret, body, header):
        return ReconcileVerdict(401, f"missing or wrong {SIGNATURE_HEADER}")
    try:
        requested = float(json.loads(body)["requestedAt"])
    except (ValueError, KeyError, TypeError):
        return ReconcileVerdict(400, 'the body must be {"requestedAt": <unix seconds>}')
    if abs((time.time() if now is None else now) - requested) > MAX_SKEW:
        return ReconcileVerdict(
            401, f"the request is more than {int(MAX_SKEW)} s old or ahead: check the clocks"
        )
    return ReconcileVerdict(202, "reconcile requested", trigger=True)
