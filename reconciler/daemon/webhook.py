"""GitHub push webhooks: verify the signature, decide whether the push concerns our branch.

GitHub signs the raw body with HMAC-SHA256 under the shared secret and sends `X-Hub-Signature-256:
sha256=<hex>`. The comparison is constant-time (`hmac.compare_digest`), and nothing is parsed before the
signature checks out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
# GitHub caps payloads at 25 MB, but a push event is normally a few KB and only `ref` and `after` are
# used; a larger delivery is refused (413) unread, and the next poll picks the push up anyway.
MAX_BODY_BYTES = 1024 * 1024


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


@dataclass(frozen=True)
class WebhookVerdict:
    status: int
    message: str
    trigger: bool = False
    revision: str | None = None


def handle(
    secret: bytes | None, branch: str | None, event: str | None, body: bytes, sig: str | None
) -> WebhookVerdict:
    """What to answer a webhook delivery, and whether it requests a reconcile."""
    if not secret:
        return WebhookVerdict(404, "webhook disabled: no secret configured")
    if not verify(secret, body, sig):
        return WebhookVerdict(401, "signature mismatch")
    if event == "ping":
        return WebhookVerdict(200, "pong")
    if event != "push":
        return WebhookVerdict(202, f"ignored event {event!r}")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to be a push event
        return WebhookVerdict(400, "body is not JSON")
    ref = payload.get("ref") if isinstance(payload, dict) else None
    if branch is not None and ref != f"refs/heads/{branch}":
        return WebhookVerdict(202, f"ignored push to {ref}")
    after = payload.get("after") if isinstance(payload, dict) else None
    return WebhookVerdict(
        202, "reconcile requested", trigger=True, revision=after if isinstance(after, str) else None
    )
