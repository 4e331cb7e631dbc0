"""The one place that keeps secrets out of output: every command's output, every log line and every
finding a target reports goes through `scrub`.

Known secrets are the passwords the commands may hold in their environment and every value registered
with `register` (a Git token, the webhook secret, a database password read from a file).
"""

from __future__ import annotations

import os
import threading

# Passwords the commands may hold in their environment.
SECRET_ENVS = (
    "THV_REGISTRY_DATABASE_PASSWORD",
    "MCP_GITOPS_DATABASE_PASSWORD",
    "MCP_GITOPS_REDIS_PASSWORD",
    "THV_SESSION_REDIS_PASSWORD",
)
# Shorter values are refused: scrubbing "a" would shred every line.
MIN_LENGTH = 4

_registered: set[str] = set()
_lock = threading.Lock()


def register(value: str | None) -> None:
    """Never print or log this value."""
    if value and len(value) >= MIN_LENGTH:
        with _lock:
            _registered.add(value)


def scrub(text: str) -> str:
    with _lock:
        known = list(_registered)
    known += [v for v in (os.environ.get(name) for name in SECRET_ENVS) if v and len(v) >= MIN_LENGTH]
    for secret in known:
        if secret in text:
            text = text.replace(secret, "***")
    return text
